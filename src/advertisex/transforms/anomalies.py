"""Anomaly rules (docs/CONTRACT.md §6) as pure DataFrame functions, plus the one rule on table commits.

Each rule judges units (an hour of a series, a date, a table) and returns one *evaluation* per
unit, in the :data:`EVALUATION` columns: what was expected, what was seen, a score, a severity
and a status — :data:`FIRED`, :data:`OK`, :data:`BELOW_FLOOR` (the volume is under the rule's
floor), :data:`NO_HISTORY` (too few earlier days to know what is usual),
:data:`NOT_EXPECTED` / :data:`UNAVAILABLE` (``stale_table``: no live feed; no table). The job
keeps the fired ones as findings and reports the others as counts, so a silent rule says why.

Hours already flagged stay out of every baseline, as a day-by-day evaluation would have it:
within each series, dates are judged in order (:func:`~advertisex.transforms.windows.judge_in_order`),
and an hour flagged now, or flagged by an earlier run (``flagged``: the rule's open findings),
never enters a later date's baseline. A lasting change therefore keeps
firing until the window holds fewer than the minimum of unflagged days, then the rule is silent
(``no_history``) while the new level fills the window and becomes the baseline.

Baselines and spreads (the thresholds are ``anomaly.<rule>.*``):

- ``impressions_drop``: baseline = median of the same UTC hour on the previous ``min_days`` to
  ``max_days`` days that have impressions (a date without any is ``missing_partition``'s, and
  counts as no value); spread = 1.4826 × MAD, but never below √baseline (the counting noise
  of the hour) nor 1, so a zero MAD (the same count every day, or a quiet hour) does not make
  every small dip infinitely significant. An hour with no row on a date with impressions
  counts as 0 (a gap is a drop); an hour is judged once it ended ``settle_minutes`` ago.
- ``ctr_spike`` and ``quarantine_rate``: a proportion (clicks per impression, quarantined per
  record) against its trailing proportion (the campaign's previous ``trailing_days`` days; the
  source's same hour on the previous ``baseline_days`` days, as malformed records do not
  follow the daily curve of valid ones), binomial z = (rate − p) / √(p(1 − p) / n). A
  trailing rate of 0 is taken as half an event over the trailing volume, so z stays finite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from advertisex.config.model import (
    CtrSpikeConfig,
    ImpressionsDropConfig,
    QuarantineRateConfig,
    StaleTableConfig,
)
from advertisex.transforms.windows import FIRED, OK, Judge, flag_columns, judge_in_order, let, median_sorted

IMPRESSIONS_DROP, CTR_SPIKE, QUARANTINE_RATE, STALE_TABLE, MISSING_PARTITION = (
    "impressions_drop", "ctr_spike", "quarantine_rate", "stale_table", "missing_partition")
RULES = (IMPRESSIONS_DROP, CTR_SPIKE, QUARANTINE_RATE, STALE_TABLE, MISSING_PARTITION)
BELOW_FLOOR, NO_HISTORY, NOT_EXPECTED, UNAVAILABLE = "below_floor", "no_history", "not_expected", "unavailable"
WARNING, CRITICAL = "warning", "critical"

HOURLY_TABLE = "gold/campaign_hourly"
DAILY_TABLE = "gold/campaign_daily"
QUARANTINE_TABLE = "quarantine"
MAD_SCALE = 1.4826  # MAD × this estimates the standard deviation of normally distributed values

EVALUATION = (
    "rule string, table string, event_date date, event_hour int, campaign_id string, source string, "
    "expected double, observed double, score double, volume bigint, hits bigint, history int, "
    "severity string, status string"
)
EVALUATION_COLUMNS = tuple(item.split()[0] for item in EVALUATION.split(", "))

_OVERALL = ""  # the series key of all campaigns together (a campaign_id is never blank)


def _evaluation(df: DataFrame, **columns: Column) -> DataFrame:
    """``df`` as :data:`EVALUATION` rows: ``columns`` by name, null for the others, cast."""
    from pyspark.sql.types import StructType

    fields = StructType.fromDDL(EVALUATION).fields
    return df.select(*[(columns.get(f.name, F.col(f.name) if f.name in df.columns else F.lit(None)))
                       .cast(f.dataType).alias(f.name) for f in fields])


# --------------------------------------------------------------------------- impressions_drop


def impressions_series(hourly: DataFrame, *, now: dt.datetime, settle_minutes: int) -> DataFrame:
    """Impressions per hour, overall (``campaign_id`` null) and per campaign, with the gaps filled.

    Args:
        hourly: ``gold/campaign_hourly`` rows (``event_date``, ``event_hour``, ``campaign_id``,
            ``impressions``).
        now: the evaluation instant; an hour is in the series once it ended ``settle_minutes`` before.
        settle_minutes: how long after its end an hour is complete (late events).

    Returns:
        ``campaign_id``, ``event_date``, ``event_hour``, ``impressions``: every hour of every
        date with impressions, 0 where ``hourly`` has no row, for all campaigns together and
        for each campaign with impressions.
    """
    per_hour = hourly.where(F.col("campaign_id").isNotNull()).groupBy("campaign_id", "event_date", "event_hour").agg(
        F.sum("impressions").alias("impressions"))
    dates = per_hour.groupBy("event_date").agg(F.sum("impressions").alias("n")).where("n > 0").select("event_date")
    cutoff = int((now - dt.timedelta(minutes=settle_minutes)).timestamp())
    grid = dates.select("event_date", F.explode(F.sequence(F.lit(0), F.lit(23))).alias("event_hour"))
    grid = grid.where(F.unix_timestamp(F.col("event_date").cast("timestamp")) + (F.col("event_hour") + 1) * 3600
                      <= cutoff)
    total = per_hour.groupBy("event_date", "event_hour").agg(F.sum("impressions").alias("impressions"))
    overall = grid.join(total, ["event_date", "event_hour"], "left").select(
        F.lit(None).cast("string").alias("campaign_id"), "event_date", "event_hour",
        F.coalesce("impressions", F.lit(0)).cast("long").alias("impressions"))
    campaigns = per_hour.where("impressions > 0").select("campaign_id").distinct()
    each = campaigns.crossJoin(grid).join(per_hour, ["campaign_id", "event_date", "event_hour"], "left").select(
        "campaign_id", "event_date", "event_hour", F.coalesce("impressions", F.lit(0)).cast("long").alias("impressions"))
    return overall.unionByName(each)


def impressions_drop(series: DataFrame, *, dates: Collection[dt.date], flagged: DataFrame,
                     params: ImpressionsDropConfig) -> DataFrame:
    """``impressions_drop`` on the hours of ``dates`` (module docstring: baseline and spread).

    Fires when z = (impressions − baseline) / spread < −``z``, the hour is under ``max_ratio``
    of the baseline, and the baseline reaches ``min_baseline`` (overall) or
    ``min_baseline_campaign``; critical under ``critical_ratio`` of it.

    Args:
        series: :func:`impressions_series` over ``dates`` and the ``max_days`` before them.
        dates: the dates to judge.
        flagged: hours this rule flagged before (``campaign_id`` null: overall, ``event_date``,
            ``event_hour``).
        params: ``anomaly.impressions_drop``.

    Returns:
        :data:`EVALUATION` rows, one per hour and series of ``dates``.
    """
    def keyed(df: DataFrame) -> DataFrame:
        return df.withColumn("_series", F.coalesce("campaign_id", F.lit(_OVERALL)))

    units = flag_columns(keyed(series), dates, keyed(flagged), ["_series"]).select(
        "_series", "event_hour", "event_date", "campaign_id", F.col("impressions").cast("double").alias("volume"),
        F.lit(None).cast("double").alias("hits"), "judge", "skip",
        F.when(F.col("campaign_id").isNull(), params.min_baseline).otherwise(params.min_baseline_campaign)
        .cast("double").alias("floor"))

    def judge(day: Column, window: Column) -> Column:
        values = F.array_sort(F.transform(window, lambda h: h["volume"]))
        with_median = let(values, lambda v: F.struct(v.alias("values"), median_sorted(v, F.size(v)).alias("median")))
        stats = let(with_median, lambda s: F.struct(
            s["values"].alias("values"), s["median"].alias("median"),
            median_sorted(F.array_sort(F.transform(s["values"], lambda v: F.abs(v - s["median"]))),
                           F.size(s["values"])).alias("mad")))
        return let(stats, lambda s: F.transform(day, lambda u: _judge_drop(u, s, params)))

    out = judge_in_order(units, ["_series", "event_hour"], params.max_days, judge).where("judge")
    return _evaluation(out, rule=F.lit(IMPRESSIONS_DROP), table=F.lit(HOURLY_TABLE))


def _judge_drop(u: Column, s: Column, params: ImpressionsDropConfig) -> Column:
    """One hour ``u`` against its window's ``values``, ``median`` and ``mad`` (``s``)."""
    n, base = F.size(s["values"]), s["median"]
    spread = F.greatest(MAD_SCALE * s["mad"], F.sqrt(base), F.lit(1.0))
    z = (u["volume"] - base) / spread
    status = (F.when(~u["judge"], F.lit(None).cast("string")).when(n < params.min_days, NO_HISTORY)
              .when(base < u["floor"], BELOW_FLOOR)
              .when((z < -params.z) & (u["volume"] < params.max_ratio * base), FIRED).otherwise(OK))
    severity = F.when(u["volume"] < params.critical_ratio * base, CRITICAL).otherwise(WARNING)
    return F.struct(*[u[c].alias(c) for c in ("event_date", "event_hour", "campaign_id", "volume", "hits", "judge",
                                              "skip")],
                    base.alias("expected"), u["volume"].alias("observed"), z.alias("score"), n.alias("history"),
                    severity.alias("severity"), status.alias("status"))


# --------------------------------------------------------------------------- ctr_spike, quarantine_rate


@dataclass(frozen=True)
class _Proportion:
    """A proportion rule's thresholds, in the names the two rules share."""

    z: float
    min_ratio: float
    min_volume: int
    min_hits: int
    min_history_days: int


def _rate_judge(keys: Sequence[str], p: _Proportion) -> Judge:
    """Judge each unit's ``hits / volume`` against the window's pooled rate (module docstring)."""
    def judge(day: Column, window: Column) -> Column:
        dated = F.transform(F.filter(window, lambda h: h["volume"] > 0), lambda h: h["event_date"])
        pooled = F.struct(
            F.aggregate(window, F.lit(0.0), lambda acc, h: acc + h["volume"]).alias("volume"),
            F.aggregate(window, F.lit(0.0), lambda acc, h: acc + h["hits"]).alias("hits"),
            F.size(F.array_distinct(dated)).alias("days"))
        return let(pooled, lambda s: F.transform(day, lambda u: _judge_rate(u, s, keys, p)))

    return judge


def _judge_rate(u: Column, s: Column, keys: Sequence[str], p: _Proportion) -> Column:
    """One unit ``u`` against the window's pooled ``volume``, ``hits`` and ``days`` (``s``)."""
    trailing = F.try_divide(s["hits"], s["volume"])
    rate = F.try_divide(u["hits"], u["volume"])
    # A trailing rate of 0 is taken as half an event over the trailing volume (z stays finite).
    p_eff = F.least(F.greatest(trailing, F.try_divide(F.lit(0.5), s["volume"])), F.lit(0.999))
    z = F.try_divide(rate - p_eff, F.sqrt(F.try_divide(p_eff * (1 - p_eff), u["volume"])))
    status = (F.when(~u["judge"], F.lit(None).cast("string")).when(s["days"] < p.min_history_days, NO_HISTORY)
              .when((u["volume"] < p.min_volume) | (u["hits"] < p.min_hits), BELOW_FLOOR)
              .when((rate > p.min_ratio * trailing) & (z > p.z), FIRED).otherwise(OK))
    return F.struct(*[u[c].alias(c) for c in ("event_date", "event_hour", *keys, "volume", "hits", "judge", "skip")],
                    trailing.alias("expected"), rate.alias("observed"), z.alias("score"), s["days"].alias("history"),
                    status.alias("status"))


def _rate_units(rows: DataFrame, dates: Collection[dt.date], flagged: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Hours with volume (``keys``, ``event_date``, ``event_hour``, ``volume``, ``hits``) as units."""
    rows = rows.where(F.col("volume") > 0).select(
        *keys, "event_date", "event_hour", F.col("volume").cast("double").alias("volume"),
        F.col("hits").cast("double").alias("hits"))
    return flag_columns(rows, dates, flagged, keys)


def ctr_spike(hourly: DataFrame, *, dates: Collection[dt.date], flagged: DataFrame, params: CtrSpikeConfig) -> DataFrame:
    """``ctr_spike``: a campaign-hour's CTR against the campaign's trailing ``trailing_days`` CTR.

    Fires when the binomial z is above ``z``, the CTR above ``min_ratio`` × the trailing CTR, and
    the hour has at least ``min_impressions`` impressions and ``min_clicks`` clicks.

    Args:
        hourly: ``gold/campaign_hourly`` rows over ``dates`` and the ``trailing_days`` before them.
        dates: the dates to judge.
        flagged: hours this rule flagged before (``campaign_id``, ``event_date``, ``event_hour``).
        params: ``anomaly.ctr_spike``.

    Returns:
        :data:`EVALUATION` rows, one per campaign-hour of ``dates`` with impressions.
    """
    p = _Proportion(params.z, params.min_ratio, params.min_impressions, params.min_clicks, params.min_history_days)
    rows = hourly.where(F.col("campaign_id").isNotNull()).groupBy("campaign_id", "event_date", "event_hour").agg(
        F.sum("impressions").alias("volume"), F.sum("clicks").alias("hits"))
    units = _rate_units(rows, dates, flagged, ["campaign_id"])
    out = judge_in_order(units, ["campaign_id"], params.trailing_days, _rate_judge(["campaign_id"], p)).where("judge")
    return _evaluation(out, rule=F.lit(CTR_SPIKE), table=F.lit(HOURLY_TABLE), severity=F.lit(WARNING))


def quarantine_counts(bronze: DataFrame, *, source: str, hour: str) -> DataFrame:
    """Records and quarantined records of one bronze table per hour: the hour a record is about
    (``hour="event"``; records whose event time cannot be read have no such hour and are left
    out) or the hour it was ingested (``"ingestion"``).

    Args:
        bronze: a bronze table (every record received, ``quarantine_reason`` set on the bad ones).
        source: its source name (docs/CONTRACT.md §2 quarantine ``source``).
        hour: ``event`` or ``ingestion``.

    Returns:
        ``source``, ``event_date``, ``event_hour`` (of that hour), ``volume``, ``hits``.
    """
    t = F.col("event_time") if hour == "event" else F.col("ingested_at")
    return bronze.where(t.isNotNull()).groupBy(F.to_date(t).alias("event_date"), F.hour(t).alias("event_hour")).agg(
        F.count(F.lit(1)).alias("volume"), F.count_if(F.col("quarantine_reason").isNotNull()).alias("hits"),
    ).select(F.lit(source).alias("source"), "event_date", "event_hour", "volume", "hits")


def quarantine_rate(counts: DataFrame, *, dates: Collection[dt.date], flagged: DataFrame,
                    params: QuarantineRateConfig) -> DataFrame:
    """``quarantine_rate``: a source's hourly quarantined share against its usual share of that hour.

    The usual share pools the same hour on the previous ``baseline_days`` days; it fires when
    the binomial z is above ``z``, the share above ``min_ratio`` × the usual one, and the hour
    holds at least ``min_records`` records and ``min_quarantined`` quarantined ones.

    Args:
        counts: :func:`quarantine_counts` rows (any sources) over ``dates`` and the days before.
        dates: the dates to judge.
        flagged: hours this rule flagged before (``source``, ``event_date``, ``event_hour``).
        params: ``anomaly.quarantine_rate``.

    Returns:
        :data:`EVALUATION` rows, one per source-hour of ``dates`` with records.
    """
    p = _Proportion(params.z, params.min_ratio, params.min_records, params.min_quarantined, params.min_history_days)
    units = _rate_units(counts, dates, flagged, ["source"])
    out = judge_in_order(units, ["source", "event_hour"], params.baseline_days, _rate_judge(["source"], p)).where("judge")
    return _evaluation(out, rule=F.lit(QUARANTINE_RATE), table=F.lit(QUARANTINE_TABLE), severity=F.lit(WARNING))


# --------------------------------------------------------------------------- missing_partition

NEARBY_DAYS = 7  # a missing date's expected impressions: the median day within this many days


def missing_partition(daily: DataFrame, *, since: dt.date) -> DataFrame:
    """``missing_partition``: every date from ``since`` with no impressions between the first and
    the last date that have them fires (critical); the dates with impressions are ``ok``.

    Args:
        daily: ``gold/campaign_daily`` rows (``event_date``, ``impressions``), all dates.
        since: the first date judged. A stray old date (a device clock at 1970, a valid year
            0001 in the contract) is far from the feed's dates; every date in between is not a
            missing partition, and judging them all would cost time for nothing.

    Returns:
        :data:`EVALUATION` rows, one per date from the first to the last with impressions (from
        ``since``); ``expected`` is the median daily impressions within :data:`NEARBY_DAYS` days.
    """
    days = daily.groupBy("event_date").agg(F.sum("impressions").alias("n")).where("n > 0")
    span = days.where(F.col("event_date") >= F.lit(since)).agg(F.min("event_date").alias("lo"),
                                                              F.max("event_date").alias("hi"))
    every = span.select(F.explode(F.sequence("lo", "hi")).alias("event_date"))
    missing = every.join(days, "event_date", "left_anti").alias("m")
    near = missing.join(days.alias("d"), F.abs(F.datediff("m.event_date", "d.event_date")) <= NEARBY_DAYS, "left")
    values = F.array_sort(F.collect_list("d.n"))
    gaps = near.groupBy("m.event_date").agg(median_sorted(values, F.size(values)).alias("expected"))
    fired = _evaluation(gaps, rule=F.lit(MISSING_PARTITION), table=F.lit(DAILY_TABLE), observed=F.lit(0.0),
                        volume=F.lit(0), severity=F.lit(CRITICAL), status=F.lit(FIRED))
    present = _evaluation(days, rule=F.lit(MISSING_PARTITION), table=F.lit(DAILY_TABLE), observed=F.col("n"),
                          volume=F.col("n"), status=F.lit(OK))
    return fired.unionByName(present)


# --------------------------------------------------------------------------- stale_table


@dataclass(frozen=True)
class Delivery:
    """What a table's commits say about its feed.

    ``exists``: the table is there. ``last_rows_at``: the newest commit that added rows (None:
    none found). ``newest_event``: the newest valid event time in the table (None: unknown).
    """

    table: str
    exists: bool
    last_rows_at: dt.datetime | None = None
    newest_event: dt.datetime | None = None


def stale_tables(deliveries: Iterable[Delivery], *, now: dt.datetime, params: StaleTableConfig) -> list[dict]:
    """``stale_table``: a table whose feed is expected to deliver and whose last commit adding rows
    is more than ``minutes`` old.

    A feed is expected to deliver when the table is listed in ``expected``, or when it was live:
    its last delivery brought events at most ``live_lag_minutes`` older than the delivery
    itself. A lake loaded from old data (a demo of generated history) was never live, so its
    tables are ``not_expected`` however long nothing arrives, until listed in ``expected``.

    Args:
        deliveries: one :class:`Delivery` per table to watch.
        now: the evaluation instant (aware).
        params: ``anomaly.stale_table``.

    Returns:
        :data:`EVALUATION` rows as dicts (``observed``: minutes since the last commit adding rows).
    """
    out = []
    for d in deliveries:
        row = {c: None for c in EVALUATION_COLUMNS}
        row.update(rule=STALE_TABLE, table=d.table, expected=float(params.minutes), severity=WARNING)
        if not d.exists or d.last_rows_at is None:
            out.append({**row, "status": UNAVAILABLE})
            continue
        age = (now - d.last_rows_at).total_seconds() / 60
        live = d.newest_event is not None and (
            (d.last_rows_at - d.newest_event).total_seconds() / 60 <= params.live_lag_minutes)
        expected = d.table in params.expected or live
        status = (OK if age <= params.minutes else FIRED) if expected else NOT_EXPECTED
        out.append({**row, "observed": round(age, 1), "score": round(age / max(params.minutes, 1), 2),
                    "status": status, "last_rows_at": d.last_rows_at, "newest_event": d.newest_event})
    return out
