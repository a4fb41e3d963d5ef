"""Anomaly rules on small hand-made hourly tables: where each fires, and why it stays silent."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from advertisex.config.model import CtrSpikeConfig, ImpressionsDropConfig, QuarantineRateConfig, StaleTableConfig
from advertisex.transforms import anomalies as A

D0 = dt.date(2026, 11, 1)
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # every hour of the data has settled
HOURLY = "event_date date, event_hour int, campaign_id string, impressions long, clicks long"
FLAGS = "campaign_id string, event_date date, event_hour int"


def day(i: int) -> dt.date:
    return D0 + dt.timedelta(days=i)


def hourly(spark, rows):
    """``(day index, hour, campaign, impressions[, clicks])`` rows as gold/campaign_hourly."""
    return spark.createDataFrame([(day(d), h, c, n, rest[0] if rest else 0) for d, h, c, n, *rest in rows], HOURLY)


def flags(spark, rows=()):
    return spark.createDataFrame([(c, day(d), h) for c, d, h in rows], FLAGS)


def fired(evaluations) -> set[tuple]:
    return {(r.campaign_id or r.source, (r.event_date - D0).days, r.event_hour)
            for r in evaluations.where(f"status = '{A.FIRED}'").collect()}


def drops(spark, rows, dates, flagged=(), **params):
    series = A.impressions_series(hourly(spark, rows), now=NOW, settle_minutes=30)
    return A.impressions_drop(series, dates={day(d) for d in dates}, flagged=flags(spark, flagged),
                              params=ImpressionsDropConfig(**params))


# --------------------------------------------------------------------------- impressions_drop


def test_drop_fires_exactly_where_it_should(spark) -> None:
    """One table, one hour per case: a drop, a steady campaign, a quiet campaign under the
    floor, a missing hour, and two campaigns with the same count every day (MAD 0)."""
    rows = [(d, 5, "c1", 1000 + 10 * (d % 3)) for d in range(9)] + [(9, 5, "c1", 100)]
    rows += [(d, 5, "c2", 300 + 5 * (d % 2)) for d in range(10)]
    rows += [(d, 6, "c3", 15) for d in range(9)] + [(9, 6, "c3", 0)]
    rows += [(d, 8, "c4", 1200) for d in range(9)]  # day 9 has no row for hour 8: 0 impressions
    rows += [(d, 9, "c5", 30) for d in range(9)] + [(9, 9, "c5", 14)]
    rows += [(d, 10, "c6", 30) for d in range(9)] + [(9, 10, "c6", 0)]
    out = {(r.campaign_id, (r.event_date - D0).days, r.event_hour): r
           for r in drops(spark, rows, dates=range(4, 10), min_baseline_campaign=20.0).collect()}
    assert {k for k, r in out.items() if r.status == A.FIRED} == {
        (None, 9, 5), ("c1", 9, 5), (None, 9, 8), ("c4", 9, 8), ("c6", 9, 10)}
    # c1's baseline: the median of the same hour on days 0-8; under 10% of it: critical.
    c1 = out[("c1", 9, 5)]
    assert (c1.expected, c1.observed, c1.history, c1.severity, c1.table, c1.rule) == (
        1010.0, 100.0, 9, A.CRITICAL, A.HOURLY_TABLE, A.IMPRESSIONS_DROP)
    assert (out[(None, 9, 5)].observed, out[(None, 9, 5)].severity) == (405.0, A.WARNING)
    assert out[("c4", 9, 8)].observed == 0.0  # a gap is a drop
    # Under the floor: c3 (15 an hour < 20), and every hour of all campaigns under 1000.
    assert out[("c3", 9, 6)].status == out[(None, 9, 6)].status == A.BELOW_FLOOR
    # MAD 0: the spread is √30, so 14 (z = -2.9) is usual, 0 (z = -5.5) is a drop.
    assert (out[("c5", 9, 9)].status, out[("c5", 9, 9)].score) == (A.OK, pytest.approx(-16 / math.sqrt(30)))
    assert out[("c6", 9, 10)].score == pytest.approx(-30 / math.sqrt(30))
    # Days 4-6 have fewer than 7 earlier days: silent, and saying why.
    assert {r.status for (_, d, _), r in out.items() if d < 7} == {A.NO_HISTORY}
    assert len(out) == 6 * 24 * 7


def test_hours_flagged_before_stay_out_of_the_baseline(spark) -> None:
    """Days 4-8 were low; an earlier run flagged them for c1 only. Day 9's baseline for c1 is
    days 0-3, so day 9 (still low) fires; for c2, the five low days count and low is usual."""
    rows = [(d, 7, c, 1000 if d < 4 else 100) for d in range(10) for c in ("c1", "c2")]
    earlier = [("c1", d, 7) for d in range(4, 9)]
    out = [r for r in drops(spark, rows, dates=[9], flagged=earlier, min_days=3, min_baseline=5000.0).collect()
           if r.status == A.FIRED]
    assert [(r.campaign_id, r.event_hour, r.expected) for r in out] == [("c1", 7, 1000.0)]


def test_hours_flagged_in_the_same_run_stay_out_of_later_baselines(spark) -> None:
    """Judged in one run, days 4-9 are judged in order: each low day, once flagged, stays out
    of the next one's baseline, so all six fire (as six runs, one a day, would have it)."""
    rows = [(d, 7, "c1", 1000) for d in range(4)] + [(d, 7, "c1", 100) for d in range(4, 10)]
    out = drops(spark, rows, dates=range(4, 10), min_days=3, min_baseline=500.0)
    assert fired(out) == {(c, d, 7) for c in (None, "c1") for d in range(4, 10)}


def test_an_hour_is_judged_once_it_has_settled(spark) -> None:
    now = dt.datetime.combine(day(9), dt.time(6, 20), dt.UTC)
    series = A.impressions_series(hourly(spark, [(9, 0, "c1", 10)]), now=now, settle_minutes=30)
    got = [(r.campaign_id, r.event_hour) for r in series.collect()]
    assert sorted(got, key=str) == sorted([(c, h) for c in (None, "c1") for h in range(5)], key=str)


# --------------------------------------------------------------------------- ctr_spike


def spikes(spark, rows, dates, flagged=(), **params):
    return A.ctr_spike(hourly(spark, rows), dates={day(d) for d in dates}, flagged=flags(spark, flagged),
                       params=CtrSpikeConfig(**params))


def test_ctr_spike_fires_where_it_should(spark) -> None:
    normal = [(d, 10, c, n, k) for d in range(9) for c, n, k in (("c1", 2000, 40), ("c2", 500, 10), ("c3", 5000, 5),
                                                                  ("c4", 2000, 0))]
    normal += [(d, 10, c, 2000, 40 if d < 6 else 200) for d in range(9) for c in ("c5", "c6")]
    spiked = [(9, 10, "c1", 2000, 200), (9, 10, "c2", 500, 50), (9, 10, "c3", 5000, 15), (9, 11, "c1", 2000, 44),
              (9, 10, "c4", 2000, 30), (9, 10, "c5", 2000, 200), (9, 10, "c6", 2000, 200),
              (8, 10, "c7", 2000, 40), (9, 10, "c7", 2000, 400)]
    earlier = [("c5", d, 10) for d in range(6, 9)]  # c5's spikes of days 6-8 were flagged, c6's were not
    out = {r.campaign_id: r for r in spikes(spark, normal + spiked, dates=[9], flagged=earlier).collect()
           if r.event_hour == 10}
    assert {c for c, r in out.items() if r.status == A.FIRED} == {"c1", "c4", "c5"}
    c1 = out["c1"]
    assert (c1.expected, c1.observed, c1.volume, c1.hits, c1.history) == (0.02, 0.1, 2000, 200, 7)
    assert c1.score == pytest.approx(0.08 / math.sqrt(0.02 * 0.98 / 2000))
    # c2: 500 impressions < 1000; c3: 15 clicks < 20 (though 3x its CTR, z > 4).
    assert out["c2"].status == out["c3"].status == A.BELOW_FLOOR
    # c4: no click in a week, taken as half a click (z stays finite).
    assert out["c4"].expected == 0.0 and out["c4"].score == pytest.approx(
        (0.015 - 0.5 / 14000) / math.sqrt(0.5 / 14000 * (1 - 0.5 / 14000) / 2000))
    # c6: its unflagged spikes made 10% nearly usual (5.4%); c7: one earlier day only.
    assert (out["c6"].status, out["c7"].status) == (A.OK, A.NO_HISTORY)


# --------------------------------------------------------------------------- quarantine_rate

COUNTS = "source string, event_date date, event_hour int, volume long, hits long"


def test_quarantine_rate_against_the_same_hour_on_earlier_days(spark) -> None:
    rows = [("impressions", day(d), h, 1000, k) for d in range(9) for h, k in ((3, 2), (5, 50), (4, 1))]
    rows += [("impressions", day(9), 3, 1000, 100), ("impressions", day(9), 5, 1000, 60),
             ("impressions", day(9), 4, 300, 60), ("click_events", day(9), 3, 1000, 100)]
    out = A.quarantine_rate(spark.createDataFrame(rows, COUNTS), dates={day(9)}, flagged=spark.createDataFrame(
        [], "source string, event_date date, event_hour int"), params=QuarantineRateConfig())
    # Hour 3: 10% against a usual 0.2%. Hour 5 is usually 5% (6% is not far above it);
    # hour 4 has 300 records (< 500); click_events has no earlier days.
    got = {(r.source, r.event_hour): r for r in out.collect()}
    assert {k: r.status for k, r in got.items()} == {
        ("impressions", 3): A.FIRED, ("impressions", 5): A.OK, ("impressions", 4): A.BELOW_FLOOR,
        ("click_events", 3): A.NO_HISTORY}
    hit = got[("impressions", 3)]
    assert (hit.expected, hit.observed, hit.table) == (0.002, 0.1, A.QUARANTINE_TABLE)


def test_quarantine_counts_by_event_or_ingestion_hour(spark) -> None:
    t = dt.datetime(2026, 11, 3, 14, 30)
    rows = [(t, t + dt.timedelta(days=2), None), (t, t + dt.timedelta(days=2), "negative_cost"),
            (None, t + dt.timedelta(days=2), "bad_json")]
    bronze = spark.createDataFrame(rows, "event_time timestamp, ingested_at timestamp, quarantine_reason string")
    by_event = A.quarantine_counts(bronze, source="impressions", hour="event").collect()
    assert [tuple(r) for r in by_event] == [("impressions", dt.date(2026, 11, 3), 14, 2, 1)]
    by_ingestion = A.quarantine_counts(bronze, source="impressions", hour="ingestion").collect()
    assert [tuple(r) for r in by_ingestion] == [("impressions", dt.date(2026, 11, 5), 14, 3, 2)]


# --------------------------------------------------------------------------- missing_partition


def test_missing_partition_between_dates_with_impressions(spark) -> None:
    daily = spark.createDataFrame([(day(d), "c1", n) for d, n in ((0, 100), (1, 300), (3, 500), (4, 700), (5, 0),
                                                                  (6, 900))],
                                  "event_date date, campaign_id string, impressions long")
    out = A.missing_partition(daily, since=day(0)).collect()
    assert {(r.event_date, r.expected, r.severity) for r in out if r.status == A.FIRED} == {
        (day(2), 500.0, A.CRITICAL), (day(5), 500.0, A.CRITICAL)}
    assert sorted(r.event_date for r in out if r.status == A.OK) == [day(d) for d in (0, 1, 3, 4, 6)]
    empty = spark.createDataFrame([], "event_date date, campaign_id string, impressions long")
    assert A.missing_partition(empty, since=day(0)).count() == 0


def test_missing_partition_judges_from_since_so_a_stray_old_date_is_not_thousands_of_gaps(spark) -> None:
    stray = [(dt.date(1970, 1, 1), "c1", 1), (dt.date(1, 1, 1), "c1", 1)]
    daily = spark.createDataFrame([*stray, *((day(d), "c1", 100) for d in (0, 1, 3))],
                                  "event_date date, campaign_id string, impressions long")
    fired = [r.event_date for r in A.missing_partition(daily, since=day(-5)).collect() if r.status == A.FIRED]
    assert fired == [day(2)]


# --------------------------------------------------------------------------- stale_table


def test_stale_table_fires_only_for_a_feed_expected_to_deliver() -> None:
    now = dt.datetime(2026, 12, 4, 18, 0, tzinfo=dt.UTC)
    ago = lambda **kw: now - dt.timedelta(**kw)  # noqa: E731
    deliveries = [
        A.Delivery("bronze/impressions", True, ago(hours=3), ago(hours=3, minutes=5)),   # live, then nothing
        A.Delivery("bronze/click_events", True, ago(minutes=10), ago(minutes=40)),       # live and fresh
        A.Delivery("bronze/bid_requests", True, ago(hours=3), ago(days=12)),             # old data loaded once
        A.Delivery("silver/clicks", False),
    ]
    out = {r["table"]: r for r in A.stale_tables(deliveries, now=now, params=StaleTableConfig())}
    assert {t: r["status"] for t, r in out.items()} == {
        "bronze/impressions": A.FIRED, "bronze/click_events": A.OK, "bronze/bid_requests": A.NOT_EXPECTED,
        "silver/clicks": A.UNAVAILABLE}
    assert (out["bronze/impressions"]["expected"], out["bronze/impressions"]["observed"]) == (120.0, 180.0)
    # Listed as a feed that always delivers, the historical table is watched too.
    listed = StaleTableConfig(expected=("bronze/bid_requests",))
    assert A.stale_tables(deliveries[2:3], now=now, params=listed)[0]["status"] == A.FIRED
