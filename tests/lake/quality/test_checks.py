"""Every expectation of every suite, through the real GX project: it fails on a partition
crafted to break it and passes on a clean one; failures keep sample rows."""

from __future__ import annotations

import datetime as dt

import pytest

from advertisex.quality import checks as K
from advertisex.quality.profile import profile
from advertisex.quality.validation import new_run_id, validate
from support_quality import CAMPAIGNS, bad, clean, frame

D0 = dt.date(2026, 11, 1)
SKIPPED = {"row_volume", "fresh"}  # need other days / a clock: test_profile.py


def _partitions(suite: K.Suite) -> tuple[list[dict], dict[str, dt.date]]:
    """The clean partition on D0, then one bad partition per check on the days after."""
    rows, day_of = clean(suite, D0), {}
    for i, check in enumerate(c for c in suite.checks if c.name not in SKIPPED):
        day_of[check.name] = D0 + dt.timedelta(days=i + 1)
        rows += bad(suite, check, day_of[check.name])
    return rows, day_of


@pytest.mark.parametrize("suite", K.SUITES, ids=lambda s: s.name)
def test_each_expectation_fails_on_its_bad_partition_and_the_clean_one_passes(spark, lake_cfg, suite):
    rows, day_of = _partitions(suite)
    df = frame(spark, suite, rows)
    prof = profile(df, suite, {D0, *day_of.values(), None}, known_campaigns=CAMPAIGNS,
                   now=dt.datetime.combine(D0 + dt.timedelta(days=len(day_of) + 1), dt.time(), dt.UTC),
                   freshness_hours=48.0)
    results = validate(spark, lake_cfg, prof, run_id=new_run_id("test"))
    by_key = {(r["partition"], r["expectation"]): r for r in results}
    assert len(by_key) == len(results) == len(prof.values) * len(suite.checks)
    clean_failures = [name for (p, name), r in by_key.items() if p == D0.isoformat() and not r["success"]]
    assert clean_failures == []
    for name, day in day_of.items():
        # A row without event_date lands in Delta's null partition, which is profiled as "null".
        r = by_key[("null" if name == "event_date_not_null" else day.isoformat(), name)]
        assert not r["success"], f"{suite.name}.{name} passed on its bad partition: {r['note']}"
        check = next(c for c in suite.checks if c.name == name)
        assert r["severity"] == check.severity
        if check.measure.kind in (K.COUNT, K.SHARE, K.DUPLICATES, K.FENCE, K.UNKNOWN_CAMPAIGNS):
            assert 1 <= len(r["sample_rows"]) <= 3, f"{name}: no sample rows"
    stored = spark.read.format("delta").load(lake_cfg.table_path("quality/results"))
    assert stored.where("NOT success").count() == sum(not r["success"] for r in results)
    assert stored.where("NOT success AND size(sample_rows) = 0 AND expectation LIKE '%_not_null'").count() == 0
