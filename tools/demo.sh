#!/usr/bin/env bash
# `make demo`: starts the carrier simulator on loopback and runs the C examples against
# it: a callback followed live, an SMS and a top-up.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=target/debug
STEP_MS=${SIM_STEP_MS:-700}
port_file=$(mktemp -u /tmp/cc-demo-port.XXXXXX)
coproc SIM { exec "$TARGET/callconnect-sim" --port 0 --step-ms "$STEP_MS" --port-file "$port_file" --stdin-eof; }
trap 'exec {SIM[1]}>&-; wait "$SIM_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.05; done
port=$(cat "$port_file"); rm -f "$port_file"
echo "== carrier simulator on 127.0.0.1:$port (one call stage every ${STEP_MS} ms)"
export LD_LIBRARY_PATH="$PWD/$TARGET"
run() { echo; echo "\$ $*" | sed -E -e 's/:[^:@/]+@/:***@/' -e 's#//[^:@/]+@#//***@#' -e 's/(event_secret=)[^&]+/\1***/'; "$@"; }
DSN42="42call://demo:demo-secret@127.0.0.1:$port?tls=0&default_country=49"
if [ -f src/providers/connectcall.rs ]; then
  echo; echo "== A callback on a carrier that reports live progress (Connect Call)"
  run examples-c/build/callback "connectcall://demo:demo-secret@127.0.0.1:$port/api/?tls=0&default_country=49" "0171 1234567" "030 1234567" 2
fi
if [ -f src/providers/voipnow.rs ]; then
  echo; echo "== A ring group on VoipNow: both A numbers ring, the one that picks up (the first is busy) is bridged to B"
  run examples-c/build/callback "voipnow://demo:demo-secret@127.0.0.1:$port?tls=0&default_country=49&extension=210" "0171 1234486|0171 1234567" "030 1234567" 2
fi
if [ -f src/providers/poketalk.rs ]; then
  echo; echo "== PokeTALK: status from the carrier's EventURL calls (built-in listener), hang-up by answering 412"
  # Events every 2 s while connected (the carrier's 60 s, shortened for the demo).
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /_sim/poketalk/settings?event_period_ms=2000 HTTP/1.0\r\n\r\n' >&3
  cat <&3 >/dev/null
  exec 3<&-
  run examples-c/build/callback "poketalk://demo-key@127.0.0.1:$port?tls=0&default_country=49&event_secret=demo-event-secret-0123&event_listen=127.0.0.1:0" "0171 1234567" "030 1234999" 2
fi
echo; echo "== A callback on 42call (its API reports no progress: the library says so)"
run examples-c/build/callback "$DSN42" "0171 1234567" "030 1234567"
echo; echo "== An SMS to two recipients"
run examples-c/build/sms "$DSN42" "0171 1234567|+44 20 7946 0958" "Your booth is ready"
echo; echo "== A top-up by PIN"
run examples-c/build/topup "$DSN42" "9$(date +%s)"
echo; echo "demo finished"
