"""Findings: the words of each alert, and what a run changes in quality/anomalies."""

from __future__ import annotations

import datetime as dt

import pytest

from advertisex.transforms import anomalies as A
from advertisex.transforms.findings import OPEN, RESOLVED, describe, finding_key, reconcile

D = dt.date(2026, 11, 26)
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)


def evaluation(**kw) -> dict:
    base = {c: None for c in A.EVALUATION_COLUMNS}
    base.update(rule=A.IMPRESSIONS_DROP, table=A.HOURLY_TABLE, event_date=D, event_hour=3, expected=1234.4,
                observed=98.0, score=-14.21, volume=98, history=12, severity=A.CRITICAL, status=A.FIRED)
    return {**base, **kw}


def test_every_rule_says_what_was_expected_and_what_was_seen() -> None:
    assert describe(evaluation()) == (
        "impressions of all campaigns 2026-11-26 03:00-04:00 UTC: expected about 1,234 (median of the same hour "
        "on 12 earlier days), saw 98 (-92%, robust z -14.2)")
    assert describe(evaluation(campaign_id="cmp-0003", event_hour=23)).startswith(
        "impressions of campaign cmp-0003 2026-11-26 23:00-00:00 UTC: expected about 1,234")
    ctr = evaluation(rule=A.CTR_SPIKE, campaign_id="cmp-0001", expected=0.0213, observed=0.3141, score=25.3,
                     volume=1312, hits=412, history=7)
    assert describe(ctr) == ("CTR of campaign cmp-0001 2026-11-26 03:00-04:00 UTC: expected about 2.13% (its CTR "
                             "over the 7 days before), saw 31.41% (412 clicks / 1,312 impressions, z 25.3)")
    q = evaluation(rule=A.QUARANTINE_RATE, table=A.QUARANTINE_TABLE, source="impressions", expected=0.002,
                   observed=0.248, score=60.1, volume=1258, hits=312, history=7)
    assert describe(q) == ("quarantined share of impressions records 2026-11-26 03:00-04:00 UTC: expected about "
                           "0.20% (the same hour on 7 days before), saw 24.80% (312 of 1,258 records, z 60.1)")
    gap = evaluation(rule=A.MISSING_PARTITION, table=A.DAILY_TABLE, event_hour=None, expected=12345.0, observed=0.0)
    assert describe(gap) == ("impressions on 2026-11-26: expected about 12,345 (the median day within 7 days), "
                             "saw none, with impressions on dates before and after")
    stale = evaluation(rule=A.STALE_TABLE, table="bronze/click_events", event_date=None, event_hour=None,
                       expected=120.0, observed=135.2, last_rows_at=dt.datetime(2026, 12, 4, 15, 2, tzinfo=dt.UTC))
    assert describe(stale) == ("bronze/click_events: expected a commit adding rows at least every 120 min while its "
                               "feed delivers, saw none for 135 min (last at 2026-12-04 15:02 UTC)")
    with pytest.raises(ValueError, match="unknown anomaly rule"):
        describe(evaluation(rule="nope"))


def everything(_row) -> bool:
    return True


def test_a_new_finding_opens_and_a_rerun_changes_nothing() -> None:
    first = reconcile([], [evaluation()], everything, now=T0, run_id="r1")
    assert len(first) == 1
    row = first[0]
    assert (row["status"], row["first_seen"], row["last_seen"], row["run_id"], row["resolved_at"]) == (
        OPEN, T0, T0, "r1", None)
    assert row["summary"] == describe(evaluation())
    assert reconcile(first, [evaluation()], everything, now=T1, run_id="r2") == []


def test_late_data_updates_or_resolves_and_nothing_is_deleted() -> None:
    stored = reconcile([], [evaluation(), evaluation(event_hour=4)], everything, now=T0, run_id="r1")
    # Hour 3 got more of its impressions (still a drop); hour 4 was filled and no longer fires.
    changed = reconcile(stored, [evaluation(observed=400.0, severity=A.WARNING)], everything, now=T1, run_id="r2")
    by_hour = {r["event_hour"]: r for r in changed}
    assert (by_hour[3]["status"], by_hour[3]["observed"], by_hour[3]["severity"], by_hour[3]["first_seen"],
            by_hour[3]["last_seen"]) == (OPEN, 400.0, A.WARNING, T0, T1)
    assert (by_hour[4]["status"], by_hour[4]["resolved_at"], by_hour[4]["last_seen"], by_hour[4]["run_id"]) == (
        RESOLVED, T1, T0, "r2")
    # A finding the run did not judge again is left as it is.
    assert reconcile(stored, [], lambda r: r["event_hour"] == 3, now=T1, run_id="r3") == [
        {**stored[0], "status": RESOLVED, "resolved_at": T1, "run_id": "r3"}]
    # A resolved finding that fires again reopens, keeping when it was first seen.
    resolved = [{**stored[0], "status": RESOLVED, "resolved_at": T1}]
    again = reconcile(resolved, [evaluation()], everything, now=T1, run_id="r4")
    assert (again[0]["status"], again[0]["first_seen"], again[0]["resolved_at"]) == (OPEN, T0, None)


def test_a_stale_table_stays_one_finding_while_its_last_delivery_is_the_same() -> None:
    last = T0 - dt.timedelta(minutes=135)
    stale = {c: None for c in A.EVALUATION_COLUMNS} | {
        "rule": A.STALE_TABLE, "table": "bronze/impressions", "expected": 120.0, "severity": A.WARNING,
        "status": A.FIRED, "observed": 135.0, "last_rows_at": last}
    stored = reconcile([], [stale], everything, now=T0, run_id="r1")
    later = {**stale, "observed": 195.0}  # an hour on, the same last commit
    assert reconcile(stored, [later], everything, now=T1, run_id="r2") == []
    redelivered = {**stale, "observed": 125.0, "last_rows_at": T1 - dt.timedelta(minutes=125)}
    assert [r["observed"] for r in reconcile(stored, [redelivered], everything, now=T1, run_id="r3")] == [125.0]
    assert finding_key(stored[0]) == (A.STALE_TABLE, "bronze/impressions", None, None, None, None)
