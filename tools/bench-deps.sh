#!/usr/bin/env bash
# What `make bench` needs beyond `make test`: libcurl's headers (for the hand-written
# libcurl baseline) and Python requests. Installs only what is missing.
set -euo pipefail
if ! echo '#include <curl/curl.h>' | cc -E - >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libcurl4-openssl-dev
  else
    echo "bench needs libcurl's headers: sudo apt-get install -y libcurl4-openssl-dev" >&2; exit 1
  fi
fi
# strace counts system calls per request, valgrind (callgrind) instructions.
for tool in strace valgrind; do
  if ! command -v $tool >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q $tool
    else
      echo "bench needs $tool: sudo apt-get install -y $tool" >&2; exit 1
    fi
  fi
done
python3 -c 'import requests' 2>/dev/null || python3 -m pip install -q requests
command -v strip >/dev/null || { echo "bench needs strip (binutils)" >&2; exit 1; }
