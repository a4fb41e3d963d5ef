"""Job ``quality``: Great Expectations suites on real Delta gold tables; critical failures raise."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal

import pytest

from advertisex import tables
from advertisex.errors import DataQualityError
from advertisex.pipelines import quality
from advertisex.pipelines.quality import RESULTS, VALIDATED_PREFIX, validate

SCHEMA = (
    "event_date date, campaign_id string, advertiser_id string, campaign_name string, impressions long, "
    "clicks long, unattributed_clicks long, conversions long, view_through_conversions long, "
    "spend_micros long, conversion_value decimal(28,6), ctr double, cvr double"
)
D = dt.date(2026, 11, 20)


def _row(campaign: str, impressions: int = 10, clicks: int = 1) -> tuple:
    return (D, campaign, "adv", "name", impressions, clicks, 0, 0, 0, 100, Decimal(0), clicks / impressions, 0.0)


def test_good_gold_passes_and_rerun_reuses_results(spark, lake_cfg):
    spark.createDataFrame([_row("c1"), _row("c2")], SCHEMA).write.format("delta").partitionBy("event_date").save(
        lake_cfg.table_path(tables.GOLD_CAMPAIGN_DAILY))
    first = quality.run(spark, lake_cfg)
    assert first["failed_critical"] == 0 and first["validated_now"] == first["expectations"] > 10
    stored = spark.read.format("delta").load(lake_cfg.table_path(RESULTS)).count()
    again = quality.run(spark, lake_cfg)
    assert again["validated_now"] == 0
    assert spark.read.format("delta").load(lake_cfg.table_path(RESULTS)).count() == stored


def _last_meta(spark, cfg) -> str:
    return spark.sql(f"DESCRIBE HISTORY delta.`{cfg.table_path(RESULTS)}` LIMIT 1").first().userMetadata or ""


def test_a_new_gold_version_is_validated_and_recorded(spark, lake_cfg):
    gold = lake_cfg.table_path(tables.GOLD_CAMPAIGN_DAILY)
    spark.createDataFrame([_row("c1")], SCHEMA).write.format("delta").partitionBy("event_date").save(gold)
    first = quality.run(spark, lake_cfg)
    assert first["validated_now"] == first["expectations"]
    assert _last_meta(spark, lake_cfg) == VALIDATED_PREFIX + json.dumps({tables.GOLD_CAMPAIGN_DAILY.name: 0})

    # Gold moves on (version 1, now with a duplicate key): validated again, and it fails.
    spark.createDataFrame([_row("c1")], SCHEMA).write.format("delta").mode("append").save(gold)
    with pytest.raises(DataQualityError):
        quality.run(spark, lake_cfg)
    assert _last_meta(spark, lake_cfg) == VALIDATED_PREFIX + json.dumps({tables.GOLD_CAMPAIGN_DAILY.name: 1})
    failed = spark.read.format("delta").load(lake_cfg.table_path(RESULTS)).where("table_version = 1 AND NOT success")
    assert {r.expectation for r in failed.collect()} == {"expect_compound_columns_to_be_unique"}
    # The rerun reuses the stored results of version 1 (still failing) and writes nothing.
    results_version = spark.sql(f"DESCRIBE HISTORY delta.`{lake_cfg.table_path(RESULTS)}` LIMIT 1").first().version
    with pytest.raises(DataQualityError):
        quality.run(spark, lake_cfg)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{lake_cfg.table_path(RESULTS)}` LIMIT 1").first().version == (
        results_version)


def test_results_without_recorded_versions_are_still_reused(spark, lake_cfg):
    """Results written by an older version (no versions in the commit metadata) are found by
    scanning them, as before."""
    spark.createDataFrame([_row("c1")], SCHEMA).write.format("delta").partitionBy("event_date").save(
        lake_cfg.table_path(tables.GOLD_CAMPAIGN_DAILY))
    quality.run(spark, lake_cfg)
    results = spark.read.format("delta").load(lake_cfg.table_path(RESULTS))
    results.localCheckpoint().write.format("delta").mode("overwrite").save(lake_cfg.table_path(RESULTS))
    assert _last_meta(spark, lake_cfg) == ""
    assert quality.run(spark, lake_cfg)["validated_now"] == 0


@pytest.fixture(params=["pandas", "spark"])
def engine(request, monkeypatch):
    """Run the quality job with GX's pandas engine (small gold) or its Spark engine."""
    if request.param == "spark":
        monkeypatch.setattr(quality, "PANDAS_MAX_ROWS", 0)
    return request.param


def test_duplicate_key_and_negative_count_are_critical(spark, lake_cfg, engine):
    spark.createDataFrame([_row("c1"), _row("c1"), _row("c3", impressions=-5)], SCHEMA).write.format(
        "delta").partitionBy("event_date").save(lake_cfg.table_path(tables.GOLD_CAMPAIGN_DAILY))
    with pytest.raises(DataQualityError, match="critical data-quality check"):
        quality.run(spark, lake_cfg)
    failed = {
        r.expectation
        for r in spark.read.format("delta").load(lake_cfg.table_path(RESULTS)).where("NOT success").collect()
    }
    assert {"expect_compound_columns_to_be_unique", "expect_column_values_to_be_between"} <= failed


BID_SCHEMA = (
    "event_date date, exchange string, bid_requests long, bids long, wins long, win_rate double, "
    "avg_clearing_price_micros double, impressions_matched long"
)


@pytest.mark.parametrize(
    ("table", "schema", "rows"),
    [
        (
            tables.GOLD_CAMPAIGN_DAILY,
            SCHEMA,
            [
                _row("c1"), _row("c1"), _row("c2", impressions=-5), _row("c3", impressions=2, clicks=3),
                (D, None, "adv", None, 1, 0, 0, None, 0, -1, Decimal("-0.5"), 0.0, None),
                (None, "c4", "adv", None, 5, 1, 1, 2, 1, 7, Decimal("1.25"), 0.2, 2.0),
            ],
        ),
        (
            tables.GOLD_BID_DAILY,
            BID_SCHEMA,
            [
                (D, "x1", 10, 5, 2, 0.4, 1500.0, 2),
                (D, "x1", 10, 5, 2, 0.4, None, 2),
                (D, None, -1, 0, 0, None, None, 0),
                (None, "x2", 3, 3, 4, 1.33, 10.0, -2),
            ],
        ),
    ],
)
def test_pandas_and_spark_engines_give_the_same_results(spark, table, schema, rows, caplog):
    """Every expectation of the suite (passing and failing, with its unexpected count) comes
    out the same whichever GX engine runs it; the rows break most of them."""
    df = spark.createDataFrame(rows, schema)
    caplog.set_level(logging.INFO, logger=quality.__name__)

    def engine_used() -> str:
        used = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"quality {table.name}: GX")]
        caplog.clear()
        return used[-1].split("GX ")[1].split(" ")[0]

    by_spark = validate(table, df, quality._suites()[table], pandas_max_rows=0)
    assert engine_used() == "Spark"
    by_pandas = validate(table, df, quality._suites()[table], pandas_max_rows=len(rows))
    assert engine_used() == "pandas"
    assert by_pandas == by_spark
    assert sum(not r["success"] for r in by_spark) >= 5
    # One row more than the limit: the Spark engine runs (same results again).
    assert validate(table, df, quality._suites()[table], pandas_max_rows=len(rows) - 1) == by_spark
    assert engine_used() == "Spark"
