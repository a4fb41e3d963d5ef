"""Job ``anomaly``: what its summary says about each rule, and the alerts it posts."""

from __future__ import annotations

import datetime as dt

from advertisex.config import load_config
from advertisex.pipelines.anomaly import _alert, _note
from advertisex.transforms import anomalies as A
from support import TEST_CONF

NOW = dt.datetime(2026, 12, 4, 18, 0, tzinfo=dt.UTC)


def test_the_summary_says_what_each_rule_judged_and_why_a_silent_one_is() -> None:
    cfg = load_config(TEST_CONF, environ={})
    assert _note(A.IMPRESSIONS_DROP, {A.FIRED: 2, A.OK: 500, A.BELOW_FLOOR: 70, A.NO_HISTORY: 168}, cfg) == (
        "2 fired, 502 hours judged, 70 under the volume floor, 168 without enough earlier days")
    assert _note(A.CTR_SPIKE, {A.NO_HISTORY: 48}, cfg) == (
        "silent: too little history (none has 3 earlier days with data); 0 fired, 0 campaign-hours judged, "
        "48 without enough earlier days")
    assert _note(A.QUARANTINE_RATE, {A.BELOW_FLOOR: 5, A.NO_HISTORY: 2}, cfg) == (
        "silent: 5 under the volume floor, 2 without enough earlier days")
    assert _note(A.MISSING_PARTITION, {}, cfg) == "silent: nothing to judge"


def test_alerts_carry_the_contract_labels_and_the_summary() -> None:
    hold = dt.timedelta(hours=4)
    drop = {"rule": A.IMPRESSIONS_DROP, "severity": "critical", "table": A.HOURLY_TABLE,
            "event_date": dt.date(2026, 11, 24), "event_hour": 20, "campaign_id": "cmp-0002", "source": None,
            "summary": "impressions of campaign cmp-0002 ..."}
    assert _alert(drop, hold).payload(NOW) == {
        "labels": {"alertname": A.IMPRESSIONS_DROP, "severity": "critical", "table": A.HOURLY_TABLE,
                   "event_date": "2026-11-24", "event_hour": "20", "campaign_id": "cmp-0002"},
        "annotations": {"summary": "impressions of campaign cmp-0002 ..."},
        "startsAt": NOW.isoformat(), "endsAt": (NOW + hold).isoformat()}
    burst = {**drop, "rule": A.QUARANTINE_RATE, "severity": "warning", "table": A.QUARANTINE_TABLE,
             "campaign_id": None, "source": "impressions"}
    assert _alert(burst, hold).payload(NOW)["labels"] == {
        "alertname": A.QUARANTINE_RATE, "severity": "warning", "table": A.QUARANTINE_TABLE,
        "event_date": "2026-11-24", "event_hour": "20", "source": "impressions"}
    stale = {**burst, "rule": A.STALE_TABLE, "table": "bronze/impressions", "event_date": None, "event_hour": None,
             "source": None}
    ended = _alert(stale, dt.timedelta(0)).payload(NOW)  # resolved by this run: posted as ended
    assert ended["labels"] == {"alertname": A.STALE_TABLE, "severity": "warning", "table": "bronze/impressions",
                               "event_date": ""}
    assert ended["endsAt"] == ended["startsAt"]
