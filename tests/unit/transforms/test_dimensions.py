"""Reference dimensions (SCD type 2) and enrichment as of event time."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from advertisex import contract as C
from advertisex.transforms.dimensions import (
    DIM_BEGINNING,
    current_rows,
    enrich_campaign,
    enrich_user,
    reference_campaigns,
    reference_users,
    scd2_apply,
    scd2_changes,
    scd2_initial,
)

UTC = dt.UTC
T = dt.datetime(2026, 11, 20, 13, 4, 5, tzinfo=UTC)
BEGIN = DIM_BEGINNING
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
