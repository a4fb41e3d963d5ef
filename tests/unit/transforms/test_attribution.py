"""Click and conversion attribution (docs/CONTRACT.md §3), edge cases included."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from advertisex import contract as C
from advertisex.config import AttributionConfig
from advertisex.transforms.attribution import attribute_clicks, attribute_conversions, latest_in_window

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MIN = dt.timedelta(minutes=1)
MS = dt.timedelta(milliseconds=1)
CFG = AttributionConfig()

IMPRESSIONS_SCHEMA = "impression_id string, event_time timestamp, user_id string, campaign_id string"
CLICKS_SCHEMA = (
    "event_id string, event_time timestamp, user_id string, campaign_id string, impression_id string"
)
ATTRIBUTED_CLICKS_SCHEMA = (
    CLICKS_SCHEMA
    + ", attributed_impression_id string, attribution_kind string, attribution_lag_ms long"
)
CONVERSIONS_SCHEMA = "event_id string, event_time timestamp, user_id string, campaign_id string"
ATTRIBUTED_CONVERSIONS_SCHEMA = (
    CONVERSIONS_SCHEMA
    + ", attributed_click_id string, attributed_impression_id string,"
    " attribution_kind string, attribution_lag_ms long"
)

IMP_ID, LAST, NONE = C.ATTRIBUTION_IMPRESSION_ID, C.ATTRIBUTION_LAST_IMPRESSION, C.ATTRIBUTION_NONE
POST_CLICK, POST_VIEW = C.ATTRIBUTION_POST_CLICK, C.ATTRIBUTION_POST_VIEW

MIDNIGHT = dt.datetime(2026, 11, 21, 0, 0, tzinfo=UTC)

IMPRESSIONS = [
    # named by c-named; another user and campaign, 2 h before the click
    ("i-named", T0 - 120 * MIN, "u-other", "c-B"),
    # window edges
    ("i-edge", T0, "u-edge", "c-A"),
    ("i-late", T0, "u-late", "c-A"),
    # c-unknown names a missing impression: falls back to the window
    ("i-u4", T0 + 25 * MIN, "u4", "c-A"),
    # crossing midnight
    ("i-mid", MIDNIGHT - 10 * MIN, "u5", "c-A"),
    # several in window: the latest at or before the click wins
    ("i-6a", T0 - 25 * MIN, "u6", "c-A"),
    ("i-6b", T0 - 10 * MIN, "u6", "c-A"),
    ("i-6c", T0 - 2 * MIN, "u6", "c-A"),
    ("i-6d", T0 + 1 * MIN, "u6", "c-A"),  # after the click
    ("i-6e", T0 - 1 * MIN, "u6", "c-B"),  # other campaign
    ("i-6f", T0 - 1 * MIN, "u6x", "c-A"),  # other user
    # same time: the largest impression_id wins
    ("i-7a", T0 - 5 * MIN, "u7", "c-A"),
    ("i-7b", T0 - 5 * MIN, "u7", "c-A"),
    # an impression 31 min before: outside
    ("i-8", T0 - 31 * MIN, "u8", "c-A"),
]

CLICKS = [
    ("c-named", T0, "u1", "c-A", "i-named"),
    ("c-edge", T0 + 30 * MIN, "u-edge", "c-A", None),
    ("c-late", T0 + 30 * MIN + MS, "u-late", "c-A", None),
    ("c-unknown", T0 + 30 * MIN, "u4", "c-A", "i-missing"),
    ("c-midnight", MIDNIGHT + 10 * MIN, "u5", "c-A", None),
    ("c-several", T0, "u6", "c-A", None),
    ("c-tie", T0, "u7", "c-A", None),
    ("c-none", T0, "u8", "c-A", None),
    ("c-nouser", T0, None, "c-A", None),
]


@pytest.mark.parametrize("small", [False, True], ids=["planner", "small-left-broadcast"])
def test_attribute_clicks_edge_cases(spark, small) -> None:
    impressions = spark.createDataFrame(IMPRESSIONS, IMPRESSIONS_SCHEMA)
    clicks = spark.createDataFrame(CLICKS, CLICKS_SCHEMA)

    actual = attribute_clicks(clicks, impressions, click_window_minutes=CFG.click_window_minutes, small=small)

    expected = spark.createDataFrame(
        [
            ("c-named", T0, "u1", "c-A", "i-named", "i-named", IMP_ID, 7_200_000),
            ("c-edge", T0 + 30 * MIN, "u-edge", "c-A", None, "i-edge", LAST, 1_800_000),
            ("c-late", T0 + 30 * MIN + MS, "u-late", "c-A", None, None, NONE, None),
            ("c-unknown", T0 + 30 * MIN, "u4", "c-A", "i-missing", "i-u4", LAST, 300_000),
            ("c-midnight", MIDNIGHT + 10 * MIN, "u5", "c-A", None, "i-mid", LAST, 1_200_000),
            ("c-several", T0, "u6", "c-A", None, "i-6c", LAST, 120_000),
            ("c-tie", T0, "u7", "c-A", None, "i-7b", LAST, 300_000),
            ("c-none", T0, "u8", "c-A", None, None, NONE, None),
            ("c-nouser", T0, None, "c-A", None, None, NONE, None),
        ],
        ATTRIBUTED_CLICKS_SCHEMA,
    )
    assert actual.columns == expected.columns
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_attribute_clicks_window_is_a_parameter(spark) -> None:
    impressions = spark.createDataFrame([("i-1", T0 - 40 * MIN, "u1", "c-A")], IMPRESSIONS_SCHEMA)
    clicks = spark.createDataFrame([("c-1", T0, "u1", "c-A", None)], CLICKS_SCHEMA)

    actual = attribute_clicks(clicks, impressions, click_window_minutes=45)

    expected = spark.createDataFrame(
        [("c-1", T0, "u1", "c-A", None, "i-1", LAST, 2_400_000)], ATTRIBUTED_CLICKS_SCHEMA
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_attribute_clicks_replaces_previous_attribution(spark) -> None:
    """Re-attributing silver clicks (a late impression arrived) overwrites the old result."""
    impressions = spark.createDataFrame([("i-late", T0 - 1 * MIN, "u1", "c-A")], IMPRESSIONS_SCHEMA)
    clicks = spark.createDataFrame([("c-1", T0, "u1", "c-A", None, None, NONE, None)], ATTRIBUTED_CLICKS_SCHEMA)

    actual = attribute_clicks(clicks, impressions, click_window_minutes=30)

    expected = spark.createDataFrame(
        [("c-1", T0, "u1", "c-A", None, "i-late", LAST, 60_000)], ATTRIBUTED_CLICKS_SCHEMA
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


T = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

ATTRIBUTED_CLICKS = [
    # exactly 7 days before: post-click
    ("k1", T - 7 * DAY, "u1", "c-A", None, "i-k1", LAST, 1),
    # 7 days + 1 ms before: too old
    ("k2", T - 7 * DAY - MS, "u2", "c-A", None, "i-k2", LAST, 1),
    # only an unattributed click 1 day before: not post-click
    ("k5", T - DAY, "u5", "c-A", None, None, NONE, None),
    # an unattributed click 1 h before, an attributed one 3 days before: the attributed one
    ("k6-none", T - HOUR, "u6", "c-A", None, None, NONE, None),
    ("k6-good", T - 3 * DAY, "u6", "c-A", "i-k6", "i-k6", IMP_ID, 5),
    # several attributed clicks: the latest at or before the conversion
    ("k7-old", T - 5 * DAY, "u7", "c-A", None, "i-k7-old", LAST, 1),
    ("k7-new", T - DAY, "u7", "c-A", None, "i-k7-new", LAST, 1),
    ("k7-after", T + MIN, "u7", "c-A", None, "i-k7-after", LAST, 1),
    # a click on another campaign
    ("k10", T - HOUR, "u10", "c-B", None, "i-k10", LAST, 1),
]
CONV_IMPRESSIONS = [
    ("i-v2", T - 25 * HOUR, "u2", "c-A"),  # outside the view window too
    ("i-v3", T - 23 * HOUR, "u3", "c-A"),  # only an impression 23 h before: post-view
    ("i-v7", T - HOUR, "u7", "c-A"),  # post-click beats post-view
    ("i-v8", T - 24 * HOUR, "u8", "c-A"),  # exactly 24 h: post-view
    ("i-v9", T - 24 * HOUR - MS, "u9", "c-A"),  # 24 h + 1 ms: no
    ("i-v10", T - HOUR, "u10", "c-B"),  # other campaign
]
CONVERSIONS = [
    ("v1", T, "u1", "c-A"),
    ("v2", T, "u2", "c-A"),
    ("v3", T, "u3", "c-A"),
    ("v4", T, "u4", "c-A"),
    ("v5", T, "u5", "c-A"),
    ("v6", T, "u6", "c-A"),
    ("v7", T, "u7", "c-A"),
    ("v8", T, "u8", "c-A"),
    ("v9", T, "u9", "c-A"),
    ("v10", T, "u10", "c-A"),
]


@pytest.mark.parametrize("small", [False, True], ids=["planner", "small-left-broadcast"])
def test_attribute_conversions_edge_cases(spark, small) -> None:
    clicks = spark.createDataFrame(ATTRIBUTED_CLICKS, ATTRIBUTED_CLICKS_SCHEMA)
    impressions = spark.createDataFrame(CONV_IMPRESSIONS, IMPRESSIONS_SCHEMA)
    conversions = spark.createDataFrame(CONVERSIONS, CONVERSIONS_SCHEMA)

    actual = attribute_conversions(
        conversions,
        clicks,
        impressions,
        conversion_window_days=CFG.conversion_window_days,
        view_through_window_hours=CFG.view_through_window_hours,
        small=small,
    )

    week_ms, day_ms, hour_ms = 604_800_000, 86_400_000, 3_600_000
    expected = spark.createDataFrame(
        [
            ("v1", T, "u1", "c-A", "k1", "i-k1", POST_CLICK, week_ms),
            ("v2", T, "u2", "c-A", None, None, NONE, None),
            ("v3", T, "u3", "c-A", None, "i-v3", POST_VIEW, 23 * hour_ms),
            ("v4", T, "u4", "c-A", None, None, NONE, None),
            ("v5", T, "u5", "c-A", None, None, NONE, None),
            ("v6", T, "u6", "c-A", "k6-good", "i-k6", POST_CLICK, 3 * day_ms),
            ("v7", T, "u7", "c-A", "k7-new", "i-k7-new", POST_CLICK, day_ms),
            ("v8", T, "u8", "c-A", None, "i-v8", POST_VIEW, day_ms),
            ("v9", T, "u9", "c-A", None, None, NONE, None),
            ("v10", T, "u10", "c-A", None, None, NONE, None),
        ],
        ATTRIBUTED_CONVERSIONS_SCHEMA,
    )
    assert actual.columns == expected.columns
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_clicks_then_conversions_compose(spark) -> None:
    """attribute_clicks output feeds attribute_conversions; an unattributed click never counts."""
    impressions = spark.createDataFrame(
        [("i-1", T - 2 * DAY - 5 * MIN, "u1", "c-A")], IMPRESSIONS_SCHEMA
    )
    clicks = spark.createDataFrame(
        [
            ("k-1", T - 2 * DAY, "u1", "c-A", None),  # attributed to i-1
            ("k-2", T - DAY, "u1", "c-A", None),  # no impression in 30 min: unattributed
        ],
        CLICKS_SCHEMA,
    )
    conversions = spark.createDataFrame([("v-1", T, "u1", "c-A")], CONVERSIONS_SCHEMA)

    attributed = attribute_clicks(clicks, impressions, click_window_minutes=30)
    actual = attribute_conversions(
        conversions, attributed, impressions, conversion_window_days=7, view_through_window_hours=24
    )

    expected = spark.createDataFrame(
        [("v-1", T, "u1", "c-A", "k-1", "i-1", POST_CLICK, 2 * 86_400_000)],
        ATTRIBUTED_CONVERSIONS_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_in_window_rejects_negative_window(spark) -> None:
    df = spark.createDataFrame([], IMPRESSIONS_SCHEMA)
    with pytest.raises(ValueError, match="negative"):
        latest_in_window(df, df, left_id="impression_id", right_id="impression_id", window_micros=-1)
