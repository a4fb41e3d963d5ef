"""The anomaly job's reads and writes: the findings table ``quality/anomalies`` and what a
table's commit history says about its feed (for ``stale_table``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import tables
from advertisex.config import Config
from advertisex.io.delta import is_delta
from advertisex.transforms import anomalies as A
from advertisex.transforms.findings import KEY, OPEN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FINDINGS = tables.ANOMALIES
_TIMES = ("first_seen", "last_seen", "resolved_at")

# How many of a table's latest commits are searched for the last one that added rows; past
# them (compactions, empty batches) the oldest one searched stands in for it.
HISTORY_COMMITS = 100
# Operations that rewrite rows without adding any.
_NO_NEW_ROWS = ("OPTIMIZE", "VACUUM START", "VACUUM END", "DELETE", "UPDATE", "RESTORE", "SET TBLPROPERTIES")


def read_findings(stored: DataFrame | None, dates: Collection[dt.date]) -> list[dict[str, Any]]:
    """driver-side: the stored findings a run can change or must post — the open ones, every
    ``stale_table`` and ``missing_partition`` one, and those of ``dates`` (a handful: a row per
    anomaly ever found), with aware UTC times.

    Args:
        stored: the findings table (None: not created yet).
        dates: the dates the run judges.

    Returns:
        One dict per finding, keyed by the table's columns.
    """
    if stored is None:
        return []
    wanted = (F.col("status") == OPEN) | F.col("rule").isin(A.STALE_TABLE, A.MISSING_PARTITION)
    if dates:
        wanted = wanted | F.col("event_date").isin(sorted(dates))
    # Times leave Spark as epoch microseconds (see _utc).
    rows = stored.where(wanted).select(*[F.unix_micros(c).alias(c) if c in _TIMES else F.col(c)
                                         for c in FINDINGS.columns]).collect()  # driver-side: few findings
    out = []
    for r in rows:
        d = r.asDict()
        for c in _TIMES:
            d[c] = None if d[c] is None else _utc(d[c])
        out.append(d)
    return out


def write_findings(spark: SparkSession, cfg: Config, rows: Sequence[Mapping[str, Any]], *, create: bool) -> None:
    """Upsert ``rows`` into the findings table by :data:`~advertisex.transforms.findings.KEY`
    (null-safe); ``create``: the table does not exist yet and is written now, empty or not, so
    it can be queried. Nothing to write and nothing to create writes nothing (no commit)."""
    if not rows and not create:
        return
    df = spark.createDataFrame([tuple(r.get(c) for c in FINDINGS.columns) for r in rows], FINDINGS.struct())
    path = cfg.table_path(FINDINGS)
    if create:
        df.write.format("delta").mode("append").options(**FINDINGS.write_options).save(path)
        return
    from delta.tables import DeltaTable

    on = " AND ".join(f"t.`{k}` <=> u.`{k}`" for k in KEY)
    DeltaTable.forPath(spark, path).alias("t").merge(df.alias("u"), on).whenMatchedUpdateAll() \
        .whenNotMatchedInsertAll().execute()


def _rows_added(operation: str, metrics: Mapping[str, str] | None) -> int:
    """Rows a commit added, from its ``operationMetrics``."""
    if operation in _NO_NEW_ROWS or not metrics:
        return 0
    if operation == "MERGE":
        return int(metrics.get("numTargetRowsInserted") or 0)
    return int(metrics.get("numOutputRows") or 0)


def delivery(spark: SparkSession, cfg: Config, name: str) -> A.Delivery:
    """What the table ``name`` (under ``lake.root``) last received: the newest commit adding rows,
    and the newest valid event time near it (a day either side; a table without events there
    was not fed live).

    Args:
        spark: the session.
        cfg: the configuration.
        name: a table's name under ``lake.root``, e.g. ``bronze/impressions``.

    Returns:
        The :class:`~advertisex.transforms.anomalies.Delivery`.
    """
    path = cfg.table_path(name)
    if not is_delta(spark, path):
        return A.Delivery(name, exists=False)
    commits = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT {HISTORY_COMMITS}").select(
        F.unix_micros("timestamp").alias("at"), "operation", "operationMetrics",
    ).collect()  # driver-side: the table's last commits
    added = [c.at for c in commits if _rows_added(c.operation, c.operationMetrics) > 0]
    last = max(added) if added else min((c.at for c in commits), default=None)
    if last is None:
        return A.Delivery(name, exists=True)
    last_at = _utc(last)
    table = spark.read.format("delta").load(path)
    if "event_time" not in table.columns:
        return A.Delivery(name, exists=True, last_rows_at=last_at)
    near = table.where(F.col("event_time") <= F.lit(last_at + dt.timedelta(days=1)))
    if "event_date" in table.columns:
        near = near.where(F.col("event_date").between(last_at.date() - dt.timedelta(days=1), last_at.date()))
    if "quarantine_reason" in table.columns:
        near = near.where(F.col("quarantine_reason").isNull())
    newest = near.agg(F.max(F.unix_micros("event_time")).alias("t")).first().t  # driver-side: one value
    return A.Delivery(name, exists=True, last_rows_at=last_at, newest_event=None if newest is None else _utc(newest))


def _utc(micros: int) -> dt.datetime:
    """Epoch microseconds as an aware UTC time (a collected timestamp would be naive, in the driver's zone)."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
