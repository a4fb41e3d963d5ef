"""Click and conversion attribution (docs/CONTRACT.md §3) as pure DataFrame transforms.

Windows are inclusive at both ends: a click at ``t`` matches impressions with
``event_time`` in ``[t − click_window, t]``. Times are compared as epoch microseconds,
so a match 1 ms outside a window is no match.

How the "latest event in a window" search scales: both sides are equi-joined on
``(user_id, campaign_id, time bucket)`` where buckets are as wide as the window; each
left row looks in its own bucket and the one before, which together cover the whole
window. Only ids, keys and times travel through that join; the winner per left row is
``max(struct(time, id))`` (latest time, ties broken by the largest id) and is joined
back to the full rows by id. Inputs are expected de-duplicated (silver): one row per
click / conversion ``event_id`` and per ``impression_id``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from advertisex import contract as C

MATCH_KEYS = ("user_id", "campaign_id")
MICROS_PER_MINUTE = 60_000_000
MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE
MICROS_PER_DAY = 24 * MICROS_PER_HOUR

CLICK_ATTRIBUTION_COLUMNS = ("attributed_impression_id", "attribution_kind", "attribution_lag_ms")
CONVERSION_ATTRIBUTION_COLUMNS = (
    "attributed_click_id",
    "attributed_impression_id",
    "attribution_kind",
    "attribution_lag_ms",
)


def _bucket(micros: Column, width: int) -> Column:
    """Start (epoch micros) of the ``width``-wide bucket holding ``micros``."""
    return micros - F.pmod(micros, F.lit(width))


def _lag_ms(later: Column, earlier_micros: Column) -> Column:
    """Whole milliseconds from ``earlier_micros`` (epoch micros) to the timestamp ``later``."""
    return F.floor((F.unix_micros(later) - earlier_micros) / F.lit(1000)).cast("long")


# Long for its docstring, which explains the bucketed join; the code is one plan.
def latest_in_window(
    left: DataFrame,
    right: DataFrame,
    *,
    left_id: str,
    right_id: str,
    window_micros: int,
    keys: Sequence[str] = MATCH_KEYS,
    payload: Sequence[str] = (),
    small: bool = False,
) -> DataFrame:
    """For each ``left`` row, the latest ``right`` row with equal ``keys`` in its window.

    A right row matches a left row when all ``keys`` are equal (non-null) and
    ``left.event_time − window <= right.event_time <= left.event_time``. Among matches
    the latest ``event_time`` wins; ties go to the largest ``right_id``.

    Args:
        left: rows with ``left_id``, ``keys`` and ``event_time``.
        right: rows with ``right_id``, ``keys``, ``event_time`` and ``payload``.
        left_id: the id column of ``left`` (unique).
        right_id: the id column of ``right``.
        window_micros: the window length in microseconds (>= 0).
        keys: the columns that must be equal.
        payload: more ``right`` columns to return for the winner.
        small: ``left`` is small (say up to 100,000 rows): its keys and rows are broadcast,
            so a big ``right`` is filtered where it is read instead of being shuffled.

    Returns:
        ``_left_id``, ``_match_id``, ``_match_us`` (epoch micros of the winner's
        ``event_time``) and ``_match_<c>`` for each payload column; one row per left row
        with at least one match.
    """
    if window_micros < 0:
        raise ValueError(f"attribution window must not be negative, got {window_micros} µs")
    width = max(window_micros, 1)
    not_null = F.lit(True)
    for k in keys:
        not_null = not_null & F.col(k).isNotNull()

    lus = F.unix_micros(F.col("event_time"))
    lhs = (
        left.where(not_null & F.col("event_time").isNotNull())
        .select(
            F.col(left_id).alias("_left_id"),
            *[F.col(k).alias(f"_k_{k}") for k in keys],
            lus.alias("_left_us"),
            F.explode(F.array(_bucket(lus, width), _bucket(lus, width) - F.lit(width))).alias("_bucket"),
        )
    )
    rus = F.unix_micros(F.col("event_time"))
    # Only right rows whose keys occur on the left can match: a semi join on the (usually few)
    # left keys first keeps the bucketed join small when the right side is large.
    left_keys = left.where(not_null).select(*keys).distinct()
    if small:
        left_keys, lhs = F.broadcast(left_keys), F.broadcast(lhs)
    rhs = right.where(not_null & F.col("event_time").isNotNull()).join(left_keys, list(keys), "left_semi").select(
        F.col(right_id).alias("_match_id"),
        *[F.col(k).alias(f"_k_{k}") for k in keys],
        rus.alias("_match_us"),
        _bucket(rus, width).alias("_bucket"),
        *[F.col(p).alias(f"_match_{p}") for p in payload],
    )
    pairs = lhs.join(rhs, [*[f"_k_{k}" for k in keys], "_bucket"], "inner").where(
        (F.col("_match_us") <= F.col("_left_us"))
        & (F.col("_match_us") >= F.col("_left_us") - F.lit(window_micros))
    )
    best = pairs.groupBy("_left_id").agg(
        F.max(F.struct("_match_us", "_match_id", *[f"_match_{p}" for p in payload])).alias("_best")
    )
    return best.select(
        "_left_id",
        *[F.col("_best").getField(c).alias(c) for c in ("_match_us", "_match_id")],
        *[F.col("_best").getField(f"_match_{p}").alias(f"_match_{p}") for p in payload],
    )


def attribute_clicks(
    clicks: DataFrame, impressions: DataFrame, *, click_window_minutes: int, small: bool = False
) -> DataFrame:
    """Attribute each click to an impression (docs/CONTRACT.md §3, click attribution).

    1. the impression named by the click's ``impression_id``, when it exists among
       ``impressions`` (any time, any user) → ``"impression_id"``;
    2. else the latest impression with the same ``user_id`` and ``campaign_id`` in
       ``[click_time − click_window_minutes, click_time]`` (ties: largest
       ``impression_id``) → ``"last_impression"``;
    3. else ``"unattributed"``.

    Args:
        clicks: silver clicks: ``event_id``, ``event_time``, ``user_id``,
            ``campaign_id``, ``impression_id`` (nullable) and any other columns. Existing
            attribution columns are replaced, so attributed clicks can be re-attributed.
        impressions: valid silver impressions: ``impression_id``, ``event_time``,
            ``user_id``, ``campaign_id``.
        click_window_minutes: ``attribution.click_window_minutes``.
        small: ``clicks`` is small (see :func:`latest_in_window`): a plan hint only.

    Returns:
        ``clicks``' columns plus ``attributed_impression_id`` (string),
        ``attribution_kind`` (string, :mod:`advertisex.contract` ``ATTRIBUTION_*``) and
        ``attribution_lag_ms`` (long: click time − impression time; null if unattributed).
    """
    base = clicks.drop(*CLICK_ATTRIBUTION_COLUMNS)
    named_ids = clicks.select("impression_id").where(F.col("impression_id").isNotNull()).distinct()
    if small:
        named_ids = F.broadcast(named_ids)
    named = (
        impressions.join(named_ids, "impression_id", "left_semi")
        .groupBy("impression_id")
        .agg(F.min(F.unix_micros(F.col("event_time"))).alias("_named_us"))
        .select(F.col("impression_id").alias("_named_id"), "_named_us")
    )
    latest = latest_in_window(
        clicks,
        impressions,
        left_id="event_id",
        right_id="impression_id",
        window_micros=click_window_minutes * MICROS_PER_MINUTE,
        small=small,
    )
    out = base.join(named, F.col("impression_id") == F.col("_named_id"), "left").join(
        latest, F.col("event_id") == F.col("_left_id"), "left"
    )
    is_named = F.col("_named_id").isNotNull()
    is_window = F.col("_match_id").isNotNull()
    return out.select(
        *base.columns,
        F.when(is_named, F.col("_named_id")).otherwise(F.col("_match_id")).alias("attributed_impression_id"),
        F.when(is_named, F.lit(C.ATTRIBUTION_IMPRESSION_ID))
        .when(is_window, F.lit(C.ATTRIBUTION_LAST_IMPRESSION))
        .otherwise(F.lit(C.ATTRIBUTION_NONE))
        .alias("attribution_kind"),
        _lag_ms(
            F.col("event_time"), F.when(is_named, F.col("_named_us")).otherwise(F.col("_match_us"))
        ).alias("attribution_lag_ms"),
    )


# Long for its docstring, which states the contract rule; the plan is one read top to bottom.
def attribute_conversions(
    conversions: DataFrame,
    attributed_clicks: DataFrame,
    impressions: DataFrame,
    *,
    conversion_window_days: int,
    view_through_window_hours: int,
    small: bool = False,
) -> DataFrame:
    """Attribute each conversion (docs/CONTRACT.md §3, conversion attribution).

    1. post-click: the latest *attributed* click (kind not ``"unattributed"``) with the
       same ``user_id`` and ``campaign_id`` in ``[t − conversion_window_days, t]`` (ties:
       largest click ``event_id``) → ``"post_click"``;
    2. else post-view: the latest valid impression with the same ``user_id`` and
       ``campaign_id`` in ``[t − view_through_window_hours, t]`` → ``"post_view"``;
    3. else ``"unattributed"``.

    Args:
        conversions: silver conversions: ``event_id``, ``event_time``, ``user_id``,
            ``campaign_id`` and any other columns (existing attribution columns are
            replaced).
        attributed_clicks: output of :func:`attribute_clicks`.
        impressions: valid silver impressions.
        conversion_window_days: ``attribution.conversion_window_days``.
        view_through_window_hours: ``attribution.view_through_window_hours``.
        small: ``conversions`` is small (see :func:`latest_in_window`): a plan hint only.

    Returns:
        ``conversions``' columns plus ``attributed_click_id`` (string; post-click only),
        ``attributed_impression_id`` (string: the click's impression for post-click,
        the impression for post-view), ``attribution_kind`` (string) and
        ``attribution_lag_ms`` (long: conversion time − click or impression time; null
        if unattributed).
    """
    base = conversions.drop(*CONVERSION_ATTRIBUTION_COLUMNS)
    good_clicks = attributed_clicks.where(F.col("attribution_kind") != C.ATTRIBUTION_NONE)
    by_click = latest_in_window(
        conversions,
        good_clicks,
        left_id="event_id",
        right_id="event_id",
        window_micros=conversion_window_days * MICROS_PER_DAY,
        payload=("attributed_impression_id",),
        small=small,
    ).select(
        F.col("_left_id").alias("_c_left"),
        F.col("_match_id").alias("_click_id"),
        F.col("_match_us").alias("_click_us"),
        F.col("_match_attributed_impression_id").alias("_click_imp"),
    )
    by_view = latest_in_window(
        conversions,
        impressions,
        left_id="event_id",
        right_id="impression_id",
        window_micros=view_through_window_hours * MICROS_PER_HOUR,
        small=small,
    ).select(
        F.col("_left_id").alias("_v_left"),
        F.col("_match_id").alias("_view_id"),
        F.col("_match_us").alias("_view_us"),
    )
    out = base.join(by_click, F.col("event_id") == F.col("_c_left"), "left").join(
        by_view, F.col("event_id") == F.col("_v_left"), "left"
    )
    post_click = F.col("_click_id").isNotNull()
    post_view = F.col("_view_id").isNotNull()
    return out.select(
        *base.columns,
        F.when(post_click, F.col("_click_id")).alias("attributed_click_id"),
        F.when(post_click, F.col("_click_imp"))
        .when(post_view, F.col("_view_id"))
        .alias("attributed_impression_id"),
        F.when(post_click, F.lit(C.ATTRIBUTION_POST_CLICK))
        .when(post_view, F.lit(C.ATTRIBUTION_POST_VIEW))
        .otherwise(F.lit(C.ATTRIBUTION_NONE))
        .alias("attribution_kind"),
        _lag_ms(
            F.col("event_time"),
            F.when(post_click, F.col("_click_us")).otherwise(F.col("_view_us")),
        ).alias("attribution_lag_ms"),
    )
