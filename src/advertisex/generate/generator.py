"""Deterministic AdvertiseX traffic: impressions, clicks/conversions, bid requests, references.

Same :class:`GenerateParams` → same bytes in every file. This module runs the days and
writes the manifest; the rest of the package does the work:

- :mod:`~advertisex.generate.world` — campaigns, creatives, users, websites (fixed per seed);
- :mod:`~advertisex.generate.day` — one day: its seeded generator, sinks and routing, calling
  :mod:`~advertisex.generate.traffic` (valid records, the fast columnar path),
  :mod:`~advertisex.generate.malformed` (§1.6 records, the slow explicit path) and
  :mod:`~advertisex.generate.edge_cases` (hand-made §3 cases);
- :mod:`~advertisex.generate.sinks` — landing part files and Kafka payload files;
- :mod:`~advertisex.generate.references` — the campaigns and users CSVs;
- :mod:`~advertisex.generate.formats`, :mod:`~advertisex.generate.sampling`,
  :mod:`~advertisex.generate.vocab`, :mod:`~advertisex.generate.layout` — shared helpers,
  random draws, word lists, file names.

Where files land (see :func:`generate`):

- ``landing_impressions/impressions_<arrival date>_from-<origin date>_part-NNN.jsonl[.gz]``
- ``landing_clicks/click_events_<arrival date>_from-<origin date>_part-NNN.csv[.gz]``
  (origin date: the generated day whose records the file holds)
- ``campaigns_csv``, ``users_csv`` (contract headers)
- ``out/kafka/impressions_dNNNN.values.jsonl`` + ``.keys.txt`` per day (one message per
  line, key = raw ``user_id``; empty key line = null key) — what ``produce`` sends
- ``out/kafka/bid_requests_dNNNN.npy`` + ``.malformed.jsonl`` per day and
  ``out/kafka/bid_pools.json`` — bid items, see :mod:`advertisex.generate.bids`
- ``out/manifest.json`` — params, file lists, ``end_ms`` and the default ``now_ms``

A record's *arrival day* picks its file: normally its UTC event date; late records
(``rates.late``) land 1-3 days later, possibly in files dated after the last day.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advertisex.generate.bids import BID_POOLS_FILE
from advertisex.generate.day import Day
from advertisex.generate.formats import DAY_MS, HOUR_MS, day_ms
from advertisex.generate.layout import CLICK_PREFIX, IMPRESSION_PREFIX, KAFKA_DIR, MANIFEST
from advertisex.generate.params import GenerateParams
from advertisex.generate.references import write_references
from advertisex.generate.world import World, bid_pools

NOW_MARGIN_MS = HOUR_MS  # default processing time = end of last day + this


class GenerateError(RuntimeError):
    """The generator cannot write where it was asked to."""


@dataclass
class GenerateResult:
    """What :func:`generate` wrote."""

    impression_files: list[str] = field(default_factory=list)
    click_files: list[str] = field(default_factory=list)
    campaigns_csv: str = ""
    users_csv: str = ""
    kafka_impression_values: list[str] = field(default_factory=list)  # one file per day, in order
    kafka_impression_keys: list[str] = field(default_factory=list)
    bids_files: list[str] = field(default_factory=list)
    manifest: str = ""
    lines: dict[str, int] = field(default_factory=dict)   # records written per stream
    end_ms: int = 0          # end (exclusive) of the last generated day, epoch ms
    now_ms: int = 0          # default processing time for the truth
    seconds: float = 0.0


def clean_outputs(landing_impressions: Path, landing_clicks: Path, out_dir: Path) -> None:
    """Remove files an earlier :func:`generate` wrote (by name pattern) and ``out_dir``'s own folders."""
    for folder, prefix in ((landing_impressions, IMPRESSION_PREFIX), (landing_clicks, CLICK_PREFIX)):
        if folder.is_dir():
            for f in folder.glob(f"{prefix}*"):
                f.unlink()
    for sub in (KAFKA_DIR, "truth", "truth_files_only"):
        if (out_dir / sub).is_dir():
            shutil.rmtree(out_dir / sub)
    if (out_dir / MANIFEST).is_file():
        (out_dir / MANIFEST).unlink()


# what the forked worker processes read (set by _run_days around the pool; fork copies it)
_WORKER_STATE: dict[str, Any] = {}


def _run_day(d: int) -> dict[str, Any]:
    st = _WORKER_STATE
    return Day(st["params"], st["world"], d, st["end_ms"], st["dirs"]).run()


def generate(
    params: GenerateParams,
    *,
    landing_impressions: str | Path,
    landing_clicks: str | Path,
    campaigns_csv: str | Path,
    users_csv: str | Path,
    out_dir: str | Path,
    clean: bool = True,
    workers: int | None = None,
) -> GenerateResult:
    """Write one deterministic data set (see the module docstring for where files land).

    Each generated day is independent (its own seeded RNG and its own files), so days run
    in parallel processes and the bytes do not depend on ``workers``.

    Args:
        params: sizes, dates, rates.
        landing_impressions: folder for impression JSON Lines (``cfg.landing.impressions``).
        landing_clicks: folder for click/conversion CSV (``cfg.landing.clicks``).
        campaigns_csv: campaigns reference file (``cfg.reference.campaigns``).
        users_csv: users reference file (``cfg.reference.users``).
        out_dir: folder for the Kafka payloads, the manifest (and, later, the truth).
        clean: first remove files an earlier run wrote there (by name pattern).
        workers: processes to use (default: CPU count, at most ``params.days``).

    Returns:
        A :class:`GenerateResult` listing every file written.

    Raises:
        GenerateError: a landing folder already holds generated files and ``clean`` is false.
    """
    started = time.perf_counter()
    li, lc, out = Path(landing_impressions), Path(landing_clicks), Path(out_dir)
    if clean:
        clean_outputs(li, lc, out)
    elif any(li.glob(f"{IMPRESSION_PREFIX}*")) or any(lc.glob(f"{CLICK_PREFIX}*")):
        raise GenerateError(f"{li} or {lc} already holds generated files; pass clean=True (--clean)")
    kafka = out / KAFKA_DIR
    for folder in (li, lc, kafka):
        folder.mkdir(parents=True, exist_ok=True)
    world = World(params)
    end_ms = day_ms(params.start_date) + params.days * DAY_MS
    per_day = _run_days(params, world, end_ms, (li, lc, kafka), workers)
    write_references(params, world, Path(campaigns_csv), Path(users_csv))
    (kafka / BID_POOLS_FILE).write_text(json.dumps(bid_pools(params, world)) + "\n", encoding="utf-8")
    res = _result(per_day, campaigns_csv, users_csv, out / MANIFEST, end_ms)
    _write_manifest(params, res)
    res.seconds = time.perf_counter() - started
    return res


def _run_days(params: GenerateParams, world: World, end_ms: int, dirs: tuple[Path, Path, Path],
              workers: int | None) -> list[dict[str, Any]]:
    """Run every day (in forked processes when more than one worker), results in day order."""
    _WORKER_STATE.update(params=params, world=world, end_ms=end_ms, dirs=dirs)
    n_workers = min(workers or os.cpu_count() or 1, params.days)
    try:
        if n_workers > 1:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(n_workers) as pool:
                return pool.map(_run_day, range(params.days), chunksize=1)
        return [_run_day(d) for d in range(params.days)]
    finally:
        _WORKER_STATE.clear()


def _result(per_day: list[dict[str, Any]], campaigns_csv: str | Path, users_csv: str | Path,
            manifest: Path, end_ms: int) -> GenerateResult:
    """The :class:`GenerateResult` of the days' file lists and line counts."""
    lines: dict[str, int] = {}
    for day in per_day:
        for key, value in day["lines"].items():
            lines[key] = lines.get(key, 0) + value
    return GenerateResult(
        impression_files=sorted(f for day in per_day for f in day["impression_files"]),
        click_files=sorted(f for day in per_day for f in day["click_files"]),
        campaigns_csv=str(campaigns_csv),
        users_csv=str(users_csv),
        kafka_impression_values=[day["kafka_impression_values"] for day in per_day],
        kafka_impression_keys=[day["kafka_impression_keys"] for day in per_day],
        bids_files=[day["bids_file"] for day in per_day],
        manifest=str(manifest),
        lines=lines,
        end_ms=end_ms,
        now_ms=end_ms + NOW_MARGIN_MS,
    )


def _write_manifest(params: GenerateParams, res: GenerateResult) -> None:
    """Write ``res.manifest``: the params, the file lists and the instants the truth needs."""
    manifest = {
        "params": params.to_dict(),
        "end_ms": res.end_ms,
        "now_ms": res.now_ms,
        "future_records_after_ms": res.end_ms + params.future_offset_days * DAY_MS,
        "impression_files": res.impression_files,
        "click_files": res.click_files,
        "campaigns_csv": res.campaigns_csv,
        "users_csv": res.users_csv,
        "kafka_impression_values": res.kafka_impression_values,
        "kafka_impression_keys": res.kafka_impression_keys,
        "bids_files": res.bids_files,
        "lines": res.lines,
    }
    Path(res.manifest).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def load_manifest(out_dir: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` a :func:`generate` run wrote into ``out_dir``.

    Raises:
        GenerateError: no manifest there.
    """
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise GenerateError(f"no generated data set at {out_dir} (missing {MANIFEST}); run `advertisex generate`")
    return json.loads(path.read_text(encoding="utf-8"))
