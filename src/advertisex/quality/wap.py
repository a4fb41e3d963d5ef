"""Write-audit-publish for gold (docs/CONTRACT.md §6): audit staged partitions before they are published.

The ``gold`` job computes the dates it must recompute into staged DataFrames
(``localCheckpoint``: computed once, read by the audit and by the write), and
:func:`audit` validates each table's staged dates with its suite: one profile pass over
the staged rows, the previous days' row counts from the published table, one GX
checkpoint run. The three tables' results are stored in one ``quality/results`` commit,
before anything is published. It returns the dates with a critical failure; the job
publishes the others and keeps those (see :mod:`advertisex.pipelines.gold`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from advertisex import tables
from advertisex.config import Config
from advertisex.io.lake import read_table
from advertisex.quality import checks as K
from advertisex.quality.profile import NULL_PARTITION, profile
from advertisex.quality.results import store_results
from advertisex.quality.validation import failed, validate
from advertisex.tables import Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def known_campaigns(spark: SparkSession, cfg: Config) -> list[str] | None:
    """driver-side: every campaign id ``silver/dim_campaigns`` holds (any version); None
    without the dimension."""
    dim = read_table(spark, cfg, tables.DIM_CAMPAIGNS)
    if dim is None:
        return None
    return sorted(r[0] for r in dim.select("campaign_id").distinct().collect()  # driver-side: a few hundred ids
                  if r[0] is not None)


def no_audit() -> dict[str, Any]:
    """The verdict of an audit that validated nothing (the shape :func:`audit` returns)."""
    return {K.CRITICAL: {}, K.WARNING: {}, "seconds": {"profile": 0.0, "gx": 0.0, "store": 0.0}}


def audit(spark: SparkSession, cfg: Config, staged: Mapping[Table, tuple[DataFrame, Iterable[dt.date]]], *,
          run_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Validate each gold table's staged dates before they are published.

    Args:
        spark: the session.
        cfg: the configuration.
        staged: ``{table: (staged rows, dates to publish)}``.
        run_id: the gold run's id.
        now: the time freshness is measured at (default: now).

    Returns:
        ``{"critical": {table name: dates}, "warning": {table name: dates}, "seconds":
        {"profile": s, "gx": s, "store": s}}``: the dates whose validation failed a critical
        (must not be published) or only a warning check, and the time spent profiling, in GX's
        checkpoints and storing the results in ``quality/results``.
    """
    known = known_campaigns(spark, cfg)
    out = no_audit()
    stored: list[dict[str, Any]] = []  # every table's results in one commit, before anything is published
    for table, (df, dates) in staged.items():
        dates = set(dates)
        if not dates:
            continue
        t0 = time.monotonic()
        # Gold is computed from silver rows of these dates only, so no staged row lacks a date.
        prof = profile(df, K.suite_of(table), dates, history=read_table(spark, cfg, table),
                       known_campaigns=known, now=now, freshness_hours=cfg.quality.freshness_hours)
        t1 = time.monotonic()
        rows = validate(spark, cfg, prof, run_id=run_id, sink=stored)
        out["seconds"]["profile"] += t1 - t0
        out["seconds"]["gx"] += time.monotonic() - t1
        for severity in (K.CRITICAL, K.WARNING):
            bad = {dt.date.fromisoformat(p) for p in failed(rows, severity) if p != NULL_PARTITION}
            if bad:
                out[severity][table.name] = bad
    t0 = time.monotonic()
    store_results(spark, cfg, stored)
    out["seconds"]["store"] += time.monotonic() - t0
    return out
