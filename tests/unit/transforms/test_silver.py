"""Silver transforms: normalisation, de-duplication, SCD-2 reference data, enrichment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_df_equality

from advertisex import contract as C
from advertisex.transforms.silver import (
    DIM_BEGINNING,
    SILVER_BID_REQUEST_COLUMNS,
    SILVER_CLICK_COLUMNS,
    SILVER_CONVERSION_COLUMNS,
    SILVER_IMPRESSION_COLUMNS,
    current_rows,
    dedupe,
    enrich_campaign,
    enrich_user,
    reference_campaigns,
    reference_users,
    scd2_apply,
    scd2_changes,
    scd2_initial,
    silver_bid_requests,
    silver_click_events,
    silver_impressions,
    split_clicks_conversions,
)

UTC = dt.UTC
T = dt.datetime(2026, 11, 20, 13, 4, 5, tzinfo=UTC)
D = dt.date(2026, 11, 20)
ING = dt.datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
BEGIN = DIM_BEGINNING


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


def test_dedupe_keeps_first_ingested_then_smallest_origin(spark) -> None:
    later = ING + dt.timedelta(hours=1)
    df = spark.createDataFrame(
        [
            ("i-1", "file:b:1", later, "third"),
            ("i-1", "file:a:9", ING, "first"),
            ("i-1", "file:c:1", ING, "second"),
            ("i-2", "kafka:t/0/5", later, "only"),
            (None, "x", ING, "null key 1"),
            (None, "y", ING, "null key 2"),
        ],
        "impression_id string, origin string, ingested_at timestamp, note string",
    )
    expected = spark.createDataFrame(
        [
            ("i-1", "file:a:9", ING, "first"),
            ("i-2", "kafka:t/0/5", later, "only"),
            (None, "x", ING, "null key 1"),
            (None, "y", ING, "null key 2"),
        ],
        "impression_id string, origin string, ingested_at timestamp, note string",
    )
    assert_df_equality(df.transform(dedupe("impression_id")), expected, ignore_row_order=True)


CAMPAIGN_CSV_SCHEMA = ", ".join(f"{c} string" for c in C.CAMPAIGN_CSV_COLUMNS)
CAMPAIGN_REF_SCHEMA = (
    "campaign_id string, advertiser_id string, campaign_name string, channel string,"
    " daily_budget_micros long, start_date date, end_date date"
)
CAMPAIGN_DIM_SCHEMA = CAMPAIGN_REF_SCHEMA + ", valid_from timestamp, valid_to timestamp"


def test_reference_campaigns_types_and_dedupes(spark) -> None:
    raw = spark.createDataFrame(
        [
            (" c-1 ", "adv-1", "Alpha", "search", "5000000", "2026-11-01", ""),
            ("c-2", "adv-2", "Beta", "", "x", "bad", "2026-12-31"),
            ("c-2", "adv-2", "Beta 2", "", "x", "bad", "2026-12-31"),
            ("", "adv-9", "No id", "social", "1", "2026-11-01", ""),
        ],
        CAMPAIGN_CSV_SCHEMA,
    )
    expected = spark.createDataFrame(
        [
            ("c-1", "adv-1", "Alpha", "search", 5_000_000, dt.date(2026, 11, 1), None),
            ("c-2", "adv-2", "Beta 2", None, None, None, dt.date(2026, 12, 31)),
        ],
        CAMPAIGN_REF_SCHEMA,
    )
    assert_df_equality(reference_campaigns(raw), expected, ignore_row_order=True, ignore_nullable=True)


def test_reference_users_normalises_user_id(spark) -> None:
    raw = spark.createDataFrame(
        [(" U-00123 ", "25-34", "f", "gb", "2025-01-02", "sports"), ("u-2", "", "", "xx1", "", "")],
        ", ".join(f"{c} string" for c in C.USER_CSV_COLUMNS),
    )
    expected = spark.createDataFrame(
        [
            ("u-00123", "25-34", "f", "GB", dt.date(2025, 1, 2), "sports"),
            ("u-2", None, None, None, None, None),
        ],
        "user_id string, age_band string, gender string, country string, signup_date date, segment string",
    )
    assert_df_equality(reference_users(raw), expected, ignore_row_order=True, ignore_nullable=True)


def test_scd2_refresh_keeps_history_and_is_idempotent(spark) -> None:
    v1 = spark.createDataFrame(
        [
            ("c-1", "adv-1", "Alpha", "search", 1, None, None),
            ("c-2", "adv-2", "Beta", "social", 2, None, None),
            ("c-3", "adv-3", "Gone", "video", 3, None, None),
        ],
        CAMPAIGN_REF_SCHEMA,
    )
    v2 = spark.createDataFrame(
        [
            ("c-1", "adv-1", "Alpha", "search", 1, None, None),  # unchanged
            ("c-2", "adv-2", "Beta renamed", "social", 2, None, None),  # changed
            ("c-4", "adv-4", "New", None, None, None, None),  # new
        ],  # c-3 dropped from the file: keeps its last version
        CAMPAIGN_REF_SCHEMA,
    )
    load = dt.datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    dim1 = scd2_initial(v1)
    dim2 = scd2_apply(dim1, v2, key="campaign_id", load_time=load)

    expected = spark.createDataFrame(
        [
            ("c-1", "adv-1", "Alpha", "search", 1, None, None, BEGIN, None),
            ("c-2", "adv-2", "Beta", "social", 2, None, None, BEGIN, load),
            ("c-2", "adv-2", "Beta renamed", "social", 2, None, None, load, None),
            ("c-3", "adv-3", "Gone", "video", 3, None, None, BEGIN, None),
            ("c-4", "adv-4", "New", None, None, None, None, BEGIN, None),
        ],
        CAMPAIGN_DIM_SCHEMA,
    )
    assert_df_equality(dim2, expected, ignore_row_order=True, ignore_nullable=True)

    again = scd2_changes(expected, v2, key="campaign_id", load_time=load + dt.timedelta(days=1))
    assert again.to_close.isEmpty() and again.to_insert.isEmpty()

    current = spark.createDataFrame(
        [
            ("c-1", "adv-1", "Alpha", "search", 1, None, None),
            ("c-2", "adv-2", "Beta renamed", "social", 2, None, None),
            ("c-3", "adv-3", "Gone", "video", 3, None, None),
            ("c-4", "adv-4", "New", None, None, None, None),
        ],
        CAMPAIGN_REF_SCHEMA,
    )
    assert_df_equality(current_rows(dim2), current, ignore_row_order=True, ignore_nullable=True)


def test_enrich_campaign_and_user_as_of_event_time(spark) -> None:
    change = dt.datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    campaigns = spark.createDataFrame(
        [
            ("c-1", "adv-1", "Old name", "search", 1, None, None, BEGIN, change),
            ("c-1", "adv-1", "New name", "social", 1, None, None, change, None),
        ],
        CAMPAIGN_DIM_SCHEMA,
    )
    users = spark.createDataFrame(
        [("u-1", "25-34", "f", "GB", None, "sports", BEGIN, None)],
        "user_id string, age_band string, gender string, country string, signup_date date,"
        " segment string, valid_from timestamp, valid_to timestamp",
    )
    events = spark.createDataFrame(
        [
            ("e-1", change - dt.timedelta(milliseconds=1), "c-1", "u-1"),
            ("e-2", change, "c-1", "u-1"),  # valid_from is inclusive, valid_to exclusive
            ("e-3", change, "c-unknown", "u-unknown"),
        ],
        "event_id string, event_time timestamp, campaign_id string, user_id string",
    )

    actual = enrich_user(enrich_campaign(events, campaigns), users)

    expected = spark.createDataFrame(
        [
            ("e-1", change - dt.timedelta(milliseconds=1), "c-1", "u-1", "adv-1", "Old name", "search",
             "25-34", "f", "GB", "sports"),
            ("e-2", change, "c-1", "u-1", "adv-1", "New name", "social", "25-34", "f", "GB", "sports"),
            ("e-3", change, "c-unknown", "u-unknown", None, None, None, None, None, None, None),
        ],
        "event_id string, event_time timestamp, campaign_id string, user_id string,"
        " advertiser_id string, campaign_name string, channel string, age_band string,"
        " gender string, user_country string, segment string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
