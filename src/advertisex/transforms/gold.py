"""Gold aggregates (docs/CONTRACT.md §3) as pure DataFrame functions.

Every function takes silver DataFrames (valid, de-duplicated, clicks and conversions
already attributed) and returns the full gold rows for whatever dates its inputs hold.
Every event counts on its own UTC ``event_date`` and its own ``campaign_id``, so the
gold rows of a set of dates ``D`` depend only on the silver rows *of* ``D``:

    campaign_daily(D) = f(impressions ∩ D, clicks ∩ D, conversions ∩ D)

To refresh, filter the three inputs to ``D`` and overwrite those partitions
(``replaceWhere``); :mod:`advertisex.transforms.dates` says which dates a change touches.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame
from pyspark.sql.types import DecimalType

from advertisex import contract as C
from advertisex import tables
from advertisex.transforms import normalize as N

CONVERSION_VALUE_SUM_TYPE = DecimalType(28, 6)  # sum() of decimal(18,6), as Spark types it

_COUNTS = ("impressions", "clicks", "unattributed_clicks", "conversions", "view_through_conversions")
GOLD_CAMPAIGN_DAILY_COLUMNS = tables.GOLD_CAMPAIGN_DAILY.columns
GOLD_CAMPAIGN_HOURLY_COLUMNS = tables.GOLD_CAMPAIGN_HOURLY.columns
GOLD_BID_DAILY_COLUMNS = tables.GOLD_BID_DAILY.columns


def ratio(num: Column, den: Column) -> Column:
    """``num / den`` as double; null when ``den`` is 0 or null (no ANSI division error): the
    contract's ratios (``ctr``, ``cvr``, ``win_rate``), here and in :mod:`advertisex.analysis`."""
    return F.when(den > 0, num.cast("double") / den.cast("double"))


def _distinct_where(cond: Column, id_col: str, *, ids_unique: bool = False) -> Column:
    """Count of distinct non-null ``id_col`` values among rows where ``cond`` holds (long).

    ``ids_unique``: the input holds one row per id, so the rows are counted (same number,
    without a distinct aggregation, which shuffles every id).
    """
    ids = F.when(cond, F.col(id_col))
    return (F.count(ids) if ids_unique else F.count_distinct(ids)).cast("long")


def _partial_counts(impressions: DataFrame, clicks: DataFrame, conversions: DataFrame, group: Sequence[Column],
                    ids_unique: bool) -> DataFrame:
    """Each source's counts per ``group``, in the gold columns (zero for what it does not
    count), one union: summing its rows per group gives the metrics."""
    zero_long = F.lit(0).cast("long")
    zero_value = F.lit(0).cast(CONVERSION_VALUE_SUM_TYPE)
    imp = impressions.groupBy(*group).agg(
        _distinct_where(F.lit(True), "impression_id", ids_unique=ids_unique).alias("impressions"),
        zero_long.alias("clicks"),
        zero_long.alias("unattributed_clicks"),
        zero_long.alias("conversions"),
        zero_long.alias("view_through_conversions"),
        F.sum(F.coalesce(F.col("cost_micros").cast("long"), zero_long)).cast("long").alias("spend_micros"),
        zero_value.alias("conversion_value"),
    )
    attributed = F.col("attribution_kind") != C.ATTRIBUTION_NONE
    clk = clicks.groupBy(*group).agg(
        zero_long.alias("impressions"),
        _distinct_where(attributed, "event_id", ids_unique=ids_unique).alias("clicks"),
        _distinct_where(~attributed, "event_id", ids_unique=ids_unique).alias("unattributed_clicks"),
        zero_long.alias("conversions"),
        zero_long.alias("view_through_conversions"),
        zero_long.alias("spend_micros"),
        zero_value.alias("conversion_value"),
    )
    post_click = F.col("attribution_kind") == C.ATTRIBUTION_POST_CLICK
    post_view = F.col("attribution_kind") == C.ATTRIBUTION_POST_VIEW
    conv = conversions.groupBy(*group).agg(
        zero_long.alias("impressions"),
        zero_long.alias("clicks"),
        zero_long.alias("unattributed_clicks"),
        _distinct_where(post_click, "event_id", ids_unique=ids_unique).alias("conversions"),
        _distinct_where(post_view, "event_id", ids_unique=ids_unique).alias("view_through_conversions"),
        zero_long.alias("spend_micros"),
        F.coalesce(
            F.sum(F.when(post_click, F.col("conversion_value"))).cast(CONVERSION_VALUE_SUM_TYPE),
            zero_value,
        ).alias("conversion_value"),
    )
    return imp.unionByName(clk).unionByName(conv)


def _campaign_metrics(
    impressions: DataFrame,
    clicks: DataFrame,
    conversions: DataFrame,
    campaigns_current: DataFrame,
    keys: Sequence[tuple[str, Column]],
    columns: Sequence[str],
    ids_unique: bool = False,
) -> DataFrame:
    """The campaign metrics per ``keys`` (e.g. the date, or the date and hour) and campaign."""
    key_cols = [name for name, _ in keys]

    def with_keys(df: DataFrame) -> DataFrame:
        return df.select("*", *[expr.alias(f"_key_{name}") for name, expr in keys])

    group = [*[F.col(f"_key_{k}").alias(k) for k in key_cols], F.col("campaign_id")]
    totals = (
        _partial_counts(with_keys(impressions), with_keys(clicks), with_keys(conversions), group, ids_unique)
        .groupBy(*key_cols, "campaign_id")
        .agg(
            *[F.sum(c).cast("long").alias(c) for c in (*_COUNTS, "spend_micros")],
            F.sum("conversion_value").cast(CONVERSION_VALUE_SUM_TYPE).alias("conversion_value"),
        )
    )
    any_count = F.lit(False)
    for c in _COUNTS:
        any_count = any_count | (F.col(c) != 0)
    ref = campaigns_current.select(
        F.col("campaign_id").alias("_ref_campaign_id"),
        F.col("advertiser_id").cast("string").alias("advertiser_id"),
        F.col("campaign_name").cast("string").alias("campaign_name"),
    )
    return (
        totals.where(any_count)
        .join(F.broadcast(ref), F.col("campaign_id") == F.col("_ref_campaign_id"), "left")
        .withColumn("ctr", ratio(F.col("clicks"), F.col("impressions")))
        .withColumn("cvr", ratio(F.col("conversions"), F.col("clicks")))
        .select(*columns)
    )


def campaign_daily(
    impressions: DataFrame,
    clicks: DataFrame,
    conversions: DataFrame,
    campaigns_current: DataFrame,
    *,
    ids_unique: bool = False,
) -> DataFrame:
    """``gold/campaign_daily``: one row per ``(event_date, campaign_id)`` with any count.

    Args:
        impressions: silver impressions (``impression_id``, ``event_time``,
            ``campaign_id``, ``cost_micros``).
        clicks: attributed silver clicks (``event_id``, ``event_time``, ``campaign_id``,
            ``attribution_kind``).
        conversions: attributed silver conversions (``event_id``, ``event_time``,
            ``campaign_id``, ``attribution_kind``, ``conversion_value``).
        campaigns_current: one row per ``campaign_id`` with ``advertiser_id`` and
            ``campaign_name`` (e.g. ``silver.current_rows(campaigns_dim)``).
        ids_unique: the inputs hold one row per ``impression_id`` / ``event_id``, as silver
            does (its inserts de-duplicate by id); then rows are counted instead of distinct
            ids, the same numbers without a distinct aggregation over every id.

    Returns:
        Exactly :data:`GOLD_CAMPAIGN_DAILY_COLUMNS`: ``event_date`` date (UTC date
        of each event's ``event_time``), ``campaign_id``, ``advertiser_id``,
        ``campaign_name`` strings; ``impressions``, ``clicks``, ``unattributed_clicks``,
        ``conversions``, ``view_through_conversions``, ``spend_micros`` long;
        ``conversion_value`` decimal(28,6); ``ctr``, ``cvr`` double (null when the
        denominator is 0).
    """
    return _campaign_metrics(
        impressions,
        clicks,
        conversions,
        campaigns_current,
        keys=[("event_date", N.event_date(F.col("event_time")))],
        columns=GOLD_CAMPAIGN_DAILY_COLUMNS,
        ids_unique=ids_unique,
    )


def campaign_hourly(
    impressions: DataFrame,
    clicks: DataFrame,
    conversions: DataFrame,
    campaigns_current: DataFrame,
    *,
    ids_unique: bool = False,
) -> DataFrame:
    """``gold/campaign_hourly``: :func:`campaign_daily` per ``(event_date, event_hour)``.

    Args:
        impressions: as for :func:`campaign_daily`.
        clicks: as for :func:`campaign_daily`.
        conversions: as for :func:`campaign_daily`.
        campaigns_current: as for :func:`campaign_daily`.
        ids_unique: as for :func:`campaign_daily`.

    Returns:
        :data:`GOLD_CAMPAIGN_HOURLY_COLUMNS`: the daily columns with ``event_hour`` (int,
        UTC hour 0-23) after ``event_date``.
    """
    return _campaign_metrics(
        impressions,
        clicks,
        conversions,
        campaigns_current,
        keys=[
            ("event_date", N.event_date(F.col("event_time"))),
            ("event_hour", N.event_hour(F.col("event_time"))),
        ],
        columns=GOLD_CAMPAIGN_HOURLY_COLUMNS,
        ids_unique=ids_unique,
    )


def campaign_daily_from_hourly(hourly: DataFrame) -> DataFrame:
    """:func:`campaign_daily` rolled up from :func:`campaign_hourly` rows of the same dates.

    Each silver event has one ``event_time``, so it counts in exactly one hour of its day
    and its id (unique in silver) in no other hour: the daily counts, spend and value are
    the sums of the hourly ones, and ``ctr``/``cvr`` are recomputed from the sums. The
    gold job computes the hourly table once and derives the daily one from it.

    Args:
        hourly: :data:`GOLD_CAMPAIGN_HOURLY_COLUMNS` rows.

    Returns:
        Exactly :data:`GOLD_CAMPAIGN_DAILY_COLUMNS`, as :func:`campaign_daily`.
    """
    daily = hourly.groupBy("event_date", "campaign_id", "advertiser_id", "campaign_name").agg(
        *[F.sum(c).cast("long").alias(c) for c in (*_COUNTS, "spend_micros")],
        F.sum("conversion_value").cast(CONVERSION_VALUE_SUM_TYPE).alias("conversion_value"),
    )
    return (
        daily.withColumn("ctr", ratio(F.col("clicks"), F.col("impressions")))
        .withColumn("cvr", ratio(F.col("conversions"), F.col("clicks")))
        .select(*GOLD_CAMPAIGN_DAILY_COLUMNS)
    )


def bid_daily(bid_requests: DataFrame, impressions: DataFrame, *, ids_unique: bool = False) -> DataFrame:
    """``gold/bid_daily``: one row per ``(event_date, exchange)`` of the bid requests.

    Args:
        bid_requests: silver bid requests (``bid_request_id``, ``event_time``,
            ``exchange``, ``bid_price_micros``, ``won``, ``clearing_price_micros``).
        impressions: valid silver impressions (``impression_id``, ``bid_request_id``),
            of any date: an impression counts on its bid request's date.
        ids_unique: both inputs hold one row per id (``bid_request_id``, ``impression_id``),
            as silver does; then rows are counted, without the distinct aggregations (each
            shuffles every id, and several over one input are planned as one copy of it per
            measure) or the de-duplication of the requests before the join.

    Returns:
        Exactly :data:`GOLD_BID_DAILY_COLUMNS`: ``event_date`` date, ``exchange``
        string, ``bid_requests``, ``bids``, ``wins`` long, ``win_rate`` double (null when
        bids = 0), ``avg_clearing_price_micros`` double (mean over won requests with a
        clearing price; null when none), ``impressions_matched`` long.
    """
    bids = bid_requests.select(
        "bid_request_id",
        N.event_date(F.col("event_time")).alias("event_date"),
        "exchange",
        "bid_price_micros",
        "won",
        "clearing_price_micros",
    )
    won = F.coalesce(F.col("won"), F.lit(False))
    per_day = bids.groupBy("event_date", "exchange").agg(
        _distinct_where(F.lit(True), "bid_request_id", ids_unique=ids_unique).alias("bid_requests"),
        _distinct_where(F.col("bid_price_micros").isNotNull(), "bid_request_id", ids_unique=ids_unique).alias("bids"),
        _distinct_where(won, "bid_request_id", ids_unique=ids_unique).alias("wins"),
        F.avg(F.when(won, F.col("clearing_price_micros").cast("double"))).alias(
            "avg_clearing_price_micros"
        ),
    )
    request_keys = bids.select("bid_request_id", "event_date", "exchange")
    if not ids_unique:
        request_keys = request_keys.dropDuplicates(["bid_request_id"])
    # Both sides are a day of silver, growing with every batch of a running pipeline: never
    # broadcast (Spark's estimate from the compressed files is far below their size in memory).
    matched = (
        impressions.where(F.col("bid_request_id").isNotNull())
        .select("impression_id", F.col("bid_request_id").alias("_imp_bid_request_id"))
        .hint("merge")
        .join(request_keys, F.col("_imp_bid_request_id") == F.col("bid_request_id"), "inner")
        .groupBy("event_date", "exchange")
        .agg(_distinct_where(F.lit(True), "impression_id", ids_unique=ids_unique).alias("impressions_matched"))
    )
    return (
        per_day.join(matched, ["event_date", "exchange"], "left")
        .withColumn("impressions_matched", F.coalesce(F.col("impressions_matched"), F.lit(0).cast("long")))
        .withColumn("win_rate", ratio(F.col("wins"), F.col("bids")))
        .select(*GOLD_BID_DAILY_COLUMNS)
    )
