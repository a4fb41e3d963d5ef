"""The bronze sink: a parsed micro-batch into its bronze table, its bad rows into quarantine.

Bronze holds every record, valid or not (``quarantine_reason`` null when valid); rows
with a reason are also appended to ``quarantine``. Both writes are idempotent per batch
(``txnAppId`` + ``txnVersion``), so a replayed batch adds nothing to either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyspark.sql.functions as F

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.faults import crash_point
from advertisex.io.checkpoints import query_of
from advertisex.io.lake import append_batch
from advertisex.monitoring import metrics as M
from advertisex.tables import Table
from advertisex.transforms import bronze as T

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def write_bronze(parsed: DataFrame, cfg: Config, *, table: Table, source: str, app_id: str, batch_id: int) -> None:
    """Append a parsed batch to its bronze table and its bad rows to quarantine, idempotently.

    Each bronze row carries ``ingest_batch`` = ``{app_id}/{batch_id}``. The bronze write
    counts the batch's rows and its bad rows by reason as it goes (``observe`` metrics, no
    extra pass), which the metrics count once; a batch without bad rows writes no
    quarantine commit and reads nothing more. Otherwise the bad rows
    are read back from bronze by that tag (a scan of a few columns, with file skipping on
    ``ingest_batch``) instead of keeping the whole parsed batch in memory or parsing it
    again. A replayed batch (already committed to bronze: Delta skips the write, so nothing
    is counted) quarantines exactly the rows bronze holds for it, which also covers a crash
    between the two commits; the quarantine append is skipped if it had committed.
    """
    reason = F.col("quarantine_reason")
    seen = append_batch(
        parsed.withColumn("ingest_batch", F.lit(f"{app_id}/{batch_id}")), cfg, table, app_id=app_id, version=batch_id,
        observe=(F.count(F.lit(1)).alias("rows"), *(F.count_if(reason == r).alias(r) for r in C.REASONS)),
    )
    replay = seen is None  # a replay's write runs nothing, so nothing is counted
    job, query = query_of(app_id)
    crash_point("bronze_commit", job)
    if not replay:
        M.tally(f"{job}.{query}", records=seen["rows"], quarantined=sum(seen[r] for r in C.REASONS))
        if cfg.monitoring.enabled:
            _count(source, seen)
        if not any(seen[r] for r in C.REASONS):
            return
    if quarantine_batch(parsed.sparkSession, cfg, table=table, source=source, app_id=app_id, batch_id=batch_id,
                        maybe_empty=replay):
        crash_point("quarantine_write", job)


def quarantine_batch(spark: SparkSession, cfg: Config, *, table: Table, source: str, app_id: str,
                     batch_id: int, maybe_empty: bool = True) -> bool:
    """Append the bad rows bronze holds for batch ``{app_id}/{batch_id}`` to quarantine, once
    (skipped when that quarantine commit exists; without ``maybe_empty``, the caller knows the
    batch has bad rows, and no commit is written for a batch without any). Returns whether
    there were bad rows to append."""
    bad = T.to_quarantine(
        spark.read.format("delta").load(cfg.table_path(table))
        .where((F.col("ingest_batch") == f"{app_id}/{batch_id}") & F.col("quarantine_reason").isNotNull()),
        source=source,
    )
    if maybe_empty and bad.isEmpty():
        return False
    append_batch(bad, cfg, tables.QUARANTINE, app_id=app_id, version=batch_id)
    return True


def _count(source: str, seen: dict[str, int]) -> None:
    """Each record of a committed batch counted once: as ingested, and by reason if quarantined."""
    M.RECORDS_INGESTED.labels(source=source).inc(seen["rows"])
    for r in C.REASONS:
        if seen[r]:
            M.RECORDS_QUARANTINED.labels(source=source, reason=r).inc(seen[r])
