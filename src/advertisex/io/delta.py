"""Delta sinks. Every streaming write is idempotent: ``txnAppId`` + ``txnVersion``.

Delta records the highest ``txnVersion`` committed for each ``txnAppId`` in the table's
log and skips a write whose version is not higher, so a micro-batch replayed after a
crash (same ``batch_id``) adds nothing (Delta docs, "Idempotent table writes in
foreachBatch").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def idempotent_append(
    df: DataFrame,
    path: str,
    *,
    app_id: str,
    version: int,
    partition_by: Sequence[str] = (),
) -> None:
    """Append ``df`` to the Delta table at ``path`` once per ``(app_id, version)``."""
    writer = (
        df.write.format("delta")
        .mode("append")
        .option("txnAppId", app_id)
        .option("txnVersion", str(version))
    )
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def last_txn_version(spark: SparkSession, path: str, app_id: str) -> int | None:
    """The highest ``txnVersion`` committed to ``path`` by ``app_id`` (None if never)."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - Delta exposes txn versions only on the JVM side
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)  # noqa: SLF001
    snapshot = log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())
    txn = snapshot.transactions().get(app_id)
    return int(txn.get()) if txn.isDefined() else None


def is_delta(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)
