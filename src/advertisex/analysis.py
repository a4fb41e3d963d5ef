"""What the data-health report and the analysts' notebooks show, as small aggregates of the lake.

Each function takes lake tables as DataFrames (read by path with
:func:`advertisex.io.lake.read_or_empty`, or by name in a notebook session,
:mod:`advertisex.notebook`) and returns a few rows to draw, ready for ``toPandas()``. No
function reads or writes anything itself except :func:`freshness`, whose metric is the
tables' Delta logs.

The campaign figures start from gold's counts and keep docs/CONTRACT.md §3's definitions: a
ratio over several gold rows is the ratio of their summed counts (the same ``ctr`` gold holds
for one row), null when the denominator is 0. Money (``spend``, ``cpc``, ``cpa``) is in
currency units, ``*_micros`` / 10^6; bid prices stay in micros per impression, as the tables
hold them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.io.delta import is_delta, last_commit
from advertisex.quality.results import latest
from advertisex.transforms.gold import ratio

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MICROS_PER_UNIT = 1_000_000

# The counts of gold's campaign tables, summed over any grouping.
CAMPAIGN_COUNTS = ("impressions", "clicks", "unattributed_clicks", "conversions", "view_through_conversions")

# Delay buckets: (label, upper bound in seconds), the last one open-ended (None).
CLICK_DELAY_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("< 10 s", 10), ("10-30 s", 30), ("30-60 s", 60), ("1-2 min", 120), ("2-5 min", 300),
    ("5-10 min", 600), ("10-30 min", 1800), ("≥ 30 min", None),
)
CONVERSION_DELAY_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("< 1 h", 3600), ("1-6 h", 6 * 3600), ("6-24 h", 24 * 3600), ("1-3 days", 3 * 86400), ("≥ 3 days", None),
)


def _money(micros: Column) -> Column:
    return micros.cast("double") / F.lit(MICROS_PER_UNIT)


def _campaign_sums(*extra: Column) -> list[Column]:
    """Sums of gold's campaign counts and spend (micros), plus ``extra`` aggregates."""
    return [*extra, *[F.coalesce(F.sum(c), F.lit(0)).cast("long").alias(c) for c in (*CAMPAIGN_COUNTS, "spend_micros")]]


def _with_ratios(sums: DataFrame, keys: Sequence[str]) -> DataFrame:
    """``keys``, the summed counts, and the contract's ratios of them plus spend, CPC and CPA."""
    spend = _money(F.col("spend_micros"))
    return sums.select(
        *keys, *CAMPAIGN_COUNTS,
        ratio(F.col("clicks"), F.col("impressions")).alias("ctr"),
        ratio(F.col("conversions"), F.col("clicks")).alias("cvr"),
        spend.alias("spend"),
        ratio(spend, F.col("clicks")).alias("cpc"),
        ratio(spend, F.col("conversions")).alias("cpa"),
    )


def campaign_metrics(campaigns: DataFrame, *by: str) -> DataFrame:
    """Campaign performance per ``by`` (e.g. ``"event_date", "campaign_id"``): CTR = attributed clicks /
    impressions, CVR = post-click conversions / clicks, spend, CPC = spend / click, CPA = spend / conversion.

    Args:
        campaigns: ``gold/campaign_daily`` or ``gold/campaign_hourly`` rows.
        by: the columns to group by; a row of gold per ``by`` gives back gold's own ``ctr`` and ``cvr``.

    Returns:
        ``by``, the counts of :data:`CAMPAIGN_COUNTS` (long), ``ctr``, ``cvr``, ``spend``, ``cpc``,
        ``cpa`` (double, null when the denominator is 0), ordered by ``by``.
    """
    return _with_ratios(campaigns.groupBy(*by).agg(*_campaign_sums()), by).orderBy(*by)


def traffic_by_hour(hourly: DataFrame) -> DataFrame:
    """Impressions, attributed clicks and CTR (clicks / impressions) of all campaigns per UTC hour.

    Args:
        hourly: ``gold/campaign_hourly`` rows.

    Returns:
        ``hour`` (timestamp, the hour's start), ``impressions``, ``clicks`` (long), ``ctr``, in time order.
    """
    hours = campaign_metrics(hourly, "event_date", "event_hour")
    start = F.timestamp_add("HOUR", F.col("event_hour"), F.col("event_date").cast("timestamp"))
    return hours.select(start.alias("hour"), "impressions", "clicks", "ctr").orderBy("hour")


def traffic_by_day(daily: DataFrame) -> DataFrame:
    """Impressions, attributed clicks and CTR (clicks / impressions) of all campaigns per UTC date.

    Args:
        daily: ``gold/campaign_daily`` rows.

    Returns:
        ``event_date``, ``impressions``, ``clicks`` (long), ``ctr``, in date order.
    """
    return campaign_metrics(daily, "event_date").select("event_date", "impressions", "clicks", "ctr")


def spend_by_day(daily: DataFrame) -> DataFrame:
    """Spend (the impressions' cost) per UTC date, with the cost per attributed click (CPC) and per
    post-click conversion (CPA).

    Args:
        daily: ``gold/campaign_daily`` rows.

    Returns:
        ``event_date``, ``spend``, ``clicks``, ``conversions``, ``cpc``, ``cpa``, in date order.
    """
    return campaign_metrics(daily, "event_date").select("event_date", "spend", "clicks", "conversions", "cpc", "cpa")


def top_campaigns(daily: DataFrame, n: int = 10) -> DataFrame:
    """The ``n`` campaigns that spent most over all dates, with their CTR, CVR, CPC and CPA.

    Args:
        daily: ``gold/campaign_daily`` rows.
        n: how many campaigns.

    Returns:
        :func:`campaign_metrics` columns per ``campaign_id`` and its ``campaign_name`` (the one of its
        newest date), by spend, largest first (ties by ``campaign_id``).
    """
    sums = daily.groupBy("campaign_id").agg(
        *_campaign_sums(F.max_by("campaign_name", "event_date").alias("campaign_name")))
    return (_with_ratios(sums, ("campaign_id", "campaign_name"))
            .orderBy(F.desc("spend"), "campaign_id").limit(n))


def attribution_funnel(daily: DataFrame) -> DataFrame:
    """Impressions → attributed clicks → post-click conversions, and post-view conversions, with each
    step's rate: CTR (clicks / impressions), CVR (post-click / clicks), view-through rate (post-view /
    impressions).

    Args:
        daily: ``gold/campaign_daily`` rows (their counts are silver's attributions, docs/CONTRACT.md §3).

    Returns:
        Four rows in funnel order: ``stage`` (string), ``events`` (long), ``rate`` (double, null for the
        impressions and when the base is 0); none when ``daily`` has no rows.
    """
    totals = daily.agg(*_campaign_sums(F.count(F.lit(1)).alias("_rows"))).where(F.col("_rows") > 0)
    imps, clicks = F.col("impressions"), F.col("clicks")
    stages = (
        ("impressions", imps, F.lit(None).cast("double")),
        ("attributed clicks", clicks, ratio(clicks, imps)),
        ("post-click conversions", F.col("conversions"), ratio(F.col("conversions"), clicks)),
        ("post-view conversions", F.col("view_through_conversions"), ratio(F.col("view_through_conversions"), imps)),
    )
    rows = F.array(*[F.struct(F.lit(i).alias("step"), F.lit(name).alias("stage"), events.alias("events"),
                              rate.alias("rate")) for i, (name, events, rate) in enumerate(stages)])
    return totals.select(F.inline(rows)).orderBy("step").select("stage", "events", "rate")


def _delay_bucket(seconds: Column, buckets: Sequence[tuple[str, float | None]]) -> tuple[Column, Column]:
    """The label and the order of the bucket of ``buckets`` that ``seconds`` falls in."""
    label, order = None, None
    for i, (name, upper) in reversed(list(enumerate(buckets))):
        if upper is None:
            label, order = F.lit(name), F.lit(i)
        else:
            label = F.when(seconds < upper, F.lit(name)).otherwise(label)
            order = F.when(seconds < upper, F.lit(i)).otherwise(order)
    return label, order


def attribution_delay(events: DataFrame, buckets: Sequence[tuple[str, float | None]] = CLICK_DELAY_BUCKETS
                      ) -> DataFrame:
    """How long after the impression (a click), or after the click or impression (a conversion), attributed
    events came: their count per attribution kind and delay bucket.

    Args:
        events: ``silver/clicks`` or ``silver/conversions`` rows (``attribution_kind``, ``attribution_lag_ms``);
            unattributed ones are left out.
        buckets: ``(label, upper bound in seconds)``, ascending, the last bound None (open-ended), e.g.
            :data:`CLICK_DELAY_BUCKETS`, :data:`CONVERSION_DELAY_BUCKETS`.

    Returns:
        ``attribution_kind``, ``delay`` (the bucket's label), ``events`` (long): the buckets that hold
        events, in kind and bucket order.
    """
    seconds = F.col("attribution_lag_ms") / F.lit(1000)
    label, order = _delay_bucket(seconds, buckets)
    attributed = events.where((F.col("attribution_kind") != F.lit(C.ATTRIBUTION_NONE))
                              & F.col("attribution_lag_ms").isNotNull())
    return (attributed.groupBy("attribution_kind", label.alias("delay"), order.alias("_order"))
            .agg(F.count(F.lit(1)).alias("events"))
            .orderBy("attribution_kind", "_order").drop("_order"))


def attribution_delay_summary(events: DataFrame) -> DataFrame:
    """The median and 90th percentile of the delay from impression to click (or to a conversion from its
    click or impression), per attribution kind.

    Args:
        events: ``silver/clicks`` or ``silver/conversions`` rows.

    Returns:
        ``attribution_kind``, ``events`` (long), ``median_seconds``, ``p90_seconds`` (double, exact
        percentiles, interpolated), by kind.
    """
    seconds = F.col("attribution_lag_ms").cast("double") / F.lit(1000)
    attributed = events.where((F.col("attribution_kind") != F.lit(C.ATTRIBUTION_NONE))
                              & F.col("attribution_lag_ms").isNotNull())
    return (attributed.groupBy("attribution_kind")
            .agg(F.count(F.lit(1)).alias("events"), F.percentile(seconds, 0.5).alias("median_seconds"),
                 F.percentile(seconds, 0.9).alias("p90_seconds"))
            .orderBy("attribution_kind"))


def win_rate_by_exchange(bid_daily: DataFrame) -> DataFrame:
    """Per exchange over all dates: the share of our bids that won (win rate = wins / bids) and the
    mean clearing price of the auctions won.

    Args:
        bid_daily: ``gold/bid_daily`` rows.

    Returns:
        ``exchange``, ``bid_requests``, ``bids``, ``wins`` (long), ``win_rate``,
        ``avg_clearing_price_micros`` (gold's daily means weighted by their wins), by exchange.
    """
    wins = F.col("wins")
    sums = bid_daily.groupBy("exchange").agg(
        *[F.sum(c).cast("long").alias(c) for c in ("bid_requests", "bids", "wins")],
        F.sum(F.col("avg_clearing_price_micros") * wins).alias("_clearing_total"),
        F.sum(F.when(F.col("avg_clearing_price_micros").isNotNull(), wins)).alias("_priced_wins"),
    )
    return sums.select(
        "exchange", "bid_requests", "bids", "wins", ratio(wins, F.col("bids")).alias("win_rate"),
        ratio(F.col("_clearing_total"), F.col("_priced_wins")).alias("avg_clearing_price_micros"),
    ).orderBy("exchange")


def bid_prices_by_exchange(bid_requests: DataFrame) -> DataFrame:
    """Per exchange: the floor price every auction set, what we bid, and the floor and clearing price
    of the auctions we won (how far above the floor they cleared: clearing / floor).

    Args:
        bid_requests: ``silver/bid_requests`` rows.

    Returns:
        ``exchange``, ``bid_requests``, ``avg_floor_price_micros`` (all requests), ``avg_bid_price_micros``
        (our bids), ``avg_won_floor_price_micros``, ``avg_clearing_price_micros`` (won auctions; gold's
        ``avg_clearing_price_micros`` over all dates), ``clearing_to_floor`` (mean over won auctions with a
        floor above 0), by exchange.
    """
    won = F.coalesce(F.col("won"), F.lit(False))
    floor, clearing = F.col("floor_price_micros").cast("double"), F.col("clearing_price_micros").cast("double")
    return bid_requests.groupBy("exchange").agg(
        F.count(F.lit(1)).cast("long").alias("bid_requests"),
        F.avg(floor).alias("avg_floor_price_micros"),
        F.avg(F.col("bid_price_micros").cast("double")).alias("avg_bid_price_micros"),
        F.avg(F.when(won, floor)).alias("avg_won_floor_price_micros"),
        F.avg(F.when(won, clearing)).alias("avg_clearing_price_micros"),
        F.avg(F.when(won & (floor > 0), clearing / floor)).alias("clearing_to_floor"),
    ).orderBy("exchange")


def quarantine_by_reason(quarantine: DataFrame) -> DataFrame:
    """Malformed records set aside per ingestion date, source and reason code (docs/CONTRACT.md §1.6).

    Args:
        quarantine: ``quarantine`` rows.

    Returns:
        ``ingest_date``, ``source``, ``reason``, ``records`` (long), in date, source and reason order.
    """
    return (quarantine.groupBy("ingest_date", "source", "reason").agg(F.count(F.lit(1)).alias("records"))
            .orderBy("ingest_date", "source", "reason"))


def quality_summary(results: DataFrame) -> DataFrame:
    """Per table and severity, how many checks passed and failed in their latest result (a failed one is
    an open finding, docs/CONTRACT.md §6).

    Args:
        results: ``quality/results`` rows.

    Returns:
        ``table``, ``severity``, ``passed``, ``failed`` (long), by table and severity.
    """
    return (latest(results).groupBy("table", "severity")
            .agg(F.count_if(F.col("success")).cast("long").alias("passed"),
                 F.count_if(~F.col("success")).cast("long").alias("failed"))
            .orderBy("table", "severity"))


def failing_checks(results: DataFrame) -> DataFrame:
    """The open quality findings: checks whose latest result failed, with what was seen.

    Args:
        results: ``quality/results`` rows.

    Returns:
        ``table``, ``partition``, ``expectation``, ``severity``, ``observed_value``, ``expected``, ``note``,
        ``checked_at``, critical first, then by table, partition and expectation.
    """
    return (latest(results).where(~F.col("success"))
            .select("table", "partition", "expectation", "severity", "observed_value", "expected", "note",
                    "checked_at")
            .orderBy(F.col("severity") != F.lit("critical"), "table", "partition", "expectation"))


def anomalies_by_rule(anomalies: DataFrame) -> DataFrame:
    """How many anomaly findings each rule made, open (still holding) or resolved, per severity.

    Args:
        anomalies: ``quality/anomalies`` rows.

    Returns:
        ``rule``, ``severity``, ``status``, ``findings`` (long), by rule, severity and status.
    """
    return (anomalies.groupBy("rule", "severity", "status").agg(F.count(F.lit(1)).alias("findings"))
            .orderBy("rule", "severity", "status"))


def open_anomalies(anomalies: DataFrame) -> DataFrame:
    """The anomaly findings still open, each with what was expected and what was seen.

    Args:
        anomalies: ``quality/anomalies`` rows.

    Returns:
        ``rule``, ``severity``, ``table``, ``event_date``, ``event_hour``, ``campaign_id``, ``source``,
        ``expected``, ``observed``, ``summary``, newest first (critical first within an hour).
    """
    return (anomalies.where(F.col("status") == F.lit("open"))
            .select("rule", "severity", "table", "event_date", "event_hour", "campaign_id", "source",
                    "expected", "observed", "summary")
            .orderBy(F.desc("event_date"), F.desc_nulls_last("event_hour"), F.col("severity") != F.lit("critical"),
                     "rule", "campaign_id"))


FRESHNESS_SCHEMA = "table string, version long, operation string, last_commit timestamp"


def freshness(spark: SparkSession, cfg: Config, now: dt.datetime | None = None) -> DataFrame:
    """Per lake table that exists: its latest Delta commit and how long ago it was (a table that no job
    writes to any more goes stale).

    Reads only each table's log (``DESCRIBE HISTORY``), not its data: the tables' newest event times
    are the pipeline's ``advertisex_table_freshness_seconds``.

    Args:
        spark: the session.
        cfg: the configuration (``lake.root``).
        now: the time to measure from (default: the query's current time).

    Returns:
        ``table`` (its name under ``lake.root``), ``version`` (long), ``operation``, ``last_commit``
        (timestamp), ``age_hours`` (double), in the order of :data:`advertisex.tables.TABLES`.
    """
    rows = []
    for table in tables.TABLES:
        path = cfg.table_path(table)
        if is_delta(spark, path):
            commit = last_commit(spark, path)
            rows.append((table.name, commit.version, commit.operation, commit.timestamp))
    at = F.current_timestamp() if now is None else F.lit(now)
    age = (F.unix_micros(at) - F.unix_micros(F.col("last_commit"))) / F.lit(3_600_000_000)
    return spark.createDataFrame(rows, FRESHNESS_SCHEMA).select("*", age.alias("age_hours"))
