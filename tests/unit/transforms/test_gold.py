"""Gold aggregates (docs/CONTRACT.md §3) on a small hand-computed example."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from advertisex import contract as C
from advertisex import tables
from advertisex.transforms.dates import bid_dates_of_impressions
from advertisex.transforms.gold import (
    GOLD_CAMPAIGN_HOURLY_COLUMNS,
    bid_daily,
    campaign_daily,
    campaign_daily_from_hourly,
    campaign_hourly,
)
from support import executed_plan

UTC = dt.UTC
D1, D2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


def at(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC)


IMPRESSIONS_SCHEMA = "impression_id string, event_time timestamp, campaign_id string, cost_micros long, bid_request_id string"
CLICKS_SCHEMA = "event_id string, event_time timestamp, campaign_id string, attribution_kind string"
CONVERSIONS_SCHEMA = (
    "event_id string, event_time timestamp, campaign_id string, attribution_kind string,"
    " conversion_value decimal(18,6)"
)
CAMPAIGNS_SCHEMA = "campaign_id string, advertiser_id string, campaign_name string, channel string"

IMPRESSIONS = [
    ("i1", at(D1, 10), "c-A", 1000, None),
    ("i2", at(D1, 11), "c-A", None, None),  # null cost counts as 0
    ("i3", at(D1, 23, 50), "c-A", 500, None),
    ("i4", at(D1, 12), "c-B", 2000, None),
    ("i5", at(D2, 9), "c-Z", 300, None),  # c-Z is not in the reference
]
CLICKS = [
    ("k1", at(D1, 10, 5), "c-A", C.ATTRIBUTION_LAST_IMPRESSION),
    ("k2", at(D1, 11, 10), "c-A", C.ATTRIBUTION_NONE),
    ("k3", at(D2, 0, 10), "c-A", C.ATTRIBUTION_LAST_IMPRESSION),  # i3 before midnight: counts on D2
    ("k4", at(D1, 12, 1), "c-B", C.ATTRIBUTION_IMPRESSION_ID),
]
CONVERSIONS = [
    ("v1", at(D1, 12), "c-A", C.ATTRIBUTION_POST_CLICK, Decimal("10.500000")),
    ("v2", at(D1, 13), "c-A", C.ATTRIBUTION_POST_VIEW, Decimal("99.000000")),  # value not summed
    ("v3", at(D2, 1), "c-A", C.ATTRIBUTION_POST_CLICK, Decimal("2.250000")),
    ("v4", at(D1, 13), "c-B", C.ATTRIBUTION_NONE, Decimal("5.000000")),
    ("v5", at(D2, 10), "c-Z", C.ATTRIBUTION_POST_VIEW, Decimal("0.000000")),
    ("v6", at(D2, 11), "c-C", C.ATTRIBUTION_NONE, Decimal("1.000000")),  # no count at all: no row
]
CAMPAIGNS = [
    ("c-A", "adv-1", "Alpha", "search"),
    ("c-B", "adv-2", "Beta", "social"),
    ("c-C", "adv-3", "Gamma", "video"),
]

CAMPAIGN_DAILY_SCHEMA = (
    "event_date date, campaign_id string, advertiser_id string, campaign_name string,"
    " impressions long, clicks long, unattributed_clicks long, conversions long,"
    " view_through_conversions long, spend_micros long, conversion_value decimal(28,6),"
    " ctr double, cvr double"
)


def _inputs(spark):
    return (
        spark.createDataFrame(IMPRESSIONS, IMPRESSIONS_SCHEMA),
        spark.createDataFrame(CLICKS, CLICKS_SCHEMA),
        spark.createDataFrame(CONVERSIONS, CONVERSIONS_SCHEMA),
        spark.createDataFrame(CAMPAIGNS, CAMPAIGNS_SCHEMA),
    )


def test_campaign_daily_hand_computed(spark) -> None:
    actual = campaign_daily(*_inputs(spark))

    expected = spark.createDataFrame(
        [
            # 3 impressions (1000 + null + 500), k1 attributed, k2 not, v1 post-click, v2 post-view
            (D1, "c-A", "adv-1", "Alpha", 3, 1, 1, 1, 1, 1500, Decimal("10.5"), 1 / 3, 1.0),
            # v4 is unattributed: counts nowhere, cvr = 0 / 1
            (D1, "c-B", "adv-2", "Beta", 1, 1, 0, 0, 0, 2000, Decimal("0"), 1.0, 0.0),
            # no impression on D2: ctr null
            (D2, "c-A", "adv-1", "Alpha", 0, 1, 0, 1, 0, 0, Decimal("2.25"), None, 1.0),
            # unknown campaign: reference columns null; no click: cvr null
            (D2, "c-Z", None, None, 1, 0, 0, 0, 1, 300, Decimal("0"), 0.0, None),
        ],
        CAMPAIGN_DAILY_SCHEMA,
    )
    assert tuple(actual.columns) == tables.GOLD_CAMPAIGN_DAILY.columns
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_campaign_daily_on_a_date_subset_matches_full_run(spark) -> None:
    """Filtering every input to some dates recomputes exactly those dates' rows."""
    impressions, clicks, conversions, campaigns = _inputs(spark)
    on_d2 = F.to_date("event_time") == F.lit(D2)
    partial = campaign_daily(impressions.where(on_d2), clicks.where(on_d2), conversions.where(on_d2), campaigns)
    full = campaign_daily(impressions, clicks, conversions, campaigns).where(F.col("event_date") == F.lit(D2))
    assert_df_equality(partial, full, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("aggregate", [campaign_daily, campaign_hourly], ids=["daily", "hourly"])
def test_counting_rows_of_unique_ids_gives_the_distinct_counts(spark, aggregate) -> None:
    """``ids_unique`` (silver's one row per id) counts rows: the same table on unique ids. On
    repeated ids (what ``ids_unique`` rules out) only the default counts each id once."""
    inputs = _inputs(spark)
    assert_df_equality(aggregate(*inputs, ids_unique=True), aggregate(*inputs), ignore_row_order=True,
                       ignore_nullable=True)
    impressions, clicks, conversions, campaigns = inputs
    twice = (impressions.unionByName(impressions), clicks.unionByName(clicks), conversions.unionByName(conversions),
             campaigns)
    keys = [c for c in aggregate(*inputs).columns if c in ("event_date", "event_hour", "campaign_id")]
    counts = ["impressions", "clicks", "unattributed_clicks", "conversions", "view_through_conversions"]

    def count_rows(df):
        return sorted(tuple(r) for r in df.select(*keys, *counts).collect())  # driver-side: a few test rows

    once = count_rows(aggregate(*inputs))
    assert count_rows(aggregate(*twice)) == once
    assert count_rows(aggregate(*twice, ids_unique=True)) == [
        (*r[: len(keys)], *[2 * n for n in r[len(keys):]]) for r in once]


def test_campaign_hourly(spark) -> None:
    impressions, clicks, conversions, campaigns = _inputs(spark)
    keep = F.col("campaign_id").isin("c-B", "c-Z")
    actual = campaign_hourly(
        impressions.where(keep), clicks.where(keep), conversions.where(keep), campaigns
    )
    expected = spark.createDataFrame(
        [
            (D1, 12, "c-B", "adv-2", "Beta", 1, 1, 0, 0, 0, 2000, Decimal("0"), 1.0, 0.0),
            (D2, 9, "c-Z", None, None, 1, 0, 0, 0, 0, 300, Decimal("0"), 0.0, None),
            (D2, 10, "c-Z", None, None, 0, 0, 0, 0, 1, 0, Decimal("0"), None, None),
        ],
        CAMPAIGN_DAILY_SCHEMA.replace("event_date date,", "event_date date, event_hour int,"),
    )
    assert tuple(actual.columns) == GOLD_CAMPAIGN_HOURLY_COLUMNS
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


BIDS_SCHEMA = (
    "bid_request_id string, event_time timestamp, exchange string, bid_price_micros long,"
    " won boolean, clearing_price_micros long"
)
BID_DAILY_SCHEMA = (
    "event_date date, exchange string, bid_requests long, bids long, wins long,"
    " win_rate double, avg_clearing_price_micros double, impressions_matched long"
)


def _bid_inputs(spark):
    bids = spark.createDataFrame(
        [
            ("b1", at(D1, 10), "ex1", 100, True, 80),
            ("b2", at(D1, 11), "ex1", 120, False, None),
            ("b3", at(D1, 12), "ex1", None, False, None),  # we did not bid
            ("b4", at(D1, 23, 59, 59), "ex1", 200, True, 150),
            ("b5", at(D1, 13), "ex2", None, False, None),  # no bid at all on ex2
            ("b6", at(D2, 8), "ex1", 50, True, 40),
        ],
        BIDS_SCHEMA,
    )
    impressions = spark.createDataFrame(
        [
            ("i1", at(D1, 10), "c-A", 1, "b1"),
            ("i6", at(D1, 10), "c-A", 1, "b1"),  # two impressions of one request: both count
            ("i2", at(D2, 0, 0, 1), "c-A", 1, "b4"),  # on D2, but its request is on D1
            ("i3", at(D2, 8), "c-A", 1, "b6"),
            ("i4", at(D2, 8), "c-A", 1, "b-unknown"),
            ("i5", at(D2, 8), "c-A", 1, None),
        ],
        IMPRESSIONS_SCHEMA,
    )
    return bids, impressions


@pytest.mark.parametrize("ids_unique", [False, True], ids=["distinct", "ids_unique"])
def test_bid_daily_hand_computed(spark, ids_unique) -> None:
    bids, impressions = _bid_inputs(spark)
    actual = bid_daily(bids, impressions, ids_unique=ids_unique)

    expected = spark.createDataFrame(
        [
            (D1, "ex1", 4, 3, 2, 2 / 3, 115.0, 3),
            (D1, "ex2", 1, 0, 0, None, None, 0),
            (D2, "ex1", 1, 1, 1, 1.0, 40.0, 1),
        ],
        BID_DAILY_SCHEMA,
    )
    assert tuple(actual.columns) == tables.GOLD_BID_DAILY.columns
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_impression_touches_its_bid_requests_date(spark) -> None:
    bids, impressions = _bid_inputs(spark)
    for broadcast in (True, False):
        touched = bid_dates_of_impressions(impressions.where(F.col("impression_id") == "i2"), bids,
                                           broadcast=broadcast)
        assert_df_equality(touched, spark.createDataFrame([(D1,)], "event_date date"), ignore_nullable=True)
        # A big batch's ids are shuffled with the table, which is never broadcast (Spark
        # would broadcast this small one).
        assert ("BroadcastExchange" in executed_plan(touched)) == broadcast


def test_bid_daily_of_unique_ids_plans_no_distinct_aggregation(spark) -> None:
    """Silver's one row per id lets gold count rows: a distinct count per measure is planned
    as one copy of every request per measure (``Expand``), each shuffled by id."""
    bids, impressions = _bid_inputs(spark)
    assert "Expand" in executed_plan(bid_daily(bids, impressions))
    plan = executed_plan(bid_daily(bids, impressions, ids_unique=True))
    assert "Expand" not in plan and "count(distinct" not in plan.lower()
    twice = bid_daily(bids.unionByName(bids), impressions.unionByName(impressions), ids_unique=True)
    assert [r.bid_requests for r in twice.orderBy("event_date", "exchange").collect()] == [8, 2, 2]


def test_campaign_daily_from_hourly_equals_campaign_daily(spark) -> None:
    inputs = _inputs(spark)
    assert_df_equality(
        campaign_daily_from_hourly(campaign_hourly(*inputs)),
        campaign_daily(*inputs),
        ignore_row_order=True,
        ignore_nullable=True,
    )
