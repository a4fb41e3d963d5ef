"""The SQL catalog: every lake table that exists, by name."""

from __future__ import annotations

import datetime as dt

from advertisex import tables
from advertisex.catalog import _registered_location, register_tables


def test_tables_registered_by_name(spark, lake_cfg):
    path = lake_cfg.table_path(tables.GOLD_BID_DAILY)
    spark.createDataFrame([(dt.date(2026, 11, 20), "adx", 3)], "event_date date, exchange string, wins long") \
        .write.format("delta").partitionBy("event_date").save(path)
    names = register_tables(spark, lake_cfg)
    assert names == ["gold.bid_daily"]
    assert spark.sql("SELECT exchange, wins FROM gold.bid_daily").collect()[0].asDict() == {"exchange": "adx", "wins": 3}
    assert register_tables(spark, lake_cfg) == ["gold.bid_daily"]  # idempotent
    assert _registered_location(spark, "gold.bid_daily").removeprefix("file:") == path
