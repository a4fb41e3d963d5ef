"""Which event dates a change touches: what the incremental steps recompute.

Every event counts in gold on its own UTC ``event_date`` and its own ``campaign_id``, so
the gold rows of a set of dates ``D`` depend only on the silver rows *of* ``D``. What
makes ``D`` larger than the dates of newly arrived events is attribution, which looks
back in time (:func:`affected_dates`):

- a new impression on day ``d`` can change the attribution of clicks on ``d`` and
  ``d + ceil(click_window / 1 day)`` (30 min: the next day, after midnight), and of
  conversions up to ``ceil(view_through_window)`` days later (post-view);
- a click whose attribution changed (new, or re-attributed) on ``d`` can change
  conversions on ``d … d + conversion_window_days``;
- re-attributing clicks of day ``d`` needs impressions of ``d − ceil(click_window)``
  … ``d``; re-attributing conversions of ``d`` needs attributed clicks of
  ``d − conversion_window_days … d`` and impressions of ``d − ceil(view_through) … d``
  (:func:`input_dates`).

``bid_daily`` counts on the bid request's date; an impression may match a bid request
of another (usually the previous) date: :func:`bid_dates_of_impressions` finds those.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from advertisex.transforms import normalize as N


def bid_dates_of_impressions(impressions: DataFrame, bid_requests: DataFrame, *, broadcast: bool = True) -> DataFrame:
    """The ``bid_daily`` dates that (new) impressions touch: their bid requests' dates.

    Args:
        impressions: impressions with ``bid_request_id`` (e.g. one batch of new rows).
        bid_requests: silver bid requests.
        broadcast: broadcast the impressions' ids (a batch of bounded size); otherwise the
            two are shuffled. The table is never broadcast: its compressed files make
            Spark's estimate of it far smaller than it is in memory.

    Returns:
        One column ``event_date`` (date), distinct.
    """
    ids = impressions.where(F.col("bid_request_id").isNotNull()).select(
        F.col("bid_request_id").alias("_id")
    ).distinct()
    bids, ids = (bid_requests, F.broadcast(ids)) if broadcast else (bid_requests.hint("merge"), ids)
    return (
        bids.join(ids, F.col("bid_request_id") == F.col("_id"), "inner")
        .select(N.event_date(F.col("event_time")).alias("event_date"))
        .distinct()
    )


def _days_reach(window: dt.timedelta) -> int:
    """How many calendar days back ``[t − window, t]`` can reach from ``t``'s date."""
    return math.ceil(window / dt.timedelta(days=1))


def shift(day: dt.date, days: int) -> dt.date:
    """``day`` moved by ``days``, held within 0001-01-01 … 9999-12-31: an event of year 1 is
    valid data, and the days before it do not exist."""
    return dt.date.fromordinal(min(max(day.toordinal() + days, 1), dt.date.max.toordinal()))


def spread(dates: Iterable[dt.date], back: int = 0, forward: int = 0) -> set[dt.date]:
    """The dates from ``back`` days before to ``forward`` days after each date (see :func:`shift`)."""
    return {dt.date.fromordinal(o) for d in dates
            for o in range(shift(d, -back).toordinal(), shift(d, forward).toordinal() + 1)}


@dataclass(frozen=True)
class AffectedDates:
    """Which silver/gold dates a batch of new events makes stale (see :func:`affected_dates`)."""

    clicks: frozenset[dt.date]
    """Dates whose clicks must be re-attributed."""
    conversions: frozenset[dt.date]
    """Dates whose conversions must be re-attributed."""
    campaign_daily: frozenset[dt.date]
    """Dates of ``campaign_daily`` (and ``campaign_hourly``) rows to recompute."""


def affected_dates(
    *,
    impression_dates: Iterable[dt.date] = (),
    click_dates: Iterable[dt.date] = (),
    conversion_dates: Iterable[dt.date] = (),
    click_window_minutes: int,
    conversion_window_days: int,
    view_through_window_hours: int,
) -> AffectedDates:
    """The dates to re-attribute and recompute after new events on the given dates.

    - new impressions on ``d`` → clicks on ``d … d + reach(click_window)``, conversions on
      ``d … d + reach(view_through_window)``;
    - clicks to (re-)attribute on ``d`` → conversions on ``d … d + conversion_window_days``;
    - campaign_daily: every date above plus the new events' own dates.

    Args:
        impression_dates: ``event_date`` values of new impressions.
        click_dates: ``event_date`` values of new clicks.
        conversion_dates: ``event_date`` values of new conversions.
        click_window_minutes: ``attribution.click_window_minutes``.
        conversion_window_days: ``attribution.conversion_window_days``.
        view_through_window_hours: ``attribution.view_through_window_hours``.

    Returns:
        :class:`AffectedDates`.
    """
    imp = set(impression_dates)
    click_reach = _days_reach(dt.timedelta(minutes=click_window_minutes))
    conv_reach = _days_reach(dt.timedelta(days=conversion_window_days))
    clicks = set(click_dates) | spread(imp, forward=click_reach)
    conversions = (
        set(conversion_dates)
        | post_view_dates(imp, view_through_window_hours=view_through_window_hours)
        | spread(clicks, forward=conv_reach)
    )
    return AffectedDates(
        clicks=frozenset(clicks),
        conversions=frozenset(conversions),
        campaign_daily=frozenset(imp | clicks | conversions),
    )


def post_view_dates(impression_dates: Iterable[dt.date], *, view_through_window_hours: int) -> set[dt.date]:
    """The conversion dates new impressions on ``impression_dates`` can reach as post-view:
    ``d … d + reach(view_through_window)``."""
    return spread(impression_dates, forward=_days_reach(dt.timedelta(hours=view_through_window_hours)))


@dataclass(frozen=True)
class InputDates:
    """Silver dates to read to re-attribute clicks and conversions of some dates."""

    impressions: frozenset[dt.date]
    clicks: frozenset[dt.date]


def input_dates(
    *,
    click_dates: Iterable[dt.date] = (),
    conversion_dates: Iterable[dt.date] = (),
    click_window_minutes: int,
    conversion_window_days: int,
    view_through_window_hours: int,
) -> InputDates:
    """The impression and click dates attribution of the given dates reads.

    Clicks of ``d`` need impressions of ``d − reach(click_window) … d``; conversions of
    ``d`` need attributed clicks of ``d − conversion_window_days … d`` and impressions of
    ``d − reach(view_through_window) … d``. A click's *named* impression can be of any
    date: for exact results, either join the named impressions from the whole table
    (a cheap id lookup) or accept that a named impression outside these dates falls back
    to the window rule.

    Args:
        click_dates: dates whose clicks are re-attributed.
        conversion_dates: dates whose conversions are re-attributed.
        click_window_minutes: ``attribution.click_window_minutes``.
        conversion_window_days: ``attribution.conversion_window_days``.
        view_through_window_hours: ``attribution.view_through_window_hours``.

    Returns:
        :class:`InputDates`.
    """
    click_reach = _days_reach(dt.timedelta(minutes=click_window_minutes))
    view_reach = _days_reach(dt.timedelta(hours=view_through_window_hours))
    conv_reach = _days_reach(dt.timedelta(days=conversion_window_days))
    clicks = spread(click_dates, back=0) | spread(conversion_dates, back=conv_reach)
    impressions = spread(clicks, back=click_reach) | spread(conversion_dates, back=view_reach)
    return InputDates(impressions=frozenset(impressions), clicks=frozenset(clicks))
