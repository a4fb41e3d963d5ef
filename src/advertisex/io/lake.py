"""Reading and writing the lake's tables (:mod:`advertisex.tables`) by their declaration.

Readers get ``None`` for a table that does not exist yet; writers pass the table's Delta
properties (:attr:`~advertisex.tables.Table.write_options`) and partition column, and
conform their rows to its declared columns.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from advertisex.config import Config
from advertisex.io.checkpoints import query_of
from advertisex.io.delta import idempotent_append, is_delta, latest_commit_text
from advertisex.monitoring import metrics as M
from advertisex.tables import Table
from advertisex.transforms.keys import dates_in

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession


def read_table(spark: SparkSession, cfg: Config, table: Table) -> DataFrame | None:
    """The Delta table at ``lake.root/table``, or None when it does not exist yet."""
    path = cfg.table_path(table)
    return spark.read.format("delta").load(path) if is_delta(spark, path) else None


# The tables read through :func:`read_held`, by Spark application and table: the path and
# commit (version and commit text) each holds, and its cached rows.
_HELD: dict[tuple[str, str], tuple[tuple[str, int, str], DataFrame]] = {}
_HELD_LOCK = threading.Lock()


def read_held(spark: SparkSession, cfg: Config, table: Table) -> DataFrame | None:
    """``table`` as of its latest commit, like :func:`read_table`, but held in Spark's cache until
    a later commit replaces it: for a small table every micro-batch reads (the reference
    dimensions), whose scan would otherwise list the table's files again in each batch (a
    Spark job, waiting for a core like any other).

    Checking for a later commit reads only the table's log folder and newest commit file.
    """
    path = cfg.table_path(table)
    latest = latest_commit_text(spark, path)  # None without a commit: no table yet
    if latest is None:
        return None
    commit = (path, *latest)
    key = (spark.sparkContext.applicationId, table.name)
    with _HELD_LOCK:  # the streams of one driver read the same tables at once
        held = _HELD.get(key)
        if held is None or held[0] != commit:
            if held is not None:
                held[1].unpersist()
            rows = spark.read.format("delta").option("versionAsOf", latest[0]).load(path).persist()
            _HELD[key] = held = (commit, rows)
        return held[1]


def read_or_empty(spark: SparkSession, cfg: Config, table: Table) -> DataFrame:
    """The Delta table at ``lake.root/table``, or no rows in its declared shape when it does not
    exist yet (a feed that has not delivered anything counts as no events, not as unknown)."""
    df = read_table(spark, cfg, table)
    return table.empty(spark) if df is None else df


def distinct_dates(df: DataFrame, column: str = "event_date") -> set[dt.date]:
    """driver-side: the (few) distinct dates of a batch, to name the partitions it touches."""
    return {r[0] for r in df.select(column).distinct().collect() if r[0] is not None}  # driver-side: dates


def replace_partitions(df: DataFrame, cfg: Config, table: Table, dates: Iterable[dt.date]) -> None:
    """Overwrite exactly the ``dates`` partitions of ``table`` with ``df`` (Delta ``replaceWhere``)."""
    dates = set(dates)
    if not dates:
        return
    (
        df.write.format("delta")
        .mode("overwrite")
        .options(**table.write_options)
        .option("replaceWhere", dates_in(table.partition_by, dates))
        .partitionBy(table.partition_by)
        .save(cfg.table_path(table))
    )


# A batch up to this many rows counts as small: its keys may be collected to the driver.
SMALL_BATCH_ROWS = 100_000
# Up to this many rows, :func:`insert_new` broadcasts a batch's ids and probes the table's key
# column with them (one scan of it), instead of shuffling that whole column with the batch: a
# streaming batch stays in this range while the table grows with every batch.
PROBE_BATCH_ROWS = 1_000_000


def count_up_to(df: DataFrame, limit: int | None = None) -> int:
    """driver-side: the rows of ``df``, counted up to ``limit`` + 1 (default
    :data:`SMALL_BATCH_ROWS`; each task stops reading one row past it)."""
    limit = SMALL_BATCH_ROWS if limit is None else limit
    return df.select(F.lit(1)).limit(limit + 1).count()


def is_small(df: DataFrame) -> bool:
    """driver-side: whether ``df`` has at most :data:`SMALL_BATCH_ROWS` rows."""
    return count_up_to(df) <= SMALL_BATCH_ROWS


def can_probe(df: DataFrame) -> bool:
    """driver-side: whether ``df`` has at most :data:`PROBE_BATCH_ROWS` rows (see :func:`insert_new`)."""
    return count_up_to(df, PROBE_BATCH_ROWS) <= PROBE_BATCH_ROWS


def append_batch(df: DataFrame, cfg: Config, table: Table, *, app_id: str, version: int,
                 observe: Sequence[Column] = ()) -> dict[str, Any] | None:
    """Append a micro-batch to ``table``, once per ``(app_id, version)`` (see
    :func:`~advertisex.io.delta.idempotent_append`, which also explains ``observe``).

    The rows appended (and their newest valid event time) are observed too: tallied for the
    query's summary and, with ``monitoring.enabled``, recorded in the metrics, but not
    returned: the caller gets what it asked for. A replay appends and records nothing.
    """
    partition_by = [table.partition_by] if table.partition_by else []
    seen = idempotent_append(df, cfg.table_path(table), app_id=app_id, version=version, partition_by=partition_by,
                             options=table.write_options, observe=(*observe, *_write_metrics(table)))
    if seen is None:
        return None
    job, query = query_of(app_id)
    rows, newest = seen.pop("_rows"), seen.pop("_newest", None)
    M.tally(f"{job}.{query}", rows_written=rows)
    if cfg.monitoring.enabled:
        M.record_write(table.name, rows, newest, query=f"{job}.{query}")
        M.LAST_SUCCESS.labels(job=job).set(time.time())
    return seen if observe else None


def newest_event_time(spark: SparkSession, cfg: Config, table: Table) -> dt.datetime | None:
    """driver-side: the newest valid event time in ``table`` (its latest date partition only),
    None when it does not exist or holds none."""
    df = read_table(spark, cfg, table)
    if df is None or "event_time" not in table.columns:
        return None
    last = df.agg(F.max(table.partition_by)).first()[0]
    if last is None:
        return None
    rows = df.where(F.col(table.partition_by) == F.lit(last))
    if "quarantine_reason" in table.columns:
        rows = rows.where(F.col("quarantine_reason").isNull())
    return rows.agg(F.max("event_time")).first()[0]


def _write_metrics(table: Table) -> tuple[Column, ...]:
    """Aggregates every append observes: its rows, and the newest event time of its valid rows."""
    out = [F.count(F.lit(1)).alias("_rows")]
    if "event_time" in table.columns:
        time = F.col("event_time")
        if "quarantine_reason" in table.columns:  # bronze: a quarantined time may be anything
            time = F.when(F.col("quarantine_reason").isNull(), time)
        out.append(F.max(time).alias("_newest"))
    return tuple(out)


def insert_new(df: DataFrame, cfg: Config, table: Table, key: str, *, app_id: str, version: int,
               probe: bool = False, distinct_keys: DataFrame | None = None,
               also_in: Sequence[Table] = (), observe: Sequence[Column] = ()) -> dict[str, Any] | None:
    """Append the rows of ``df`` whose ``key`` is not yet in ``table`` (nor in the tables
    ``also_in``, which share its ids), once per ``(app_id, version)``.

    An anti-join against the table's keys (:func:`not_in`) and an idempotent append: a
    replayed batch is skipped by Delta's ``txnAppId``/``txnVersion``, and an id already in
    silver (from another file, batch or restart) is not inserted again. This assumes one
    writer per silver table (its silver stream); unlike a MERGE, two writers inserting the
    same new id at once would not conflict. An append also commits in a fraction of a
    MERGE's time (no touched-file bookkeeping), which is most of a small late batch's cost.

    ``probe``, ``distinct_keys``: how the table's keys are matched (see
    :func:`not_in`). ``observe``: aggregate columns (e.g. ``F.collect_set("event_date")``)
    over the rows actually appended, returned by name; None for a replay.
    """
    spark = df.sparkSession
    held = [p for p in (cfg.table_path(t) for t in (table, *also_in)) if is_delta(spark, p)]
    if held:
        existing = reduce(DataFrame.unionByName, (spark.read.format("delta").load(p).select(key) for p in held))
        df = not_in(df, existing, key, probe=probe, distinct_keys=distinct_keys)
    return append_batch(df, cfg, table, app_id=app_id, version=version, observe=observe)


def among(existing: DataFrame, keys: DataFrame, key: str) -> DataFrame:
    """The rows of ``existing`` (a table's, growing with every batch) whose ``key`` is among
    ``keys`` (one row per key, at most :data:`PROBE_BATCH_ROWS`): ``keys`` are broadcast and
    ``existing`` is probed with them in one scan, neither shuffled nor broadcast itself (its
    compressed files make Spark's estimate of it far smaller than its ids are in memory)."""
    return existing.join(F.broadcast(keys), key, "left_semi")


def not_in(df: DataFrame, existing: DataFrame, key: str, *, probe: bool = False,
           distinct_keys: DataFrame | None = None) -> DataFrame:
    """The rows of ``df`` whose ``key`` is not among ``existing``'s (a table's key column).

    ``probe`` (the caller knows ``df`` has at most :data:`PROBE_BATCH_ROWS` rows): the
    batch's ids are broadcast and ``existing`` is probed with them in one scan, and only
    the ids found there are anti-joined. Otherwise ``existing`` is shuffled with the batch
    (sort-merge, never broadcast: a table's compressed files make Spark's estimate of it far
    smaller than its ids are in memory, and it grows with every batch). ``distinct_keys``
    (``df``'s keys, one row each, when the caller's plan has them already): the probe
    broadcasts these instead of aggregating ``df``'s keys again.
    """
    if not probe:
        return df.join(existing.hint("merge"), key, "left_anti").select(*df.columns)
    found = among(existing, df.select(key).distinct() if distinct_keys is None else distinct_keys, key)
    return df.join(F.broadcast(found), key, "left_anti").select(*df.columns)
