"""``advertisex generate`` and ``advertisex produce``.

The lead's ``advertisex.cli`` calls :func:`add_parsers` on its subparsers (and adds the
common ``--config`` / ``--set`` options itself), then ``args.func(args, cfg)``; each
``func`` returns the process exit code.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from advertisex.config import Config, join_path
from advertisex.generate.generator import GenerateError, generate, load_manifest
from advertisex.generate.inject import Injection, parse_injections
from advertisex.generate.params import DEFAULT_START_DATE, GenerateParams, Rates
from advertisex.generate.truth import Windows, compute_truth, parse_event_time, write_truth

TRUTH_DIR = "truth"                 # files + Kafka (impression messages, bid requests)
TRUTH_FILES_ONLY_DIR = "truth_files_only"  # kafka.enabled=false runs


def default_out(cfg: Config) -> str:
    """``<lake.root>/../generated``."""
    return str(Path(join_path(cfg.lake.root, "..", "generated")).resolve())


def _rate_pair(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--rate expects name=value, got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate {name}: {value!r} is not a number") from None


def add_parsers(subparsers: Any) -> None:
    """Register ``generate`` and ``produce`` on an argparse subparsers object.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.
    """
    g = subparsers.add_parser(
        "generate", help="write deterministic test traffic and its ground truth",
        description="Write impressions (JSON Lines) and clicks/conversions (CSV) into the landing "
                    "folders, the reference CSVs, the Kafka payloads (impression messages, bid "
                    "requests) into --out, and the expected gold tables / quarantine counts into "
                    f"--out/{TRUTH_DIR} (files + Kafka) and --out/{TRUTH_FILES_ONLY_DIR}. "
                    "Same arguments → same bytes.")
    g.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    g.add_argument("--days", type=int, default=7, help="days of traffic (default 7)")
    g.add_argument("--start-date", type=date.fromisoformat, default=DEFAULT_START_DATE,
                   help=f"first UTC day, YYYY-MM-DD (default {DEFAULT_START_DATE}); keep it in the "
                        "past: the pipeline must run after the last generated day")
    g.add_argument("--impressions-per-day", type=int, default=100_000, help="default 100000")
    g.add_argument("--users", type=int, default=20_000, help="default 20000")
    g.add_argument("--campaigns", type=int, default=50, help="default 50")
    g.add_argument("--out", default=None,
                   help="folder for Kafka payloads, manifest and truth (default <lake.root>/../generated)")
    g.add_argument("--rate", dest="rates", action="append", type=_rate_pair, default=[],
                   metavar="NAME=VALUE",
                   help="override a realism rate, repeatable (e.g. --rate duplicate=0.05); names: "
                        + ", ".join(Rates.__dataclass_fields__))
    g.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    g.add_argument("--now", default=None,
                   help="processing time for the truth's future rule (ISO or epoch ms; default "
                        "end of the last day + 1 h)")
    g.add_argument("--inject", default=None, metavar="KIND@DAY:HOUR[:ARG],...",
                   help="anomalies on purpose, listed in the truth (anomalies.json): "
                        "impressions_drop@DAY:HOUR[:CAMPAIGN], ctr_spike@DAY:HOUR:CAMPAIGN, "
                        "quarantine_burst@DAY:HOUR, gap@DAY:H1-H2; DAY is a day index (0 = --start-date) "
                        "or a date, e.g. --inject impressions_drop@8:20,gap@2026-11-21:0-23")
    g.add_argument("--no-truth", action="store_true", help="skip computing the ground truth")
    g.add_argument("--no-clean", action="store_true",
                   help="fail instead of removing files an earlier generate wrote")
    g.set_defaults(func=run_generate)

    p = subparsers.add_parser(
        "produce", help="publish generated impressions and bid requests to Kafka",
        description="Send the Kafka part of a generated data set: impressions as JSON to "
                    "kafka.topics.impressions (key = raw user_id), bid requests in the Confluent "
                    "wire format (schemas v1+v2 registered under bid-requests-value) plus malformed "
                    "Avro messages to kafka.topics.bids. Idempotent producer, acks=all; exits "
                    "non-zero when any message was not delivered.")
    p.add_argument("--from", dest="source", default=None,
                   help="the generate --out folder (default <lake.root>/../generated)")
    p.add_argument("--rate", type=float, default=0.0, help="target messages/s (default: as fast as possible)")
    p.add_argument("--only", choices=("impressions", "bids"), default=None, help="send one topic only")
    p.add_argument("--compression", default="none", help="compression.type (none, lz4, zstd, ...)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run_produce)


def history_warnings(injections: tuple[Injection, ...], cfg: Config) -> list[str]:
    """Injections on days the anomaly checks cannot judge yet (too few earlier days), in words."""
    a = cfg.anomaly
    need = {"impressions_drop": ("impressions_drop.min_days", a.impressions_drop.min_days),
            "gap": ("impressions_drop.min_days", a.impressions_drop.min_days),
            "ctr_spike": ("ctr_spike.min_history_days", a.ctr_spike.min_history_days),
            "quarantine_burst": ("quarantine_rate.min_history_days", a.quarantine_rate.min_history_days)}
    out = []
    for i in injections:
        key, days = need[i.kind]
        whole_day = i.kind == "gap" and (i.first_hour, i.last_hour) == (0, 23)
        if i.day < days and not whole_day:
            out.append(f"{i.kind} on day {i.day}: the checks need anomaly.{key}={days} earlier days, "
                       "so they will stay silent for it")
    return out


def run_generate(args: argparse.Namespace, cfg: Config) -> int:
    """``advertisex generate``: write the data set (and truth). Returns the exit code."""
    rates = Rates().with_overrides(dict(args.rates))
    try:
        injections = parse_injections(args.inject or "", start_date=args.start_date, days=args.days,
                                      campaigns=args.campaigns)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    for warning in history_warnings(injections, cfg):
        print(f"warning: {warning}", file=sys.stderr)
    params = GenerateParams(
        seed=args.seed, start_date=args.start_date, days=args.days,
        impressions_per_day=args.impressions_per_day, users=args.users, campaigns=args.campaigns,
        click_window_minutes=cfg.attribution.click_window_minutes,
        conversion_window_days=cfg.attribution.conversion_window_days,
        view_through_window_hours=cfg.attribution.view_through_window_hours,
        rates=rates, injections=injections)
    out = args.out or default_out(cfg)
    res = generate(params, landing_impressions=cfg.landing.impressions,
                   landing_clicks=cfg.landing.clicks, campaigns_csv=cfg.reference.campaigns,
                   users_csv=cfg.reference.users, out_dir=out, clean=not args.no_clean,
                   workers=args.workers)
    n = params.days * params.impressions_per_day
    print(f"generated {n:,} impressions in {res.seconds:.1f}s ({n / res.seconds:,.0f}/s): "
          f"{len(res.impression_files)} impression files, {len(res.click_files)} click files, "
          f"{res.lines}", file=sys.stderr)
    if not args.no_truth:
        now_ms = parse_event_time(args.now, digits_allowed=True) if args.now else None
        if args.now and now_ms is None:
            print(f"--now {args.now!r} is not a timestamp", file=sys.stderr)
            return 2
        manifest = load_manifest(out)
        windows = Windows.from_config(cfg.attribution)
        for folder, with_kafka in ((TRUTH_DIR, True), (TRUTH_FILES_ONLY_DIR, False)):
            write_truth(compute_truth(manifest, include_kafka=with_kafka, now_ms=now_ms,
                                      windows=windows), Path(out) / folder)
        print(f"truth written to {out}/{TRUTH_DIR} and {out}/{TRUTH_FILES_ONLY_DIR}", file=sys.stderr)
    return 0


def run_produce(args: argparse.Namespace, cfg: Config) -> int:
    """``advertisex produce``: publish the Kafka part. Returns the exit code (1 = not all delivered)."""
    from advertisex.generate.producer import ProduceError, produce

    try:
        manifest = load_manifest(args.source or default_out(cfg))
    except GenerateError as exc:
        print(f"produce failed: {exc}", file=sys.stderr)
        return 2
    try:
        stats = produce(cfg, manifest, impressions=args.only in (None, "impressions"),
                        bids=args.only in (None, "bids"), rate=args.rate,
                        compression=args.compression, progress=None if args.quiet else sys.stderr)
    except ProduceError as exc:
        st = getattr(exc, "stats", None)
        if st is not None:
            print(st.summary(), file=sys.stderr)
        print(f"produce failed: {exc}", file=sys.stderr)
        return 1
    print(stats.summary(), file=sys.stderr)
    return 0
