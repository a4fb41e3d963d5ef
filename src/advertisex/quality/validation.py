"""Validate a profile with its suite's GX checkpoint; the result rows as stored.

The one way the jobs validate (docs/CONTRACT.md §6): :func:`validate` loads the suite's
checkpoint from the file Data Context, binds the :class:`~advertisex.quality.action.QualityAction`
to this run and runs it with the profile as the batch; the action stores, counts and alerts,
GX's ``UpdateDataDocsAction`` updates the Data Docs.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from advertisex.config import Config
from advertisex.quality import checks as K
from advertisex.quality import project
from advertisex.quality.profile import Profile

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass
class Audit:
    """One validation run of one profile, as the action sees it.

    ``rows``: the result rows the action stored (one per partition and expectation), for
    the caller to act on (e.g. gold's write-audit-publish). ``tables``: for profiles whose
    partitions belong to several tables (reconciliation: one bronze table per source).
    ``sink``: when set, the rows are collected there for the caller to store with others in
    one commit (:func:`store_results`) instead of being written at once.
    """

    spark: SparkSession
    cfg: Config
    run_id: str
    profile: Profile
    table_version: int | None = None
    checked_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    tables: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    sink: list[dict[str, Any]] | None = None

    def table_of(self, partition: str) -> str:
        return self.tables.get(partition, self.profile.suite.table)


def new_run_id(job: str, now: dt.datetime | None = None) -> str:
    """A validation run's id: its UTC time first (so run ids sort by age), the job, a random tail."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}-{job}-{uuid.uuid4().hex[:6]}"


def validate(spark: SparkSession, cfg: Config, prof: Profile, *, run_id: str, table_version: int | None = None,
             tables: Mapping[str, str] | None = None, checked_at: dt.datetime | None = None,
             sink: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Run ``prof.suite``'s checkpoint on ``prof``; returns the result rows the action stored.

    Args:
        spark: the session (the action writes ``quality/results``).
        cfg: the configuration.
        prof: the partitions' profile; nothing runs when it has no partition.
        run_id: this job run's id (:func:`new_run_id`), GX's run name.
        table_version: the Delta version the profile was taken of (None for staged data).
        tables: the table of each partition when not the suite's (reconciliation).
        checked_at: the time stored with the results (default: now).
        sink: collect the result rows here instead of writing them (the caller stores the
            rows of several validations in one commit).

    Returns:
        One row per partition and expectation (``quality/results`` columns, plus
        ``_description`` and ``_event_date``).
    """
    from great_expectations.core.run_identifier import RunIdentifier

    from advertisex.quality.action import QualityAction  # GX's own import: only where a suite runs

    if not prof.values:
        return []
    checkpoint = project.context(cfg).checkpoints.get(prof.suite.name)
    audit = Audit(spark, cfg, run_id, prof, table_version=table_version, tables=dict(tables or {}),
                  checked_at=checked_at or dt.datetime.now(dt.UTC), sink=sink)
    bound = [a for a in checkpoint.actions if isinstance(a, QualityAction)]
    if not bound:
        log.warning("checkpoint %s has no advertisex_quality action: its results are not stored", prof.suite.name)
    for action in bound:
        action.bind(audit)
    try:
        checkpoint.run(batch_parameters={"dataframe": prof.frame()},
                       expectation_parameters={"freshness_hours": cfg.quality.freshness_hours or 0.0},
                       run_id=RunIdentifier(run_name=run_id))
    finally:
        for action in bound:
            action.bind(None)
    project.prune(cfg, prof.suite.name)
    return audit.rows


def failed(rows: list[dict[str, Any]], severity: str = K.CRITICAL) -> dict[str, list[str]]:
    """``{partition: [expectation, ...]}`` of the rows that failed with ``severity``."""
    out: dict[str, list[str]] = {}
    for r in rows:
        if not r["success"] and r["severity"] == severity:
            out.setdefault(r["partition"], []).append(r["expectation"])
    return out
