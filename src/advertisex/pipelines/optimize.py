"""Job ``optimize``: compaction and data skipping, scheduled beside the pipeline.

Streaming micro-batches leave small files (optimized writes are off, see the session
factory), and this job compacts them. Tables analysts filter by campaign
are Z-ordered by ``campaign_id`` within each date partition, so a query for one campaign
reads a fraction of a day's files (Delta's per-file min/max statistics skip the rest).
OPTIMIZE rewrites files without changing content (``dataChange=false``), so streams
reading these tables are not disturbed. ``maintenance.optimize_days`` limits the work
to recent partitions (null = every partition).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from advertisex import tables
from advertisex.config import Config
from advertisex.io.delta import align_table_properties, is_delta
from advertisex.tables import Table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Every partitioned lake table, Z-ordered by its declared columns (none: compaction only).
OPTIMIZE_PLAN: tuple[Table, ...] = tuple(t for t in tables.TABLES if t.partition_by and t.layer != tables.INTERNAL)


def optimize_statement(path: str, zorder: tuple[str, ...], partition: str, since: dt.date | None) -> str:
    """The ``OPTIMIZE`` SQL for one table."""
    sql = f"OPTIMIZE delta.`{path}`"
    if since is not None:
        sql += f" WHERE {partition} >= DATE'{since.isoformat()}'"
    if zorder:
        sql += f" ZORDER BY ({', '.join(zorder)})"
    return sql


def run(spark: SparkSession, cfg: Config, **_: Any) -> dict[str, Any]:
    """Compact every lake table (recent partitions) and Z-order the ones analysts filter."""
    days = cfg.maintenance.optimize_days
    since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days) if days is not None else None
    summary: dict[str, Any] = {}
    for table in OPTIMIZE_PLAN:
        path = cfg.table_path(table)
        if not is_delta(spark, path):
            continue
        # Z-ordering needs statistics on its columns; tables created by an older version may
        # list others (the rewrite below then collects the current ones).
        align_table_properties(spark, path, table)
        metrics = spark.sql(optimize_statement(path, table.zorder, table.partition_by, since)).select(
            "metrics.*").first()
        summary[table.name] = f"files -{metrics.numFilesRemoved} +{metrics.numFilesAdded}"
    return summary
