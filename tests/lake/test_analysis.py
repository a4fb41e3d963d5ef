"""Freshness (advertisex.analysis.freshness) from the Delta logs of real tables."""

from __future__ import annotations

import datetime as dt

from advertisex import analysis as A
from advertisex import tables


def test_freshness_is_each_tables_latest_commit(spark, lake_cfg):
    bids = tables.GOLD_BID_DAILY.conform(spark.createDataFrame([(dt.date(2026, 11, 20), "adx")],
                                                               "event_date date, exchange string"))
    path = lake_cfg.table_path(tables.GOLD_BID_DAILY)
    bids.write.format("delta").save(path)
    bids.write.format("delta").mode("append").save(path)
    committed = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first().timestamp

    later = dt.datetime.fromtimestamp(committed.timestamp() + 5400, dt.UTC)  # 90 minutes after it
    rows = [r.asDict() for r in A.freshness(spark, lake_cfg, now=later).collect()]

    assert rows == [{"table": "gold/bid_daily", "version": 1, "operation": "WRITE", "last_commit": committed,
                     "age_hours": 1.5}]
