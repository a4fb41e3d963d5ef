"""Job ``optimize`` on real Delta tables: compaction and Z-order keep the content."""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from chispa import assert_df_equality

from advertisex import tables
from advertisex.pipelines import optimize


def _files(spark, path: str, date: str) -> int:
    return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first().numFiles if date == "*" else len(
        spark.read.format("delta").load(path).where(f"event_date = DATE'{date}'").inputFiles()
    )


def test_optimize_compacts_zorders_and_keeps_content(spark, lake_cfg):
    path = lake_cfg.table_path(tables.GOLD_CAMPAIGN_DAILY)
    for i in range(6):  # six small appends: six files per partition
        spark.range(i * 50, (i + 1) * 50).select(
            F.format_string("cmp-%04d", (F.col("id") % 7).cast("int")).alias("campaign_id"),
            F.col("id").alias("impressions"),
            F.when(F.col("id") % 2 == 0, F.lit(dt.date(2026, 11, 20))).otherwise(F.lit(dt.date(2026, 11, 21)))
            .alias("event_date"),
        ).coalesce(1).write.format("delta").mode("append").partitionBy("event_date").save(path)
    before = spark.read.format("delta").load(path).collect()
    assert _files(spark, path, "2026-11-20") == 6

    summary = optimize.run(spark, lake_cfg)

    assert summary[tables.GOLD_CAMPAIGN_DAILY.name] == "files -12 +2"
    assert _files(spark, path, "2026-11-20") == 1
    after = spark.read.format("delta").load(path)
    assert_df_equality(after, spark.createDataFrame(before, after.schema), ignore_row_order=True)
    op = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()
    assert op.operation == "OPTIMIZE"
    assert op.operationParameters["zOrderBy"] == '["campaign_id"]'


def test_optimize_zorders_a_table_created_with_other_statistics_columns(spark, lake_cfg):
    # silver/bid_requests as an older version created it: statistics without `exchange`,
    # which Delta refuses to Z-order by (DELTA_ZORDERING_ON_COLUMN_WITHOUT_STATS).
    path = lake_cfg.table_path(tables.SILVER_BID_REQUESTS)
    for i in range(2):
        spark.range(i * 20, (i + 1) * 20).select(
            F.format_string("br-%03d", F.col("id").cast("int")).alias("bid_request_id"),
            F.format_string("ex-%d", (F.col("id") % 3).cast("int")).alias("exchange"),
            F.timestamp_seconds(F.lit(1795651200) + F.col("id")).alias("event_time"),
            F.lit("cmp-0001").alias("campaign_id"),
            F.lit(dt.date(2026, 11, 20)).alias("event_date"),
        ).coalesce(1).write.format("delta").mode("append").option(
            "delta.dataSkippingStatsColumns", "bid_request_id"
        ).partitionBy("event_date").save(path)
    before = spark.read.format("delta").load(path).collect()

    summary = optimize.run(spark, lake_cfg)

    assert summary[tables.SILVER_BID_REQUESTS.name] == "files -2 +1"
    props = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first().properties
    assert props["delta.dataSkippingStatsColumns"] == "event_time,exchange,campaign_id"
    after = spark.read.format("delta").load(path)
    assert_df_equality(after, spark.createDataFrame(before, after.schema), ignore_row_order=True)
