#!/usr/bin/env bash
# `make fuzz`: a bounded coverage-guided run of every fuzz target (cargo fuzz, libFuzzer)
# on the stable toolchain. FUZZ_SECONDS per target (default 20). Seeds: fuzz/seeds/<target>
# (committed); what libFuzzer learns goes to fuzz/corpus/<target> (not committed).
#
# cargo fuzz asks rustc for -Zsanitizer=address and other unstable flags; the stable
# compiler accepts them with RUSTC_BOOTSTRAP=1 (the sanitizer runtimes ship with the
# stable x86_64 Linux toolchain). Nothing here changes how the library itself is built.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
command -v c++ >/dev/null || { echo "libFuzzer needs a C++ compiler (apt-get install -y g++)"; exit 1; }
export RUSTC_BOOTSTRAP=1
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
cargo fuzz build -O
status=0
for t in $targets; do
  mkdir -p "corpus/$t"
  before=$( (find "artifacts/$t" -type f 2>/dev/null || true) | wc -l)
  echo "== $t: ${SECONDS_PER_TARGET}s"
  set +e
  cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
    > "/tmp/fuzz-$t.log" 2>&1
  code=$?
  set -e
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|panicked|SUMMARY|Test unit written" \
    "/tmp/fuzz-$t.log" || true
  after=$( (find "artifacts/$t" -type f 2>/dev/null || true) | wc -l)
  # A finding makes cargo fuzz exit non-zero and leaves an input in fuzz/artifacts/<target>.
  if [ "$code" -ne 0 ] || [ "$after" -gt "$before" ]; then
    echo "FAIL fuzz $t: a finding (exit $code), input in fuzz/artifacts/$t, log /tmp/fuzz-$t.log"
    status=1
  else
    echo "PASS fuzz $t: no finding in ${SECONDS_PER_TARGET}s"
  fi
done
exit $status
