"""Clean rows for every table a quality suite covers, and a crafted bad variant per check.

``clean(suite, day)`` is one partition that passes every check of ``suite`` (twenty rows,
so shares and quantiles mean something); ``bad(suite, check, day)`` is the same partition
broken so that ``check`` fails. The lake tests profile and validate them through the real
GX project.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from advertisex import tables
from advertisex.quality import checks as K

ROWS = 20
CAMPAIGNS = [f"c{i}" for i in range(ROWS)]
Rows = list[dict[str, Any]]


def _time(day: dt.date, i: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, i % 24, i % 60, tzinfo=dt.UTC)


def _silver_event(day: dt.date, i: int, id_column: str) -> dict[str, Any]:
    return {id_column: f"{id_column[:3]}-{day:%m%d}-{i}", "event_time": _time(day, i), "event_date": day,
            "user_id": f"u{i}", "campaign_id": CAMPAIGNS[i], "ad_creative_id": f"cr{i}", "origin": f"file:x:{i}",
            "ingested_at": _time(day, i)}


def _impressions(day: dt.date) -> Rows:
    return [{**_silver_event(day, i, "impression_id"), "website": "news.example.com", "device_type": "mobile",
             "country": "FR", "cost_micros": 1000 + 10 * i, "campaign_name": f"Campaign {i}"} for i in range(ROWS)]


def _clicks(day: dt.date) -> Rows:
    return [{**_silver_event(day, i, "event_id"), "impression_id": f"imp-{i}", "attributed_impression_id": f"imp-{i}",
             "attribution_kind": "last_impression", "attribution_lag_ms": 1000} for i in range(ROWS)]


def _conversions(day: dt.date) -> Rows:
    return [{**_silver_event(day, i, "event_id"), "conversion_type": "purchase",
             "conversion_value": Decimal(10 + i), "attributed_click_id": f"evt-{i}",
             "attributed_impression_id": f"imp-{i}", "attribution_kind": "post_click", "attribution_lag_ms": 5}
            for i in range(ROWS)]


def _bids(day: dt.date) -> Rows:
    return [{"bid_request_id": f"br-{day:%m%d}-{i}", "event_time": _time(day, i), "event_date": day,
             "user_id": f"u{i}", "auction_id": f"a{i}", "exchange": "x1", "website": "news.example.com",
             "ad_slot": "top", "device_type": "desktop", "country": "DE", "floor_price_micros": 100,
             "bid_price_micros": 200, "won": i % 2 == 0, "clearing_price_micros": 150 if i % 2 == 0 else None,
             "campaign_id": CAMPAIGNS[i]} for i in range(ROWS)]


def _campaign_daily(day: dt.date) -> Rows:
    return [{"event_date": day, "campaign_id": CAMPAIGNS[i], "advertiser_id": "a1", "campaign_name": f"Campaign {i}",
             "impressions": 100, "clicks": 5, "unattributed_clicks": 1, "conversions": 1,
             "view_through_conversions": 0, "spend_micros": 1000 + 10 * i, "conversion_value": Decimal(10 + i),
             "ctr": 0.05, "cvr": 0.2} for i in range(ROWS)]


def _campaign_hourly(day: dt.date) -> Rows:
    return [{**r, "event_hour": i % 24} for i, r in enumerate(_campaign_daily(day))]


def _bid_daily(day: dt.date) -> Rows:
    return [{"event_date": day, "exchange": f"x{i}", "bid_requests": 10, "bids": 8, "wins": 4, "win_rate": 0.5,
             "avg_clearing_price_micros": 150.0, "impressions_matched": 4} for i in range(ROWS)]


CLEAN: dict[str, Callable[[dt.date], Rows]] = {
    tables.SILVER_IMPRESSIONS.name: _impressions, tables.SILVER_CLICKS.name: _clicks,
    tables.SILVER_CONVERSIONS.name: _conversions, tables.SILVER_BID_REQUESTS.name: _bids,
    tables.GOLD_CAMPAIGN_DAILY.name: _campaign_daily, tables.GOLD_CAMPAIGN_HOURLY.name: _campaign_hourly,
    tables.GOLD_BID_DAILY.name: _bid_daily,
}


def clean(suite: K.Suite, day: dt.date) -> Rows:
    return CLEAN[suite.table](day)


def _set(column: str, value: Any, rows: int = 1) -> Callable[[Rows], Rows]:
    return lambda rs: [{**r, column: value} if i < rows else r for i, r in enumerate(rs)]


def _update(rows: int = 1, **values: Any) -> Callable[[Rows], Rows]:
    return lambda rs: [{**r, **values} if i < rows else r for i, r in enumerate(rs)]


def _shift_time(rs: Rows) -> Rows:
    return [{**r, "event_time": r["event_time"] + dt.timedelta(days=1)} if i == 0 else r for i, r in enumerate(rs)]


# The checks whose bad partition is not one of the generic ones below.
SPECIFIC: dict[str, Callable[[Rows], Rows]] = {
    "country_format": _set("country", "fr1"),
    "event_date_of_event_time": _shift_time,
    "cost_micros_non_negative": _set("cost_micros", -5),
    "attributed_impression_matches_kind": _set("attributed_impression_id", None),
    "attribution_lag_non_negative": _set("attribution_lag_ms", -1),
    "conversion_value_non_negative": _set("conversion_value", Decimal(-1)),
    "post_click_names_click": _set("attributed_click_id", None),
    "prices_non_negative": _set("floor_price_micros", -1),
    "won_only_with_a_bid": _update(won=True, bid_price_micros=None),
    "counts_non_negative": _update(impressions=-1, ctr=None, bids=-1, win_rate=None),
    "money_non_negative": _set("spend_micros", -1),
    "ctr_consistent": _set("ctr", 0.9),
    "cvr_consistent": _set("cvr", 0.9),
    "ctr_at_most_1": _update(ROWS, clicks=200, ctr=2.0, cvr=0.005),
    "clicks_at_most_impressions": _update(ROWS, clicks=200, ctr=2.0, cvr=0.005),
    "cvr_at_most_1": _update(ROWS, conversions=10, cvr=2.0),
    "event_hour_in_range": _set("event_hour", 25),
    "bids_at_most_requests": _update(bids=20, win_rate=0.2),
    "win_rate_consistent": _set("win_rate", 0.99),
    "win_rate_at_most_1": _update(wins=20, bids=10, bid_requests=30, win_rate=2.0),
    "avg_clearing_price_non_negative": _set("avg_clearing_price_micros", -1.0),
}


def bad(suite: K.Suite, check: K.Check, day: dt.date) -> Rows:
    """The clean partition of ``day`` broken so that ``check`` fails."""
    rows = clean(suite, day)
    m = check.measure
    if check.name in SPECIFIC:
        return SPECIFIC[check.name](rows)
    if check.name.endswith("_not_null"):
        return _set(check.name.removesuffix("_not_null"), None)(rows)
    if m.kind == K.DUPLICATES:
        return [*rows, rows[0]]
    if check.name.endswith("_in_set"):
        return _set(check.name.removesuffix("_in_set"), "bogus")(rows)
    if m.kind == K.SHARE:  # mostly present: the column missing everywhere
        return _set(check.name.removesuffix("_mostly_present"), None, ROWS)(rows)
    if m.kind == K.UNKNOWN_CAMPAIGNS:
        return _set("campaign_id", "unknown-campaign", ROWS)(rows)
    if m.kind == K.FENCE:  # enough values for a fence, 2 % of them far above it
        many = [dict(r) for _ in range(K.FENCE_MIN_VALUES // ROWS) for r in rows]
        huge = Decimal(10**9) if m.columns[0] == "conversion_value" else 10**9
        return _set(m.columns[0], huge, 2)(many)
    raise KeyError(f"no bad partition for {suite.name}.{check.name}")


def frame(spark: Any, suite: K.Suite, rows: Rows) -> Any:
    """``rows`` as the suite's table (declared columns and types; absent ones null)."""
    table = next(t for t in tables.TABLES if t.name == suite.table)
    columns = [c for c in table.columns if any(c in r for r in rows)]
    schema = table.struct(*columns)
    data = [tuple(r.get(c) for c in columns) for r in rows]
    return table.conform(spark.createDataFrame(data, schema))
