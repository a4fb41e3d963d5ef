"""Benchmark: recomputing one late day (`pipeline --once` after the last arrival day's files),
repeated on copies of the same lake in one warm session, with each job's time.

    .venv/bin/python benchmarks/bench_late_day.py --workdir /tmp/ax-late [--repeat 8 --skip 4]

The first call builds, in ``--workdir`` (kept and reused): the data set of
``bench_pipeline.py`` (seed 7; 2M impressions over 7 days by default) with the files of the
last arrival day held back, and ``base/``: the lake and checkpoints after `pipeline --once`
on the rest. Each repeat then

  1. copies ``base/`` (lake and checkpoints; the landing folder is shared, and the copies'
     checkpoints have not seen the held-back files),
  2. runs `pipeline --once` with nothing new, so the session has read every table, as it
     has after the day's main run,
  3. puts the held-back files in landing and times `pipeline --once` and each of its jobs.

The first repeats warm the JVM's JIT (more of them when the base lake already existed and
this JVM did not build it): the median of the repeats after ``--skip`` is the figure to
record in docs/BENCHMARKS.md, with the machine. `bench_pipeline.py` times the
same recompute once, after its own full run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import generate_files, hold_back_last_arrival  # noqa: E402

from advertisex.config import load_config  # noqa: E402
from advertisex.pipelines.runner import run_pipeline  # noqa: E402
from advertisex.session import build_spark  # noqa: E402


def config(work: Path, lake: Path, overrides: list[str]):
    """Landing and reference files in ``work``, lake and checkpoints in ``lake``."""
    return load_config(ROOT / "conf" / "local.yaml", [
        f"lake.root={lake / 'lake'}",
        f"checkpoints.root={lake / 'checkpoints'}",
        f"landing.impressions={work / 'landing' / 'impressions'}",
        f"landing.clicks={work / 'landing' / 'clicks'}",
        f"reference.campaigns={work / 'reference' / 'campaigns.csv'}",
        f"reference.users={work / 'reference' / 'users.csv'}",
        "kafka.enabled=false",
        *overrides,
    ], environ={})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True, help="data set and base lake (built on the first call, then reused)")
    ap.add_argument("--impressions", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--campaigns", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--skip", type=int, default=4, help="repeats left out of the median (JIT warm-up)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides")
    args = ap.parse_args()

    work = Path(args.workdir)
    base, held = work / "base", work / "held"
    spark = None
    if not (base / "lake").is_dir():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        cfg = config(work, base, args.overrides)
        generate_files(cfg, work, impressions=args.impressions, days=args.days, users=args.users,
                       campaigns=args.campaigns)
        late, last = hold_back_last_arrival(cfg, held)
        print(f"held back {len(late)} files of arrival day {last}", flush=True)
        spark = build_spark("advertisex-bench-late", cfg)
        t0 = time.monotonic()
        run_pipeline(spark, cfg)
        print(f"base: pipeline --once without them in {time.monotonic() - t0:.1f}s", flush=True)
    spark = spark or build_spark("advertisex-bench-late", config(work, base, args.overrides))

    held_files = sorted(held.iterdir())
    times = []
    for i in range(args.repeat):
        copy = work / f"run-{i}"
        shutil.rmtree(copy, ignore_errors=True)
        copy.mkdir()
        for part in ("lake", "checkpoints"):
            shutil.copytree(base / part, copy / part, symlinks=True)
        cfg = config(work, copy, args.overrides)
        t0 = time.monotonic()
        run_pipeline(spark, cfg)
        idle = time.monotonic() - t0
        placed = []
        for p in held_files:
            dest = Path(cfg.landing.impressions if p.name.startswith("impressions") else cfg.landing.clicks) / p.name
            shutil.copy(p, dest)
            placed.append(dest)
        try:
            t0 = time.monotonic()
            results = run_pipeline(spark, cfg)
            late_s = time.monotonic() - t0
        finally:
            for dest in placed:
                dest.unlink()
        times.append(late_s)
        jobs = "  ".join(f"{k}={v['seconds']}" for k, v in results.items() if "seconds" in v)
        print(f"repeat {i}: late day {late_s:.1f}s (idle run before it {idle:.1f}s)  {jobs}", flush=True)
        print(f"    silver attribution {results['silver'].get('attribution')}; gold {results['gold']}", flush=True)
    spark.stop()
    # The catalog kept the last copy's locations until the session ended; now the copies can go.
    for i in range(args.repeat):
        shutil.rmtree(work / f"run-{i}", ignore_errors=True)
    kept = times[args.skip:] or times
    print(f"late day: median {statistics.median(kept):.1f}s of repeats {args.skip}..{args.repeat - 1} "
          f"(all: {', '.join(f'{t:.1f}' for t in times)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
