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
python3 -c 'import requests' 2>/dev/null || python3 -m pip install -q requests
command -v strip >/dev/null || { echo "bench needs strip (binutils)" >&2; exit 1; }
