"""The one-pass profile: volume against the previous days, freshness of the newest partition,
and the checks that cannot run saying why instead of failing."""

from __future__ import annotations

import datetime as dt

from advertisex import tables
from advertisex.quality import checks as K
from advertisex.quality.profile import profile
from support_quality import CAMPAIGNS, clean, frame

SUITE = K.suite_of(tables.SILVER_CLICKS)
D = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(4)]


def test_volume_is_measured_against_the_previous_days_and_needs_history(spark):
    rows = clean(SUITE, D[0]) + clean(SUITE, D[1]) + clean(SUITE, D[2]) * 10
    df = frame(spark, SUITE, rows)
    prof = profile(df, SUITE, {D[1], D[2]}, known_campaigns=CAMPAIGNS)
    assert prof.values[D[1].isoformat()]["row_volume"] == 1.0  # D0 from the table, outside the profile
    assert prof.values[D[2].isoformat()]["row_volume"] == 10.0  # median of D0 and D1: 20 rows
    first = profile(df, SUITE, {D[0]}, known_campaigns=CAMPAIGNS)
    assert first.values[D[0].isoformat()]["row_volume"] is None
    assert first.notes[("row_volume", D[0].isoformat())].startswith("cannot run: no history yet")


def test_freshness_only_on_the_newest_partition_and_only_when_configured(spark):
    df = frame(spark, SUITE, clean(SUITE, D[0]) + clean(SUITE, D[1]))
    newest = max(r["event_time"] for r in clean(SUITE, D[1]))
    now = newest + dt.timedelta(hours=30)
    prof = profile(df, SUITE, {D[0], D[1]}, now=now, freshness_hours=24.0)
    assert prof.values[D[1].isoformat()]["fresh"] == 30.0
    assert prof.values[D[0].isoformat()]["fresh"] is None
    assert "not the table's newest" in prof.notes[("fresh", D[0].isoformat())]
    # A late day's partition alone is not the table's newest: not measured.
    assert profile(df, SUITE, {D[0]}, now=now, freshness_hours=24.0).values[D[0].isoformat()]["fresh"] is None
    off = profile(df, SUITE, {D[1]}, now=now, freshness_hours=None)
    assert off.values[D[1].isoformat()]["fresh"] is None
    assert "quality.freshness_hours is null" in off.notes[("fresh", D[1].isoformat())]


def test_a_check_without_its_reference_says_so(spark):
    df = frame(spark, SUITE, clean(SUITE, D[0]))
    prof = profile(df, SUITE, {D[0]}, known_campaigns=None)
    assert prof.values[D[0].isoformat()]["campaign_id_known"] is None
    assert prof.notes[("campaign_id_known", D[0].isoformat())].startswith("cannot run")
    assert prof.frame().shape == (1, 1 + len(SUITE.checks))


def test_the_outlier_fence_needs_enough_values_and_passes_an_ordinary_spread(spark):
    suite = K.suite_of(tables.SILVER_IMPRESSIONS)
    few = frame(spark, suite, clean(suite, D[0]))
    prof = profile(few, suite, {D[0]})
    assert prof.values[D[0].isoformat()]["cost_micros_outliers"] is None
    assert "a robust fence needs" in prof.notes[("cost_micros_outliers", D[0].isoformat())]
    enough = frame(spark, suite, clean(suite, D[0]) * (K.FENCE_MIN_VALUES // 20))
    ratio = profile(enough, suite, {D[0]}).values[D[0].isoformat()]["cost_micros_outliers"]
    assert 0 < ratio < 1


def test_duplicates_are_counted_exactly_per_date_without_null_ids(spark):
    """Rows beyond the first of each id, per date; null ids are the not-null check's business.
    Counted in a pass of their own, by the ids' hash first, for a suite with an outlier fence
    (impressions) as for one without (clicks)."""
    for suite, id_column in ((SUITE, "event_id"), (K.suite_of(tables.SILVER_IMPRESSIONS), "impression_id")):
        d0, d1, d2 = (clean(suite, d) for d in D[:3])
        rows = [*d0, d0[0], d0[0], d0[1], *[{**r, id_column: None} for r in d0[:3]], *d1, d1[5], *d2]
        prof = profile(frame(spark, suite, rows), suite, {D[0], D[1], D[2]}, known_campaigns=CAMPAIGNS)
        check = f"{id_column}_unique"
        assert [prof.values[d.isoformat()][check] for d in D[:3]] == [3.0, 1.0, 0.0]
        # The samples name only repeated ids, none of them null.
        samples = prof.samples(next(c for c in suite.checks if c.name == check), D[0].isoformat())
        assert samples and all(f'"{id_column}":' in s for s in samples)
