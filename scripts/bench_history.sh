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
COMMITS=(5a2f86c bd36d47 0bb9851 09e1048 1a8195a eab1986 1405aa0 f0ace81 50b3702 e7eccdf 6f4fdd2 1045bf4 51eb0dd 9dcf3c9 "$(git rev-parse --short HEAD)")
mkdir -p "$OUT/history"
: > "$OUT/history.jsonl"
for c in "${COMMITS[@]}"; do
  wt="$OUT/history/$c"
  [ -d "$wt" ] || git worktree add -f --detach "$wt" "$c" > /dev/null
  mkdir -p "$wt/examples"
  cp "$ROOT/scripts/history_driver.rs" "$wt/examples/history_driver.rs"
  bin="$OUT/history/target-$c/release"
  # Built in one shared target folder (the dependencies are compiled once, not once per
  # commit), then the two programs are copied to the commit's own folder and kept between runs,
  # as long as the driver they were built with is the same (its hash is kept beside them).
  driver=$(sha256sum "$ROOT/scripts/history_driver.rs" | cut -c1-16)
  if [ ! -x "$bin/metroreach" ] || [ ! -x "$bin/examples/history_driver" ] ||
     [ "$(cat "$bin/driver.sha" 2>/dev/null)" != "$driver" ]; then
    (cd "$wt" && CARGO_TARGET_DIR="$OUT/history/target-shared" cargo build --release --quiet --example history_driver --bin metroreach)
    mkdir -p "$bin/examples"
    cp "$OUT/history/target-shared/release/metroreach" "$bin/metroreach"
    cp "$OUT/history/target-shared/release/examples/history_driver" "$bin/examples/history_driver"
    echo "$driver" > "$bin/driver.sha"
  fi
  for case in "yuba -121.5914 39.1457 60" "porto -8.6110 41.1496 20" "malta 14.5146 35.8989 60" "mosaic 116.3422217 35.4194989 60"; do
    set -- $case
    line=$("$bin/examples/history_driver" "$OUT/$1.graph" "$2" "$3" "$4" 30)
    echo "{\"commit\": \"$c\", \"case\": \"$1-$4\", \"result\": $line}" >> "$OUT/history.jsonl"
  done
  # The whole `circles` command on every mosaic town (computing, then writing the GeoJSON).
  if /usr/bin/time -f "%e %M" -o "$OUT/history/time-circles-$c" "$bin/metroreach" -q circles "$OUT/mosaic.graph" \
    --cities "$OUT/mosaic-towns.csv" --minutes 30,60 -o "$OUT/history/circles-$c.geojson"; then
    read -r wall rss < "$OUT/history/time-circles-$c"
    echo "{\"commit\": \"$c\", \"case\": \"circles-cli-mosaic\", \"result\": {\"wall_s\": $wall, \"maxrss_kb\": $rss}}" >> "$OUT/history.jsonl"
  fi
  rm -f "$OUT/history/circles-$c.geojson"
done
# The mosaic import of every commit, three rounds taken in turn (one run each would mostly
# measure the machine's drift): the median wall time and the largest peak memory.
: > "$OUT/history/imports.txt"
for round in 1 2 3; do
  for c in "${COMMITS[@]}"; do
    bin="$OUT/history/target-$c/release"
    /usr/bin/time -f "%e %M" -o "$OUT/history/time-$c" "$bin/metroreach" -q import "$MOSAIC_PBF" -o "$OUT/history/mosaic-$c.graph"
    echo "$c $(cat "$OUT/history/time-$c")" >> "$OUT/history/imports.txt"
    rm -f "$OUT/history/mosaic-$c.graph"
  done
done
python3 - "$OUT/history/imports.txt" >> "$OUT/history.jsonl" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    c, wall, rss = line.split()
    runs.setdefault(c, []).append((float(wall), int(rss)))
for c, v in runs.items():
    walls = [w for w, _ in v]
    print(json.dumps({"commit": c, "case": "import-mosaic", "result": {
        "wall_s": statistics.median(walls), "runs_s": walls, "maxrss_kb": max(r for _, r in v)}}))
PY
cat "$OUT/history.jsonl"
