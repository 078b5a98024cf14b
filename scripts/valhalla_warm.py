#!/usr/bin/env python3
"""Valhalla's in-process isochrone time, first call and warm, on tiles built by the peer kit.

  scripts/valhalla_warm.py WORKDIR LON LAT MINUTES [RUNS]

WORKDIR holds tiles made by `../shared/bench/peers/valhalla/valhalla_iso.py build WORKDIR PBF`.
The kit's own query times one `actor.isochrone()` call on a fresh Actor (tile loading on first
access included); this also repeats the same request RUNS times (default 30) on that Actor, so our
warm median can be set against Valhalla's warm median. Prints one JSON object.
"""
import json
import statistics
import sys
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "peers"
sys.dont_write_bytecode = True
sys.path.insert(0, str(KIT / "lib"))
import peerenv  # noqa: E402

peerenv.ensure_venv("valhalla", __file__, "valhalla")


def main(argv):
    workdir, lon, lat, minutes = Path(argv[1]), float(argv[2]), float(argv[3]), float(argv[4])
    runs = int(argv[5]) if len(argv) > 5 else 30
    from valhalla import Actor
    actor = Actor(str(workdir / "valhalla.json"))
    req = {"locations": [{"lon": lon, "lat": lat}], "costing": "auto",
           "contours": [{"time": minutes}], "polygons": True}
    times = []
    for _ in range(runs + 1):
        t = time.perf_counter()
        actor.isochrone(req)
        times.append((time.perf_counter() - t) * 1000.0)
    warm = times[1:]
    print(json.dumps({"first_call_ms": times[0], "warm_median_ms": statistics.median(warm),
                      "warm_min_ms": min(warm), "warm_max_ms": max(warm), "runs": runs}))


if __name__ == "__main__":
    main(sys.argv)
