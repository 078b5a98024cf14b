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

# Without cargo-fuzz (FUZZ_DIRECT=1, or cargo-fuzz not installed and FUZZ_INSTALL unset), the
# targets are built with plain cargo and libFuzzer's coverage flags, no sanitizer: the stable
# toolchain needs nothing else, and CI saves installing cargo-fuzz. Panics, aborts, timeouts and
# memory blow-ups are still caught; only AddressSanitizer's reports need cargo-fuzz.
DIRECT="${FUZZ_DIRECT:-0}"
if [ "$DIRECT" != 1 ] && ! cargo fuzz --version >/dev/null 2>&1; then
  if [ "${FUZZ_INSTALL:-0}" = 1 ]; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
  else
    DIRECT=1
  fi
fi
export RUSTC_BOOTSTRAP=1
if [ "${FUZZ_DEBUG_ASSERTIONS:-0}" = 1 ]; then
  BUILD=(--debug-assertions)
else
  BUILD=(--release)
  export RUSTFLAGS="${RUSTFLAGS:-} -Coverflow-checks=on"
fi
HOST=$(rustc -vV | sed -n 's/^host: //p')

echo "== building the fuzz targets (${BUILD[*]}$([ "$DIRECT" = 1 ] && echo ', plain cargo, no sanitizer'))"
start=$(date +%s)
if [ "$DIRECT" = 1 ]; then
  RUSTFLAGS="${RUSTFLAGS:-} -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing" \
    cargo build --release --manifest-path "$ROOT/fuzz/Cargo.toml" --target "$HOST" --target-dir "$TARGET_DIR" --bins
else
  cargo fuzz build "${BUILD[@]}" --target-dir "$TARGET_DIR"
fi
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
  if [ "$DIRECT" = 1 ]; then
    run=("$TARGET_DIR/$HOST/release/$t" "$work" "$seeds")
  else
    run=(cargo fuzz run "${BUILD[@]}" --target-dir "$TARGET_DIR" "$t" "$work" "$seeds" --)
  fi
  if "${run[@]}" -max_total_time="$SECS" -timeout=30 -rss_limit_mb="$RSS" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "   ok: $runs runs in $(( $(date +%s) - t0 )) s, corpus $(ls "$work" | wc -l) files"
  else
    echo "   CRASH (log: $log)"
    { grep -A1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" || true; } | head -6 | sed 's/^/   /'
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
