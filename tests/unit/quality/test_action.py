"""What the checkpoint action makes of a failed result row: the contract's alert."""

from __future__ import annotations

import datetime as dt

from advertisex.quality.action import _expected, alert_of
from advertisex.quality.checks import not_null


def _row(**over):
    return {"suite": "gold_campaign_daily", "table": "gold/campaign_daily", "partition": "2026-11-20",
            "expectation": "campaign_id_not_null", "severity": "critical", "expected": "= 0",
            "observed_value": 2.0, "note": "2 of 40 rows", "_description": "campaign_id is never null",
            "_event_date": "2026-11-20", **over}


def test_a_failed_row_is_an_alert_with_the_contract_labels_and_a_summary():
    payload = alert_of(_row()).payload(dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
    assert payload["labels"] == {"alertname": "campaign_id_not_null", "severity": "critical",
                                 "table": "gold/campaign_daily", "event_date": "2026-11-20"}
    assert payload["annotations"]["summary"] == (
        "gold/campaign_daily 2026-11-20: expected campaign_id is never null (= 0); seen 2 of 40 rows")


def test_a_batch_finding_names_its_batch_and_no_date():
    alert = alert_of(_row(suite="reconciliation", table="bronze/impressions", partition="app.silver/7",
                          _event_date="", expectation="received_equals_silver_plus_quarantined"))
    assert alert.event_date == "" and alert.labels == {"ingest_batch": "app.silver/7"}
    assert alert.summary.startswith("bronze/impressions batch app.silver/7: expected")


def test_expected_in_words_from_the_gx_bounds():
    assert _expected({"min_value": 0, "max_value": 0}, None) == "= 0"
    assert _expected({"max_value": 0.05}, None) == "<= 0.05"
    assert _expected({"min_value": 0.2, "max_value": 5}, None) == "between 0.2 and 5"
    assert _expected({"max_value": {"$PARAMETER": "freshness_hours"}}, not_null("x")) == "= 0"
