#!/usr/bin/env bash
# Before/after figures for the optimisations, measured in one run: builds the commits before and
# after each change in git worktrees, runs the same driver (scripts/history_driver.rs) and the
# same import and the same `circles` command on each, and prints one JSON line per commit and
# measure.
#
#   scripts/bench_history.sh OUTDIR    (needs the graphs and mosaic made by scripts/bench.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-$HOME/.cache/metroreach-bench}
MOSAIC_PBF=$("$ROOT/../shared/bench/mosaic/make.sh" province 2>/dev/null | tail -1)
# commit: what it introduced (the commit before it is the "before")
COMMITS=(5a2f86c bd36d47 0bb9851 09e1048 1a8195a eab1986 1405aa0 f0ace81 50b3702 e7eccdf 6f4fdd2 "$(git rev-parse --short HEAD)")
mkdir -p "$OUT/history"
: > "$OUT/history.jsonl"
for c in "${COMMITS[@]}"; do
  wt="$OUT/history/$c"
  [ -d "$wt" ] || git worktree add -f --detach "$wt" "$c" > /dev/null
  mkdir -p "$wt/examples"
  cp "$ROOT/scripts/history_driver.rs" "$wt/examples/history_driver.rs"
  (cd "$wt" && CARGO_TARGET_DIR="$OUT/history/target-$c" cargo build --release --quiet --example history_driver --bin metroreach)
  bin="$OUT/history/target-$c/release"
  for case in "yuba -121.5914 39.1457 60" "porto -8.6110 41.1496 20" "malta 14.5146 35.8989 60" "mosaic 116.3422217 35.4194989 60"; do
    set -- $case
    line=$("$bin/examples/history_driver" "$OUT/$1.graph" "$2" "$3" "$4" 30)
    echo "{\"commit\": \"$c\", \"case\": \"$1-$4\", \"result\": $line}" >> "$OUT/history.jsonl"
  done
  /usr/bin/time -f "%e %M" -o "$OUT/history/time-$c" "$bin/metroreach" -q import "$MOSAIC_PBF" -o "$OUT/history/mosaic-$c.graph"
  read -r wall rss < "$OUT/history/time-$c"
  echo "{\"commit\": \"$c\", \"case\": \"import-mosaic\", \"result\": {\"wall_s\": $wall, \"maxrss_kb\": $rss}}" >> "$OUT/history.jsonl"
  rm -f "$OUT/history/mosaic-$c.graph"
  # The whole `circles` command on every mosaic town (computing, then writing the GeoJSON).
  if /usr/bin/time -f "%e %M" -o "$OUT/history/time-circles-$c" "$bin/metroreach" -q circles "$OUT/mosaic.graph" \
    --cities "$OUT/mosaic-towns.csv" --minutes 30,60 -o "$OUT/history/circles-$c.geojson"; then
    read -r wall rss < "$OUT/history/time-circles-$c"
    echo "{\"commit\": \"$c\", \"case\": \"circles-cli-mosaic\", \"result\": {\"wall_s\": $wall, \"maxrss_kb\": $rss}}" >> "$OUT/history.jsonl"
  fi
  rm -f "$OUT/history/circles-$c.geojson"
done
cat "$OUT/history.jsonl"
