"""``quality/results``: storing the validations' rows; what was validated, and which findings
are still open.

A finding is a ``(table, partition, expectation)``; it is open while its latest result
failed. A gold partition withheld by a critical failure stays open until a later gold run
validates it clean; a silver partition until it changes and validates clean; a
reconciliation batch until a re-check balances.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F
from pyspark.sql import Window

from advertisex import tables
from advertisex.config import Config
from advertisex.io.lake import read_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RESULTS = tables.QUALITY_RESULTS
# Always on, gold's audit and the quality job store results from two threads of one driver:
# the first commits to a table not created yet conflict in Delta (a concurrent protocol
# change), so this process's appends take turns.
_APPENDS = threading.Lock()


def store_results(spark: SparkSession, cfg: Config, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to ``quality/results`` in one commit (nothing for no rows)."""
    if not rows:
        return
    data = [tuple(r[c] for c in RESULTS.columns) for r in rows]
    with _APPENDS:
        (spark.createDataFrame(data, RESULTS.struct()).write.format("delta").mode("append")
         .options(**RESULTS.write_options).save(cfg.table_path(RESULTS)))


def latest(results: DataFrame) -> DataFrame:
    """The latest result of each ``(table, partition, expectation)``."""
    w = Window.partitionBy("table", "partition", "expectation").orderBy(F.col("checked_at").desc(),
                                                                         F.col("run_id").desc())
    return results.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")


def open_findings(spark: SparkSession, cfg: Config) -> list[dict[str, Any]]:
    """driver-side: the latest result of every finding that still fails (few rows)."""
    results = read_table(spark, cfg, RESULTS)
    if results is None:
        return []
    rows = latest(results).where("NOT success").collect()  # driver-side: open findings only
    return [r.asDict() for r in rows]


def validated_versions(spark: SparkSession, cfg: Config, suites: list[str]) -> dict[str, int]:
    """driver-side: the newest Delta version of each table validated by one of ``suites``."""
    results = read_table(spark, cfg, RESULTS)
    if results is None:
        return {}
    got = (results.where(F.col("suite").isin(suites) & F.col("table_version").isNotNull())
           .groupBy("table").agg(F.max("table_version").alias("v")).collect())  # driver-side: one row per table
    return {r.table: int(r.v) for r in got}
