"""Benchmark the traffic generator (impressions/s written to files) and, with --produce,
the producer (messages/s to the broker at kafka.bootstrap_servers).

    .venv/bin/python benchmarks/bench_generate.py [--impressions-per-day N] [--days D] [--produce]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from advertisex.config import load_config
from advertisex.generate import GenerateParams, compute_truth, generate, load_manifest


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark. Returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--impressions-per-day", type=int, default=500_000)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--truth", action="store_true", help="also time the ground truth")
    ap.add_argument("--produce", action="store_true", help="also time producing (broker must be up)")
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        root = Path(tmp)
        params = GenerateParams(seed=1, days=args.days, impressions_per_day=args.impressions_per_day,
                                users=args.users)
        n = params.days * params.impressions_per_day
        t0 = time.perf_counter()
        res = generate(params, landing_impressions=root / "li", landing_clicks=root / "lc",
                       campaigns_csv=root / "ref/campaigns.csv", users_csv=root / "ref/users.csv",
                       out_dir=root / "out", workers=args.workers)
        dt = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"generate: {n:,} impressions (+{res.lines['click_files']:,} click rows, "
              f"{res.lines['bid_requests']:,} bid requests) in {dt:.2f}s = {n / dt:,.0f} impressions/s, "
              f"{size / 1e6:.0f} MB")
        manifest = load_manifest(root / "out")
        if args.truth:
            t0 = time.perf_counter()
            compute_truth(manifest)
            dt = time.perf_counter() - t0
            print(f"truth: {dt:.2f}s = {n / dt:,.0f} impressions/s")
        if args.produce:
            from advertisex.generate.producer import produce

            cfg = load_config(args.config, args.set)
            imp = produce(cfg, manifest, bids=False, progress=sys.stderr)
            print(f"produce impressions: {imp.summary()}")
            bids = produce(cfg, manifest, impressions=False, progress=sys.stderr)
            print(f"produce bid requests: {bids.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
