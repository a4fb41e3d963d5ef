"""A/B benchmark: two sets of config overrides on the files → gold pipeline, each run in its
own JVM, in pairs that alternate which side goes first (the machine drifts over minutes).

    .venv/bin/python benchmarks/ab_pipeline.py --a spark.conf.spark.sql.files.minPartitionNum=2 \\
        --b spark.conf.spark.sql.files.minPartitionNum=4 --pairs 5

Each run is `bench_pipeline.py --warmup 200000 --no-duckdb --no-optimize` with that side's
`--set` overrides (on top of conf/local.yaml): the 2M-impression `pipeline --once` on a warm
session, then one late day. Prints every run, then per side the median of both figures and
the pairs' differences (A − B; positive: B was faster).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = re.compile(r"pipeline --once \(warm\): ([\d.]+)s")
LATE = re.compile(r"late files .*: recompute ([\d.]+)s")


def run(overrides: list[str], impressions: int, warmup: int) -> tuple[float, float]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_pipeline.py"), "--impressions", str(impressions),
           "--warmup", str(warmup), "--no-duckdb", "--no-optimize"]
    for o in overrides:
        cmd += ["--set", o]
    out = subprocess.run(cmd, capture_output=True, text=True)
    whole, late = PIPELINE.search(out.stdout), LATE.search(out.stdout)
    if out.returncode != 0 or not whole or not late:
        raise SystemExit(f"bench_pipeline.py failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return float(whole.group(1)), float(late.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", action="append", default=[], metavar="KEY=VALUE", help="side A's override (repeatable)")
    ap.add_argument("--b", action="append", default=[], metavar="KEY=VALUE", help="side B's override (repeatable)")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--impressions", type=int, default=2_000_000)
    ap.add_argument("--warmup", type=int, default=200_000)
    args = ap.parse_args()

    sides = {"A": args.a, "B": args.b}
    print(f"A: {args.a or '(conf/local.yaml as is)'}\nB: {args.b or '(conf/local.yaml as is)'}", flush=True)
    results: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
    for k in range(args.pairs):
        for side in ("AB" if k % 2 == 0 else "BA"):
            whole, late = run(sides[side], args.impressions, args.warmup)
            results[side].append((whole, late))
            print(f"pair {k + 1} {side}: pipeline {whole:5.1f}s  late day {late:4.1f}s", flush=True)
    for i, what in enumerate(("pipeline", "late day")):
        a = [r[i] for r in results["A"]]
        b = [r[i] for r in results["B"]]
        diffs = [x - y for x, y in zip(a, b, strict=True)]
        print(f"{what:8}: median A {statistics.median(a):5.1f}s, B {statistics.median(b):5.1f}s; "
              f"A - B per pair {', '.join(f'{d:+.1f}' for d in diffs)} (mean {statistics.mean(diffs):+.1f}s, "
              f"B faster in {sum(d > 0 for d in diffs)} of {len(diffs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
