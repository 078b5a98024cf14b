#!/usr/bin/env python3
"""Merges the JSON results of the same benchmark run in several processes into one.

  scripts/merge_runs.py RUN1.json RUN2.json ... > MERGED.json

A process's steady state on these 2-core virtual machines is sometimes a third slower than
another's for the same binary and input (two threads then gain little over one), so one process
is not a measurement. Every timing block (`median_ms`, `min_ms`, `max_ms`, `runs`) becomes the
median of the processes' medians, the smallest minimum, the largest maximum and all the runs,
with the processes' medians listed; every other number becomes the median over the processes,
with the per-process values kept beside it (`KEY_per_process`) at the top level.
"""
import json
import statistics
import sys


def merge(objs):
    a = objs[0]
    if isinstance(a, dict):
        if "median_ms" in a:
            meds = [o["median_ms"] for o in objs]
            return {"median_ms": statistics.median(meds),
                    "min_ms": min(o.get("min_ms", o["median_ms"]) for o in objs),
                    "max_ms": max(o.get("max_ms", o["median_ms"]) for o in objs),
                    "runs": sum(o.get("runs", 1) for o in objs),
                    "process_medians_ms": meds}
        return {k: merge([o[k] for o in objs if k in o]) for k in a}
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        return statistics.median(objs)
    return a


def main(paths):
    objs = [json.load(open(p)) for p in paths]
    out = merge(objs)
    for k, v in objs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k + "_per_process"] = [o[k] for o in objs if k in o]
    out["processes"] = len(objs)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
