#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a bounded time, starting from the committed seeds in
# fuzz/corpus/<target>/, and exits non-zero if any target crashes (panic, abort, sanitizer
# report, timeout or out-of-memory). See docs/reliability.md.
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   scripts/fuzz.sh 20              # every target, 20 s each (what CI can afford)
#   scripts/fuzz.sh 600 pbf_import  # one target, 10 minutes
#
# Environment:
#   FUZZ_TARGET_DIR      cargo target directory (default fuzz/target)
#   FUZZ_DEBUG_ASSERTIONS=1  build with debug assertions too (default: release + overflow checks;
#                        debug assertions also fire inside dependencies, e.g. geo's sweep, on
#                        inputs that are harmless in the shipped release build)
#   FUZZ_RSS_MB          libFuzzer memory limit per run (default 4096)
#
# Needs cargo-fuzz (installed from crates.io if missing). cargo fuzz uses nightly-only rustc
# flags (-Zsanitizer=address); on a stable toolchain RUSTC_BOOTSTRAP=1 lets rustc accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SECS="${1:-${FUZZ_SECONDS:-60}}"
[ $# -gt 0 ] && shift
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(pbf_import graph_load csv geojson_units)
fi
TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}"
RSS="${FUZZ_RSS_MB:-4096}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
if [ "${FUZZ_DEBUG_ASSERTIONS:-0}" = 1 ]; then
  BUILD=(--debug-assertions)
else
  BUILD=(--release)
  export RUSTFLAGS="${RUSTFLAGS:-} -Coverflow-checks=on"
fi

echo "== building the fuzz targets (${BUILD[*]})"
start=$(date +%s)
cargo fuzz build "${BUILD[@]}" --target-dir "$TARGET_DIR"
echo "   built in $(( $(date +%s) - start )) s"

failed=()
for t in "${TARGETS[@]}"; do
  seeds="$ROOT/fuzz/corpus/$t"
  work="$ROOT/fuzz/work/$t"
  artifacts="$ROOT/fuzz/artifacts/$t"
  [ -d "$seeds" ] || { echo "no seed corpus $seeds" >&2; exit 2; }
  mkdir -p "$work" "$artifacts"
  log="$ROOT/fuzz/work/$t.log"
  echo "== $t: ${SECS} s from $(ls "$seeds" | wc -l) seeds"
  t0=$(date +%s)
  # The work corpus comes first: libFuzzer adds what it finds there, the seeds stay untouched.
  if cargo fuzz run "${BUILD[@]}" --target-dir "$TARGET_DIR" "$t" "$work" "$seeds" -- \
      -max_total_time="$SECS" -timeout=30 -rss_limit_mb="$RSS" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "   ok: $runs runs in $(( $(date +%s) - t0 )) s, corpus $(ls "$work" | wc -l) files"
  else
    echo "   CRASH (log: $log)"
    grep -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)|^SUMMARY" "$log" | head -5 | sed 's/^/   /'
    grep -A1 -E "panicked at" "$log" | head -4 | sed 's/^/   /'
    for a in "$artifacts"/*; do
      [ -e "$a" ] || continue
      echo "   input: $a"
      echo "   reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run ${BUILD[*]} $t $a"
      echo "   minimize:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin ${BUILD[*]} $t $a"
    done
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "== fuzzing found crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "== fuzzing: no crash in ${#TARGETS[@]} target(s), ${SECS} s each"
