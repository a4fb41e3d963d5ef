"""Benchmark: files → bronze → silver → gold (`pipeline --once`, Kafka disabled) on a warm session.

    .venv/bin/python benchmarks/bench_pipeline.py --impressions 2000000 --days 7 [--warmup 200000]

Prints, for one generated data set (files only):
  * generate time,
  * each job's time and the whole `pipeline --once` time on a warm session,
  * the DuckDB single-machine reference for the same gold table (benchmarks/duckdb_gold.py),
  * the time to recompute after one late file for one old day arrives.
Results go in docs/BENCHMARKS.md together with the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from advertisex.config import folder_overrides, load_config  # noqa: E402
from advertisex.generate import GenerateParams, Rates, generate  # noqa: E402
from advertisex.pipelines.runner import run_job, run_pipeline  # noqa: E402
from advertisex.session import build_spark  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impressions", type=int, default=2_000_000, help="total impressions (default 2M)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--campaigns", type=int, default=200)
    ap.add_argument("--workdir", default=None, help="default: a temporary folder (removed at the end)")
    ap.add_argument("--no-duckdb", action="store_true")
    ap.add_argument("--no-optimize", action="store_true", help="skip the `optimize` run at the end")
    ap.add_argument("--warmup", type=int, default=0, metavar="N",
                    help="first run the pipeline on N generated impressions of its own (JIT warm-up; 0: none)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ax-bench-"))
    cfg = load_config(
        ROOT / "conf" / "local.yaml",
        [
            *folder_overrides(work),
            "kafka.enabled=false",
            *args.overrides,
        ],
        environ={},
    )
    params = generate_files(cfg, work, impressions=args.impressions, days=args.days, users=args.users,
                            campaigns=args.campaigns)
    per_day = params.impressions_per_day
    # Hold back the files that arrive last: they are the late-day recompute.
    held = work / "held"
    late, last = hold_back_last_arrival(cfg, held)

    t0 = time.monotonic()
    spark = build_spark("advertisex-bench", cfg)
    spark.range(1000).selectExpr("sum(id)").collect()  # warm the JVM
    print(f"session up in {time.monotonic() - t0:.1f}s", flush=True)
    if args.warmup:
        # JIT warm-up: `pipeline --once` on a small data set of its own (own folders), same JVM.
        wwork = work / "warmup"
        wcfg = load_config(ROOT / "conf" / "local.yaml", [*folder_overrides(wwork), "kafka.enabled=false",
                                                          *args.overrides], environ={})
        wparams = GenerateParams(seed=8, start_date=params.start_date, days=args.days,
                                 impressions_per_day=max(1, args.warmup // args.days), users=args.users,
                                 campaigns=args.campaigns, rates=params.rates)
        generate(wparams, landing_impressions=wcfg.landing.impressions, landing_clicks=wcfg.landing.clicks,
                 campaigns_csv=wcfg.reference.campaigns, users_csv=wcfg.reference.users, out_dir=wwork / "generated")
        t0 = time.monotonic()
        run_pipeline(spark, wcfg)
        print(f"warm-up: pipeline --once on {args.warmup:,} impressions in {time.monotonic() - t0:.1f}s", flush=True)

    t0 = time.monotonic()
    results = run_pipeline(spark, cfg)
    total = time.monotonic() - t0
    for name, summary in results.items():
        print(f"  {name:<22} {summary.get('seconds', '')}s  {_short(summary)}")
    print(validation_share(results), flush=True)
    alone = silver_suites_alone(spark, cfg)
    print(f"silver suites alone (the same versions again, nothing else running): {sum(alone.values()):.1f}s "
          f"(profile {alone['profile']:.2f}s, GX {alone['gx']:.2f}s) = "
          f"{100 * sum(alone.values()) / results['silver']['seconds']:.1f}% of the silver job", flush=True)
    rows = spark.read.format("delta").load(cfg.table_path("silver/impressions")).count()
    print(f"pipeline --once (warm): {total:.1f}s for {per_day * args.days:,} impressions "
          f"({rows:,} valid distinct in silver) -> {rows / total:,.0f} impressions/s", flush=True)

    for p in late:
        dest = cfg.landing.impressions if p.name.startswith("impressions") else cfg.landing.clicks
        shutil.move(str(held / p.name), Path(dest) / p.name)
    t0 = time.monotonic()
    results = run_pipeline(spark, cfg)
    late_s = time.monotonic() - t0
    print(f"late files ({len(late)} files, arrival day {last}): recompute {late_s:.1f}s "
          f"(silver {results['silver']['seconds']}s, gold {results['gold']['seconds']}s, "
          f"gold dates {results['gold'].get('campaign_dates')})", flush=True)
    print(f"late files: {validation_share(results)}", flush=True)
    if not args.no_optimize:
        t0 = time.monotonic()
        run_job("optimize", spark, cfg)
        print(f"optimize (compaction + Z-order): {time.monotonic() - t0:.1f}s", flush=True)
    spark.stop()

    if not args.no_duckdb:
        now = (params.start_date + dt.timedelta(days=args.days + 30)).isoformat() + "T00:00:00Z"
        cmd = [sys.executable, str(ROOT / "benchmarks" / "duckdb_gold.py"), "--impressions", cfg.landing.impressions,
               "--clicks", cfg.landing.clicks, "--campaigns", cfg.reference.campaigns, "--now", now, "--threads", "2"]
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True)
        duck = time.monotonic() - t0
        print(out.stdout.strip())
        if out.returncode != 0:
            print(out.stderr.strip()[-2000:])
        print(f"DuckDB reference (same files, all days): {duck:.1f}s wall -> Spark/DuckDB ratio "
              f"{total / duck:.1f}x", flush=True)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def generate_files(cfg, work: Path, *, impressions: int, days: int, users: int, campaigns: int) -> GenerateParams:
    """The benchmark's data set (seed 7, from 2026-11-02) as landing files only (Kafka is
    disabled here: every impression goes to the files); prints what it made."""
    params = GenerateParams(seed=7, start_date=dt.date(2026, 11, 2), days=days,
                            impressions_per_day=impressions // days, users=users, campaigns=campaigns,
                            rates=Rates().with_overrides({"kafka_share": 0.0}))
    t0 = time.monotonic()
    res = generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
                   campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=work / "generated")
    size_mb = sum(p.stat().st_size for p in Path(cfg.landing.impressions).iterdir()) / 1e6
    print(f"generated {params.impressions_per_day * days:,} impressions (+{res.lines}) in "
          f"{time.monotonic() - t0:.1f}s; impression files {size_mb:.0f} MB", flush=True)
    return params


def hold_back_last_arrival(cfg, held: Path) -> tuple[list[Path], str]:
    """Move the landing files of the last arrival day (``<kind>_<arrival>_from-<date>_...``)
    to ``held``; returns their original paths and that day."""
    files = sorted(Path(cfg.landing.impressions).iterdir()) + sorted(Path(cfg.landing.clicks).iterdir())
    last = max(p.name.split("_")[-3] for p in files)
    late = [p for p in files if p.name.split("_")[-3] == last]
    held.mkdir()
    for p in late:
        shutil.move(str(p), held / p.name)
    return late, last


def validation_share(results: dict) -> str:
    """Data-quality time against the jobs it belongs to (issue 22: GX on gold <= 10 % of the
    gold job, on silver <= 20 % of the silver job): gold's audit (profiling, GX checkpoints and
    storing their results, inside the gold job), the quality job's silver suites and its reconciliation."""
    gold, silver, quality = results.get("gold", {}), results.get("silver", {}), results.get("quality", {})
    audit = gold.get("audit_seconds", {})
    suites = quality.get("silver_seconds", {})
    g, a = gold.get("seconds", 0) or 0, sum(audit.values())
    s, v = silver.get("seconds", 0) or 0, sum(suites.values())
    return (f"validation: gold audit {a:.1f}s (profile {audit.get('profile', 0)}s, GX {audit.get('gx', 0)}s, "
            f"storing the results {audit.get('store', 0)}s) = "
            f"{100 * a / g if g else 0:.1f}% of the gold job ({g}s); silver suites {v:.1f}s (profile "
            f"{suites.get('profile', 0)}s, GX {suites.get('gx', 0)}s) = {100 * v / s if s else 0:.1f}% of the silver "
            f"job ({s}s); reconciliation {quality.get('reconciliation_seconds', 0)}s; storing the quality job's "
            f"results {quality.get('store_seconds', 0)}s; quality job "
            f"{quality.get('seconds', 0)}s; silver checked: "
            + "; ".join(f"{k} {v}" for k, v in quality.items() if k.startswith("silver/")))


def silver_suites_alone(spark, cfg) -> dict[str, float]:
    """The quality job's silver suites once more on the table versions it validated, with the
    cores to themselves (a second reading of the pipeline's figure; until session 36 the
    anomaly job ran beside them there), results not stored: seconds profiling and in GX."""
    from advertisex.pipelines import quality
    from advertisex.quality.validation import new_run_id
    from advertisex.quality.wap import known_campaigns

    seconds = {"profile": 0.0, "gx": 0.0}
    known, run_id = known_campaigns(spark, cfg), new_run_id("bench")
    quality.validate_silver(spark, cfg, since={}, run_id=run_id, known=known, now=None, seconds=seconds)
    return seconds


def _short(summary: dict) -> str:
    keep = {k: v for k, v in summary.items() if k != "seconds"}
    text = str(keep)
    return text if len(text) < 140 else text[:137] + "..."


if __name__ == "__main__":
    sys.exit(main())
