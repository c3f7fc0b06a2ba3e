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
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "== $t: ${SECONDS_PER_TARGET}s"
  cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|panicked|SUMMARY" || true
  # A finding leaves an artifact and a non-zero exit; fail loudly.
  if ls "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-* >/dev/null 2>&1; then
    echo "FAIL fuzz $t: see fuzz/artifacts/$t"; exit 1
  fi
  echo "PASS fuzz $t: no finding in ${SECONDS_PER_TARGET}s"
done
