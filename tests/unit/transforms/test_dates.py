"""Which dates a change touches, from the attribution windows."""

from __future__ import annotations

import datetime as dt

from advertisex.transforms.dates import affected_dates, input_dates

D1, D2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


def _days(first: dt.date, last: dt.date) -> frozenset[dt.date]:
    return frozenset(first + dt.timedelta(days=k) for k in range((last - first).days + 1))


def test_affected_dates_follow_the_attribution_windows() -> None:
    windows = {"click_window_minutes": 30, "conversion_window_days": 7, "view_through_window_hours": 24}

    late_impression = affected_dates(impression_dates=[D1], **windows)
    assert late_impression.clicks == {D1, D2}  # a click after midnight may use it
    assert late_impression.conversions == _days(D1, D2 + dt.timedelta(days=7))
    assert late_impression.campaign_daily == _days(D1, D2 + dt.timedelta(days=7))

    late_click = affected_dates(click_dates=[D1], **windows)
    assert late_click.clicks == {D1}
    assert late_click.conversions == _days(D1, D1 + dt.timedelta(days=7))

    late_conversion = affected_dates(conversion_dates=[D1], **windows)
    assert late_conversion == type(late_conversion)(frozenset(), frozenset({D1}), frozenset({D1}))

    reads = input_dates(click_dates=[D2], conversion_dates=[D2], **windows)
    assert reads.clicks == _days(D2 - dt.timedelta(days=7), D2)
    assert reads.impressions == _days(D2 - dt.timedelta(days=8), D2)
