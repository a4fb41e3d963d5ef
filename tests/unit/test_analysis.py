"""The report's and notebooks' figures (advertisex.analysis) on small gold, silver and quality tables."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from advertisex import analysis as A
from advertisex import contract as C
from advertisex import tables

D1, D2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)
T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

CAMPAIGN_METRICS = (
    "impressions long, clicks long, unattributed_clicks long, conversions long, view_through_conversions long, "
    "ctr double, cvr double, spend double, cpc double, cpa double"
)


def gold(spark, table, rows, columns):
    """``rows`` of ``columns`` as ``table`` (its other columns null)."""
    return table.conform(spark.createDataFrame(rows, columns))


@pytest.fixture()
def daily(spark):
    cols = ("event_date date, campaign_id string, campaign_name string, impressions long, clicks long, "
            "unattributed_clicks long, conversions long, view_through_conversions long, spend_micros long")
    return gold(spark, tables.GOLD_CAMPAIGN_DAILY, [
        (D1, "c1", "Old name", 10, 3, 1, 1, 2, 2_500_000),
        (D2, "c1", "New name", 30, 1, 0, 0, 1, 1_500_000),
        (D1, "c2", "Two", 20, 0, 4, 0, 0, 7_000_000),
        (D2, "c3", None, 0, 0, 0, 0, 0, 0),
    ], cols)


def test_campaign_metrics_per_gold_row_are_golds_ratios(spark, daily):
    got = A.campaign_metrics(daily, "event_date", "campaign_id")
    expected = spark.createDataFrame([
        (D1, "c1", 10, 3, 1, 1, 2, 3 / 10, 1 / 3, 2.5, 2.5 / 3, 2.5 / 1),
        (D1, "c2", 20, 0, 4, 0, 0, 0 / 20, None, 7.0, None, None),
        (D2, "c1", 30, 1, 0, 0, 1, 1 / 30, 0 / 1, 1.5, 1.5 / 1, None),
        (D2, "c3", 0, 0, 0, 0, 0, None, None, 0.0, None, None),
    ], f"event_date date, campaign_id string, {CAMPAIGN_METRICS}")
    assert_df_equality(got, expected, ignore_nullable=True)


def test_traffic_and_spend_by_day_sum_the_campaigns(spark, daily):
    assert_df_equality(A.traffic_by_day(daily), spark.createDataFrame(
        [(D1, 30, 3, 3 / 30), (D2, 30, 1, 1 / 30)], "event_date date, impressions long, clicks long, ctr double"),
        ignore_nullable=True)
    assert_df_equality(A.spend_by_day(daily), spark.createDataFrame(
        [(D1, 9.5, 3, 1, 9.5 / 3, 9.5 / 1), (D2, 1.5, 1, 0, 1.5 / 1, None)],
        "event_date date, spend double, clicks long, conversions long, cpc double, cpa double"), ignore_nullable=True)


def test_traffic_by_hour_starts_each_hour_in_utc(spark):
    hourly = gold(spark, tables.GOLD_CAMPAIGN_HOURLY, [
        (D1, 23, "c1", 4, 1), (D1, 23, "c2", 4, 1), (D2, 0, "c1", 5, 0), (D1, 0, "c1", 0, 0),
    ], "event_date date, event_hour int, campaign_id string, impressions long, clicks long")
    expected = spark.createDataFrame([
        (dt.datetime(2026, 11, 20, 0, tzinfo=dt.UTC), 0, 0, None),
        (dt.datetime(2026, 11, 20, 23, tzinfo=dt.UTC), 8, 2, 2 / 8),
        (dt.datetime(2026, 11, 21, 0, tzinfo=dt.UTC), 5, 0, 0 / 5),
    ], "hour timestamp, impressions long, clicks long, ctr double")
    assert_df_equality(A.traffic_by_hour(hourly), expected, ignore_nullable=True)


def test_top_campaigns_by_spend_with_the_newest_name(spark, daily):
    expected = spark.createDataFrame([
        ("c1", "New name", 40, 4, 1, 1, 3, 4 / 40, 1 / 4, 4.0, 4.0 / 4, 4.0 / 1),
        ("c2", "Two", 20, 0, 4, 0, 0, 0 / 20, None, 7.0, None, None),
    ], f"campaign_id string, campaign_name string, {CAMPAIGN_METRICS}")
    # c2 spent 7.0, c1 4.0: c2 first; only two asked for, so c3 (nothing spent) is left out.
    assert_df_equality(A.top_campaigns(daily, n=2), expected.orderBy("spend", ascending=False), ignore_nullable=True)


def test_attribution_funnel(spark, daily):
    expected = spark.createDataFrame([
        ("impressions", 60, None), ("attributed clicks", 4, 4 / 60), ("post-click conversions", 1, 1 / 4),
        ("post-view conversions", 3, 3 / 60),
    ], "stage string, events long, rate double")
    assert_df_equality(A.attribution_funnel(daily), expected, ignore_nullable=True)


def test_attribution_funnel_without_gold_rows_has_no_stages(spark, daily):
    assert A.attribution_funnel(tables.GOLD_CAMPAIGN_DAILY.empty(spark)).collect() == []
    # Rows without any impression still make a funnel: of zeros, without rates.
    got = A.attribution_funnel(daily.where("campaign_id = 'c3'"))
    assert [tuple(r) for r in got.collect()] == [
        ("impressions", 0, None), ("attributed clicks", 0, None), ("post-click conversions", 0, None),
        ("post-view conversions", 0, None)]


@pytest.fixture()
def clicks(spark):
    imp, last, none = C.ATTRIBUTION_IMPRESSION_ID, C.ATTRIBUTION_LAST_IMPRESSION, C.ATTRIBUTION_NONE
    return tables.SILVER_CLICKS.conform(spark.createDataFrame([
        ("k1", imp, 9_999), ("k2", imp, 10_000), ("k3", imp, 20_000), ("k4", last, 40_000),
        ("k5", last, 1_800_000), ("k6", imp, 30_000), ("k7", none, None),
    ], "event_id string, attribution_kind string, attribution_lag_ms long"))


def test_attribution_delay_buckets(spark, clicks):
    expected = spark.createDataFrame([
        ("impression_id", "< 10 s", 1), ("impression_id", "10-30 s", 2), ("impression_id", "30-60 s", 1),
        ("last_impression", "30-60 s", 1), ("last_impression", "≥ 30 min", 1),
    ], "attribution_kind string, delay string, events long")
    assert_df_equality(A.attribution_delay(clicks), expected, ignore_nullable=True)


def test_attribution_delay_summary(clicks):
    got = {r.attribution_kind: r.asDict() for r in A.attribution_delay_summary(clicks).collect()}
    assert set(got) == {"impression_id", "last_impression"}
    # 9.999, 10, 20, 30 s: the median halfway between 10 and 20; p90 at 2.7 of 0..3, 30% of the way from 20 to 30
    assert got["impression_id"]["events"] == 4
    assert got["impression_id"]["median_seconds"] == pytest.approx(15.0)
    assert got["impression_id"]["p90_seconds"] == pytest.approx(27.0)
    assert got["last_impression"]["median_seconds"] == pytest.approx(920.0)


def test_win_rate_by_exchange_weights_the_daily_clearing_prices_by_wins(spark):
    bid_daily = gold(spark, tables.GOLD_BID_DAILY, [
        (D1, "adx", 10, 8, 2, 100.0), (D2, "adx", 10, 4, 6, 200.0), (D1, "ob", 5, 0, 0, None),
    ], "event_date date, exchange string, bid_requests long, bids long, wins long, avg_clearing_price_micros double")
    expected = spark.createDataFrame([
        ("adx", 20, 12, 8, 8 / 12, (2 * 100.0 + 6 * 200.0) / 8), ("ob", 5, 0, 0, None, None),
    ], "exchange string, bid_requests long, bids long, wins long, win_rate double, avg_clearing_price_micros double")
    assert_df_equality(A.win_rate_by_exchange(bid_daily), expected, ignore_nullable=True)


def test_bid_prices_by_exchange(spark):
    bids = tables.SILVER_BID_REQUESTS.conform(spark.createDataFrame([
        ("b1", "adx", 100, 150, True, 120),
        ("b2", "adx", 300, 350, True, 600),
        ("b3", "adx", 200, None, False, None),
        ("b4", "adx", 0, 90, True, 50),
        ("b5", "ob", 50, 40, False, None),
    ], "bid_request_id string, exchange string, floor_price_micros long, bid_price_micros long, won boolean, "
       "clearing_price_micros long"))
    expected = spark.createDataFrame([
        ("adx", 4, 600 / 4, 590 / 3, 400 / 3, 770 / 3, (120 / 100 + 600 / 300) / 2),
        ("ob", 1, 50.0, 40.0, None, None, None),
    ], "exchange string, bid_requests long, avg_floor_price_micros double, avg_bid_price_micros double, "
       "avg_won_floor_price_micros double, avg_clearing_price_micros double, clearing_to_floor double")
    assert_df_equality(A.bid_prices_by_exchange(bids), expected, ignore_nullable=True)


def test_quarantine_by_reason(spark):
    quarantine = tables.QUARANTINE.conform(spark.createDataFrame([
        ("impressions", "bad_json", D1), ("impressions", "bad_json", D1), ("click_events", "bad_csv", D1),
        ("impressions", "bad_json", D2),
    ], "source string, reason string, ingest_date date"))
    expected = spark.createDataFrame([
        (D1, "click_events", "bad_csv", 1), (D1, "impressions", "bad_json", 2), (D2, "impressions", "bad_json", 1),
    ], "ingest_date date, source string, reason string, records long")
    assert_df_equality(A.quarantine_by_reason(quarantine), expected, ignore_nullable=True)


@pytest.fixture()
def results(spark):
    t1, t2 = T0, T0 + dt.timedelta(hours=1)
    return tables.QUALITY_RESULTS.conform(spark.createDataFrame([
        # fixed since: the latest result passes
        ("r1", t1, "silver/clicks", "2026-11-20", "ids_unique", "critical", False, 3.0),
        ("r2", t2, "silver/clicks", "2026-11-20", "ids_unique", "critical", True, 0.0),
        # still failing
        ("r2", t2, "silver/clicks", "2026-11-21", "ids_unique", "critical", False, 1.0),
        ("r2", t2, "gold/campaign_daily", "2026-11-20", "ctr_at_most_1", "warning", False, 0.05),
        ("r2", t2, "gold/campaign_daily", "2026-11-20", "rows", "warning", True, 9.0),
    ], "run_id string, checked_at timestamp, table string, partition string, expectation string, severity string, "
       "success boolean, observed_value double"))


def test_quality_summary_counts_the_latest_results(spark, results):
    expected = spark.createDataFrame([
        ("gold/campaign_daily", "warning", 1, 1), ("silver/clicks", "critical", 1, 1),
    ], "table string, severity string, passed long, failed long")
    assert_df_equality(A.quality_summary(results), expected, ignore_nullable=True)


def test_failing_checks_are_the_open_findings_critical_first(results):
    got = [(r.table, r.partition, r.expectation, r.observed_value) for r in A.failing_checks(results).collect()]
    assert got == [("silver/clicks", "2026-11-21", "ids_unique", 1.0),
                   ("gold/campaign_daily", "2026-11-20", "ctr_at_most_1", 0.05)]


@pytest.fixture()
def anomalies(spark):
    return tables.ANOMALIES.conform(spark.createDataFrame([
        ("impressions_drop", "critical", D1, 19, None, "open", "hour 19 dropped"),
        ("impressions_drop", "warning", D1, 19, "c1", "open", "c1 hour 19 dropped"),
        ("ctr_spike", "warning", D2, 3, "c2", "open", "c2 spiked"),
        ("ctr_spike", "warning", D1, 5, "c2", "resolved", "filled in later"),
    ], "rule string, severity string, event_date date, event_hour int, campaign_id string, status string, "
       "summary string"))


def test_anomalies_by_rule(spark, anomalies):
    expected = spark.createDataFrame([
        ("ctr_spike", "warning", "open", 1), ("ctr_spike", "warning", "resolved", 1),
        ("impressions_drop", "critical", "open", 1), ("impressions_drop", "warning", "open", 1),
    ], "rule string, severity string, status string, findings long")
    assert_df_equality(A.anomalies_by_rule(anomalies), expected, ignore_nullable=True)


def test_open_anomalies_newest_first(anomalies):
    got = [r.summary for r in A.open_anomalies(anomalies).collect()]
    assert got == ["c2 spiked", "hour 19 dropped", "c1 hour 19 dropped"]
