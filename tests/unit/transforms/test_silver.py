"""Silver transforms: normalisation, de-duplication, SCD-2 reference data, enrichment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyspark.sql.functions as F
from chispa import assert_df_equality

from advertisex.transforms.silver import (
    SILVER_BID_REQUEST_COLUMNS,
    SILVER_CLICK_COLUMNS,
    SILVER_CONVERSION_COLUMNS,
    SILVER_IMPRESSION_COLUMNS,
    copies,
    counted_keys,
    dedupe,
    dedupe_few,
    silver_bid_requests,
    silver_click_events,
    silver_impressions,
    split_clicks_conversions,
)

UTC = dt.UTC
T = dt.datetime(2026, 11, 20, 13, 4, 5, tzinfo=UTC)
D = dt.date(2026, 11, 20)
ING = dt.datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def test_silver_impressions_normalises(spark) -> None:
    bronze = spark.createDataFrame(
        [
            (" i-1 ", "2026-11-20T13:04:05Z", " U-00123 ", "c-1", "cr-1", "https://www.News.example.com:443/a?b=1",
             "SmartPhone", "us", "", 1200, T, D, "kafka:ad-impressions/0/7", ING, "{...}"),
            ("i-2", "1", "u-2", " c-2 ", "cr-2", "x.com", None, "usa", "b-9", None, T, D, "f", ING, "{}"),
        ],
        "impression_id string, event_time_raw string, user_id string, campaign_id string,"
        " ad_creative_id string, website string, device_type string, country string,"
        " bid_request_id string, cost_micros long, event_time timestamp, event_date date,"
        " origin string, ingested_at timestamp, raw string",
    )
    expected = spark.createDataFrame(
        [
            (" i-1 ", T, D, "u-00123", "c-1", "cr-1", "news.example.com", "mobile", "US", None, 1200,
             "kafka:ad-impressions/0/7", ING),  # ids other than user_id stay as received
            ("i-2", T, D, "u-2", " c-2 ", "cr-2", "x.com", None, None, "b-9", None, "f", ING),
        ],
        "impression_id string, event_time timestamp, event_date date, user_id string,"
        " campaign_id string, ad_creative_id string, website string, device_type string,"
        " country string, bid_request_id string, cost_micros long, origin string,"
        " ingested_at timestamp",
    )
    actual = silver_impressions(bronze)
    assert tuple(actual.columns) == SILVER_IMPRESSION_COLUMNS
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


CLICK_BRONZE_SCHEMA = (
    "event_id string, event_type string, event_time_raw string, user_id string, campaign_id string,"
    " ad_creative_id string, impression_id string, conversion_type string, conversion_value string,"
    " event_time timestamp, event_date date, origin string, ingested_at timestamp"
)


def test_click_events_split_into_clicks_and_conversions(spark) -> None:
    bronze = spark.createDataFrame(
        [
            ("e-1", " Click ", "x", " U-1 ", "c-1", "cr-1", "i-1", "", "", T, D, "file:a.csv:2", ING),
            ("e-2", "click", "x", "u-2", "c-1", "cr-1", "", "", "", T, D, "file:a.csv:3", ING),
            ("e-3", "CONVERSION", "x", "u-1", "c-1", "", "", "Purchase", "12.5", T, D, "file:a.csv:4", ING),
            ("e-4", " conversion", "x", "u-1", "c-1", "", "", "signup", "", T, D, "file:a.csv:5", ING),
        ],
        CLICK_BRONZE_SCHEMA,
    )
    clicks, conversions = split_clicks_conversions(silver_click_events(bronze))

    expected_clicks = spark.createDataFrame(
        [
            ("e-1", T, D, "u-1", "c-1", "cr-1", "i-1", "file:a.csv:2", ING),
            ("e-2", T, D, "u-2", "c-1", "cr-1", None, "file:a.csv:3", ING),
        ],
        "event_id string, event_time timestamp, event_date date, user_id string, campaign_id string,"
        " ad_creative_id string, impression_id string, origin string, ingested_at timestamp",
    )
    expected_conversions = spark.createDataFrame(
        [
            ("e-3", T, D, "u-1", "c-1", None, None, "purchase", Decimal("12.5"), "file:a.csv:4", ING),
            ("e-4", T, D, "u-1", "c-1", None, None, "signup", Decimal("0"), "file:a.csv:5", ING),
        ],
        "event_id string, event_time timestamp, event_date date, user_id string, campaign_id string,"
        " ad_creative_id string, impression_id string, conversion_type string,"
        " conversion_value decimal(18,6), origin string, ingested_at timestamp",
    )
    assert tuple(clicks.columns) == SILVER_CLICK_COLUMNS
    assert tuple(conversions.columns) == SILVER_CONVERSION_COLUMNS
    assert_df_equality(clicks, expected_clicks, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(conversions, expected_conversions, ignore_row_order=True, ignore_nullable=True)


BID_BRONZE_V2 = (
    "bid_request_id string, event_time timestamp, event_date date, schema_id int,"
    " user struct<user_id:string, segments:array<string>, country:string, device_type:string,"
    " consent:boolean>,"
    " auction struct<auction_id:string, exchange:string, floor_price_micros:long,"
    " bid_price_micros:long, won:boolean, clearing_price_micros:long, deal_id:string>,"
    " targeting struct<campaign_id:string, website:string, ad_slot:string, keywords:array<string>>,"
    " origin string, ingested_at timestamp"
)
BID_SILVER_SCHEMA = (
    "bid_request_id string, event_time timestamp, event_date date, user_id string,"
    " segments array<string>, country string, device_type string, consent boolean,"
    " auction_id string, exchange string, floor_price_micros long, bid_price_micros long,"
    " won boolean, clearing_price_micros long, deal_id string, campaign_id string,"
    " website string, ad_slot string, keywords array<string>, schema_id int, origin string,"
    " ingested_at timestamp"
)


def test_silver_bid_requests_flattens(spark) -> None:
    bronze = spark.createDataFrame(
        [
            ("b-1", T, D, 2, (" U-7 ", ["s1"], "de", "PC", True),
             ("a-1", "ex1", 10, 20, True, 15, "deal-1"), ("c-1", "WWW.X.com/p", "top", ["k"]), "kafka:bids/0/1", ING),
            ("b-2", T, D, 1, ("u-8", [], None, None, None),
             ("a-2", "ex2", 10, None, False, None, None), (None, "y.org", "side", []), "kafka:bids/0/2", ING),
        ],
        BID_BRONZE_V2,
    )
    expected = spark.createDataFrame(
        [
            ("b-1", T, D, "u-7", ["s1"], "DE", "desktop", True, "a-1", "ex1", 10, 20, True, 15,
             "deal-1", "c-1", "x.com", "top", ["k"], 2, "kafka:bids/0/1", ING),
            ("b-2", T, D, "u-8", [], None, None, None, "a-2", "ex2", 10, None, False, None,
             None, None, "y.org", "side", [], 1, "kafka:bids/0/2", ING),
        ],
        BID_SILVER_SCHEMA,
    )
    actual = silver_bid_requests(bronze)
    assert tuple(actual.columns) == SILVER_BID_REQUEST_COLUMNS
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_silver_bid_requests_accepts_v1_shape(spark) -> None:
    v1 = BID_BRONZE_V2.replace(", consent:boolean", "").replace(", deal_id:string", "")
    bronze = spark.createDataFrame(
        [("b-1", T, D, 1, ("u-1", ["s"], "fr", "tv"), ("a-1", "ex1", 1, 2, False, None),
          ("c-1", "z.net", "top", []), "o", ING)],
        v1,
    )
    expected = spark.createDataFrame(
        [("b-1", T, D, "u-1", ["s"], "FR", "ctv", None, "a-1", "ex1", 1, 2, False, None, None,
          "c-1", "z.net", "top", [], 1, "o", ING)],
        BID_SILVER_SCHEMA,
    )
    assert_df_equality(silver_bid_requests(bronze), expected, ignore_row_order=True, ignore_nullable=True)


def test_fields_a_newer_schema_added_are_flat_columns_named_after_where_they_sit(spark) -> None:
    v3 = BID_BRONZE_V2.replace(", deal_id:string>", ", deal_id:string, currency:string>") + ", channel string"
    bronze = spark.createDataFrame(
        [("b-1", T, D, 3, ("u-1", ["s"], "fr", "tv", None), ("a-1", "ex1", 1, 2, False, None, None, "EUR"),
          ("c-1", "z.net", "top", []), "o", ING, "app")],
        v3,
    )
    actual = silver_bid_requests(bronze)
    assert tuple(actual.columns) == (*SILVER_BID_REQUEST_COLUMNS, "request_channel", "auction_currency")
    assert actual.select("request_channel", "auction_currency").first() == ("app", "EUR")


def test_dedupe_keeps_the_copy_that_arrived_first(spark) -> None:
    """First ingested, then by file (or topic/partition) and line (or offset) as numbers:
    line 9 of a file before its line 10, offset 9 before offset 10."""
    later = ING + dt.timedelta(hours=1)
    df = spark.createDataFrame(
        [
            ("i-1", "file:b:1", later, "fourth"),
            ("i-1", "file:a:10", ING, "second"),
            ("i-1", "file:a:9", ING, "first"),
            ("i-1", "file:c:1", ING, "third"),
            ("i-2", "kafka:t/0/10", later, "second"),
            ("i-2", "kafka:t/0/9", later, "first"),
            (None, "x", ING, "null key 1"),
            (None, "y", ING, "null key 2"),
        ],
        "impression_id string, origin string, ingested_at timestamp, note string",
    )
    expected = spark.createDataFrame(
        [
            ("i-1", "file:a:9", ING, "first"),
            ("i-2", "kafka:t/0/9", later, "first"),
            (None, "x", ING, "null key 1"),
            (None, "y", ING, "null key 2"),
        ],
        "impression_id string, origin string, ingested_at timestamp, note string",
    )
    assert_df_equality(df.transform(dedupe("impression_id")), expected, ignore_row_order=True)


def test_dedupe_few_keeps_what_dedupe_keeps(spark) -> None:
    """Repeated ids ranked as :func:`dedupe` ranks them; ids seen once and null ids pass."""
    df = spark.createDataFrame(
        [
            ("i-1", "file:a:10", ING, "second"),
            ("i-1", "file:a:9", ING, "first"),
            ("i-2", "kafka:t/0/3", ING, "only"),
            ("i-3", "kafka:t/0/4", ING, "only"),
            (None, "x", ING, "null key 1"),
            (None, "y", ING, "null key 2"),
        ],
        "impression_id string, origin string, ingested_at timestamp, note string",
    )
    few = df.transform(dedupe_few("impression_id", copies(df, "impression_id")))
    assert_df_equality(few, df.transform(dedupe("impression_id")), ignore_row_order=True)
    assert few.count() == 5


def test_dedupe_few_without_repeats_keeps_every_row(spark) -> None:
    df = spark.createDataFrame([("i-1", "o:1", ING), ("i-2", "o:2", ING), (None, "o:3", ING)],
                               "impression_id string, origin string, ingested_at timestamp")
    assert_df_equality(df.transform(dedupe_few("impression_id", copies(df, "impression_id"))), df,
                       ignore_row_order=True)


def test_counted_keys_share_the_aggregation_with_dedupe_few(spark) -> None:
    """A probe of the batch's keys and the de-duplication run one aggregation: Spark reuses
    its shuffle (selected without the count's filter, the keys would be aggregated again)."""
    df = spark.createDataFrame([("i-1", "o:1", ING), ("i-1", "o:2", ING), ("i-2", "o:3", ING)],
                               "impression_id string, origin string, ingested_at timestamp")
    counted = copies(df, "impression_id")
    rows = df.transform(dedupe_few("impression_id", counted)).join(
        F.broadcast(counted_keys(counted, "impression_id")), "impression_id", "left_semi")
    assert rows.count() == 2
    plan = rows._jdf.queryExecution().executedPlan().toString()
    assert "functions=[count(1)]" in plan
    assert "functions=[]" not in plan  # no aggregation of the keys alone
