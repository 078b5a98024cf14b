#!/usr/bin/env bash
# The benchmark suite: one run, one machine, the same inputs for us and the peer engines.
#
#   scripts/bench.sh [--quick] [--circles | --import] [--runs N] [--out DIR]
#
# Times whole commands with repeated runs (median and spread) and peak memory (GNU time -v), runs
# the peers of ../shared/bench/peers on the same extracts and origins, and writes
# docs/performance.md (tables + this exact command) from the JSON it collects in DIR
# (default ~/.cache/metroreach-bench). --quick skips the slow peer builds on the province mosaic
# (Valhalla ~3.5 min, OSRM > 40 min: stopped after BENCH_OSRM_TIMEOUT, default 1800 s; osm2pgrouting
# ~27 min and ~17 GB: only with BENCH_OSM2PGROUTING=1). --circles re-runs everything about circles
# on the graphs of an earlier full run in DIR (the one-circle comparison with the peers, the mosaic
# circle, batch and reach, the before/after history; ~15 min) and keeps that run's import and
# criterion results, then rewrites the report: for re-measuring after a change to circles.
# --import likewise re-runs only our imports and the raw decodes (and the import stage timing),
# keeping the peers' builds and everything else of the earlier runs.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ARGS="$*"
QUICK=0; CIRCLES_ONLY=0; IMPORT_ONLY=0; RUNS=3; OUT="${HOME}/.cache/metroreach-bench"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --circles) CIRCLES_ONLY=1; shift ;;
    --import) IMPORT_ONLY=1; shift ;;
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: scripts/bench.sh [--quick] [--circles | --import] [--runs N] [--out DIR]" >&2; exit 2 ;;
  esac
done
DATA="${METROREACH_DATA:-$ROOT/../shared/data}"
KIT="$ROOT/../shared/bench"
mkdir -p "$OUT"
export METROREACH_CACHE="$OUT/cache"
# Which runs the results in OUT come from (a --circles or --import run adds to the full run).
PARTIAL=$((CIRCLES_ONLY + IMPORT_ONLY))
[ $PARTIAL -gt 0 ] || : > "$OUT/runs.log"
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(git rev-parse --short HEAD) scripts/bench.sh $ARGS" >> "$OUT/runs.log"
echo "== building"
cargo build --release --quiet --examples --bin metroreach || exit 1
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
MR="$TARGET/release/metroreach"
EX="$TARGET/release/examples"

echo "== inputs"
MOSAIC=$("$KIT/mosaic/make.sh" province 2>/dev/null | tail -1)
[ -f "$MOSAIC" ] || { echo "mosaic generation failed (see $KIT/mosaic/README.md)" >&2; MOSAIC=""; }
declare -A PBF=(
  [porto]="$DATA/osm/porto-2015-roads.osm.pbf"
  [yuba]="$DATA/osm/yuba-county-2024-06-05.osm.pbf"
  [malta]="$DATA/osm/malta-2018-08-27.osm.pbf"
  [mosaic]="$MOSAIC"
)
PEERS_OK=1
[ $IMPORT_ONLY = 1 ] ||
"$KIT/peers/setup.sh" valhalla pgrouting osmnx osrm > "$OUT/peers-setup.log" 2>&1 || { PEERS_OK=0; echo "peers could not be installed: see $OUT/peers-setup.log (they are reported as missing)"; }

# time_cmd NAME CMD...: runs once under GNU time, appends {name, wall_s, maxrss_kb, status} to a JSON lines file.
time_cmd() {
  local name=$1; shift
  local tf="$OUT/time.$$"
  # Wall time from the clock around the command (GNU time prints it to 10 ms only, too coarse
  # for the small extracts' 30-90 ms); peak memory from GNU time.
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$tf" "$@" > "$OUT/$name.log" 2>&1
  local st=$?
  t1=$(date +%s%N)
  local wall rss
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tf")
  echo "{\"name\": \"$name\", \"wall_s\": ${wall:-null}, \"maxrss_kb\": ${rss:-null}, \"status\": $st}" >> "$OUT/times.jsonl"
  rm -f "$tf"
  return $st
}
if [ $CIRCLES_ONLY = 0 ]; then
[ $IMPORT_ONLY = 1 ] || : > "$OUT/times.jsonl"

echo "== import: ours vs raw decode ($RUNS runs each on the mosaic, $((RUNS * 4)) on the small extracts)"
for name in porto yuba malta mosaic; do
  f=${PBF[$name]}; [ -n "$f" ] || continue
  # The small extracts take 30-90 ms a run, where one slow run in three moves the median by
  # a quarter: four times the runs there (a few seconds in all).
  n=$RUNS; [ "$name" = mosaic ] || n=$((RUNS * 4))
  for i in $(seq "$n"); do
    # Every timed run starts with no file data waiting to be written: otherwise the kernel's
    # writeback of the previous import's graph (440 MB for the mosaic) competes with it for the
    # two cores.
    sync
    time_cmd "decode-$name-$i" "$EX/raw_decode" "$f"
    sync
    time_cmd "decodeinplace-$name-$i" "$EX/raw_decode" "$f" --in-place
    # Each timed import writes a new file, as a first import does: replacing the previous run's
    # graph would add the kernel's freeing of the old file (about 0.2 s for the mosaic's 440 MB).
    rm -f "$OUT/$name.graph"
    sync
    time_cmd "import-$name-$i" "$MR" -q import "$f" -o "$OUT/$name.graph"
  done
  ls -l "$OUT/$name.graph" | awk -v n="$name" '{print "{\"name\": \"graphsize-" n "\", \"bytes\": " $5 "}"}' >> "$OUT/times.jsonl"
  "$MR" info "$OUT/$name.graph" --json > "$OUT/info-$name.json"
done

if [ -n "$MOSAIC" ]; then
  echo "== import: where the time goes (one more mosaic import with METROREACH_TIMING=1)"
  sync
  METROREACH_TIMING=1 "$MR" -q import "$MOSAIC" -o "$OUT/mosaic-timing.graph" 2> "$OUT/import-stages-mosaic.log"
  rm -f "$OUT/mosaic-timing.graph"
fi

echo "== import: peers"
if [ $PEERS_OK = 1 ] && [ $IMPORT_ONLY = 0 ]; then
  for name in porto yuba malta mosaic; do
    f=${PBF[$name]}; [ -n "$f" ] || continue
    if [ "$name" = mosaic ] && [ $QUICK = 1 ]; then continue; fi
    rm -rf "$OUT/peer-$name"; mkdir -p "$OUT/peer-$name"
    time_cmd "valhalla-build-$name" timeout 3600 "$KIT/peers/valhalla/valhalla_iso.py" build "$OUT/peer-$name/valhalla" "$f"
    time_cmd "osrm-build-$name" timeout "${BENCH_OSRM_TIMEOUT:-1800}" "$KIT/peers/osrm/osrm_iso.py" build "$OUT/peer-$name/osrm" "$f"
    if [ "$name" != mosaic ] || [ "${BENCH_OSM2PGROUTING:-0}" = 1 ]; then
      "$KIT/peers/pgrouting/pgr_iso.sh" start > /dev/null 2>&1
      time_cmd "osm2pgrouting-build-$name" timeout 3600 "$KIT/peers/pgrouting/pgr_iso.sh" build "$f" "bench_$name"
      "$KIT/peers/pgrouting/pgr_iso.sh" stop > /dev/null 2>&1
    fi
    rm -rf "$OUT/peer-$name"
  done
fi
fi # CIRCLES_ONLY

if [ $IMPORT_ONLY = 0 ]; then
# A --circles run reads the graphs an import run left in OUT: any that is missing (a cleaned
# cache) is imported now, untimed.
for name in porto yuba malta mosaic; do
  f=${PBF[$name]}; [ -n "$f" ] || continue
  [ -f "$OUT/$name.graph" ] || "$MR" -q import "$f" -o "$OUT/$name.graph" || exit 1
done
echo "== one circle: ours (in-process, cold and warm) and the peers, same extract and origin"
circle() { # tag pbf-name lon lat minutes
  local tag=$1 name=$2 lon=$3 lat=$4 min=$5
  # Five processes of ours and five of Valhalla's warm isochrone, taken in turn (ours, then
  # Valhalla's), each side merged as the median of its processes' medians
  # (scripts/merge_runs.py): one process's steady state can be a third off another's on these
  # machines, and a slow spell of the machine then falls on both sides instead of one.
  local have_vh=0
  rm -rf "$OUT/vh-$tag"
  if [ $PEERS_OK = 1 ] &&
    "$KIT/peers/valhalla/valhalla_iso.py" build "$OUT/vh-$tag" "${PBF[$name]}" > "$OUT/vh-$tag.log" 2>&1; then
    have_vh=1
  fi
  rm -f "$OUT"/engine-$tag-[0-9].json "$OUT"/valhalla-warm-$tag-[0-9].json
  for i in 1 2 3 4 5; do
    "$EX/bench_engine" "$OUT/$name.graph" "$lon" "$lat" "$min" 100 > "$OUT/engine-$tag-$i.json"
    # Valhalla warm: the same request repeated on one Actor (each process a fresh Actor, whose
    # first call loads the tiles), to set against our warm median.
    if [ $have_vh = 1 ]; then
      "$ROOT/scripts/valhalla_warm.py" "$OUT/vh-$tag" "$lon" "$lat" "$min" 30 2>> "$OUT/vh-$tag.log" | tail -1 > "$OUT/valhalla-warm-$tag-$i.json"
    fi
  done
  "$ROOT/scripts/merge_runs.py" "$OUT"/engine-$tag-[1-5].json > "$OUT/engine-$tag.json"
  [ $have_vh = 1 ] && "$ROOT/scripts/merge_runs.py" "$OUT"/valhalla-warm-$tag-[1-5].json > "$OUT/valhalla-warm-$tag.json"
  rm -rf "$OUT/vh-$tag"
  "$MR" -q circles "$OUT/$name.graph" --at "$lon,$lat" --label "$tag" --minutes "$min" -o "$OUT/ours-$tag.geojson"
  if [ $PEERS_OK = 1 ]; then
    # The kit times one call on a fresh Actor (tiles loaded on first access), and pgRouting and
    # OSMnx; their polygons are compared with ours.
    "$KIT/peers/run_all.sh" "${PBF[$name]}" "$lon" "$lat" "$min" "$OUT/peers-$tag" "$tag" --peers valhalla,pgrouting,osmnx > "$OUT/peers-$tag.log" 2>&1
    "$KIT/peers/compare.py" "$OUT/peers-$tag/valhalla-$tag.geojson" "$OUT/ours-$tag.geojson" \
      "$OUT/peers-$tag/pgrouting-$tag.geojson" "$OUT/peers-$tag/osmnx-$tag.geojson" --json "$OUT/compare-$tag.json" > "$OUT/compare-$tag.log" 2>&1
  fi
}
circle yuba60 yuba -121.5914 39.1457 60
circle porto20 porto -8.6110 41.1496 20
circle malta60 malta 14.5146 35.8989 60

echo "== mosaic: one circle, the search floor, batch of every town on 1 and 2 threads, reach"
if [ -n "$MOSAIC" ]; then
  "$EX/bench_engine" "$OUT/mosaic.graph" 116.3422217 35.4194989 60 20 --batch --towns-csv "$OUT/mosaic-towns.csv" > "$OUT/engine-mosaic60.json"
  time_cmd "reach-mosaic" "$MR" -q reach "$OUT/mosaic.graph" --cities "$OUT/mosaic-towns.csv" --minutes 30,60 \
    --units "$ROOT/data/china/county.geojson" --unit-name name --unit-code gb --unit-parent prefecture -o "$OUT/reach-mosaic"
  # Once more with the stage timings (not timed as a whole: printing them costs nothing, but
  # keep the timed run clean).
  METROREACH_TIMING=1 "$MR" -q reach "$OUT/mosaic.graph" --cities "$OUT/mosaic-towns.csv" --minutes 30,60 \
    --units "$ROOT/data/china/county.geojson" --unit-name name --unit-code gb --unit-parent prefecture \
    -o "$OUT/reach-mosaic" 2>&1 | grep '^timing reach' > "$OUT/reach-stages.log"
fi

if [ $QUICK = 0 ]; then
  echo "== before/after the optimisations (older commits rebuilt in worktrees)"
  "$ROOT/scripts/bench_history.sh" "$OUT" > "$OUT/history.log" 2>&1 || echo "history failed: see $OUT/history.log"
fi

if [ $CIRCLES_ONLY = 0 ]; then
  echo "== criterion (inner pieces)"
  cargo bench --bench engine -- --noplot > "$OUT/criterion.log" 2>&1
fi
fi # IMPORT_ONLY

echo "== report"
python3 "$ROOT/scripts/bench_report.py" "$OUT" "scripts/bench.sh $ARGS" > "$ROOT/docs/performance.md"
echo "wrote docs/performance.md (raw results in $OUT)"
