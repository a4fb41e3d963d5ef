"""Gold's transforms on silver tables read from disk: how Spark plans their joins there."""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from chispa import assert_df_equality

from advertisex.transforms.gold import bid_daily
from support import broadcast_scans, executed_plan

D1 = dt.date(2026, 11, 20)
BIDS_SCHEMA = ("bid_request_id string, event_time timestamp, exchange string, bid_price_micros long, won boolean,"
               " clearing_price_micros long")
IMPRESSIONS_SCHEMA = "impression_id string, bid_request_id string"


def test_bid_daily_never_broadcasts_a_silver_table(spark, tmp_path):
    # Tables of a few files, as small as Spark broadcasts by their size on disk: in a running
    # pipeline the day's impressions grow with every batch, and broadcast they outgrew the
    # driver's memory. Gold joins them with the requests without broadcasting either.
    at = dt.datetime(2026, 11, 20, 10)
    spark.createDataFrame([(f"b{i}", at, "ex1", 100, i % 2 == 0, 80) for i in range(50)], BIDS_SCHEMA) \
        .write.format("delta").save(str(tmp_path / "bids"))
    spark.createDataFrame([(f"i{i}", f"b{i}") for i in range(0, 50, 5)], IMPRESSIONS_SCHEMA) \
        .write.format("delta").save(str(tmp_path / "impressions"))
    bids = spark.read.format("delta").load(str(tmp_path / "bids"))
    impressions = spark.read.format("delta").load(str(tmp_path / "impressions"))

    daily = bid_daily(bids, impressions, ids_unique=True)
    plan = executed_plan(daily)
    assert not broadcast_scans(plan), plan
    expected = spark.createDataFrame([(D1, "ex1", 50, 50, 25, 0.5, 80.0, 10)],
                                     "event_date date, exchange string, bid_requests long, bids long, wins long,"
                                     " win_rate double, avg_clearing_price_micros double, impressions_matched long")
    assert_df_equality(daily, expected, ignore_nullable=True)
    # The check itself: Spark's own choice for such tables is to broadcast a scan.
    plain = impressions.join(bids, "bid_request_id").groupBy("exchange").agg(F.count(F.lit(1)))
    assert broadcast_scans(executed_plan(plain)), "not broadcast-sized tables"
