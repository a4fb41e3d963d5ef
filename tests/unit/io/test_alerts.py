"""Data alerts in Alertmanager's v2 shape, with the contract's labels."""

from __future__ import annotations

import datetime as dt

import pytest

from advertisex.io.alerts import Alert, post_alerts


def test_payload_has_the_contract_labels_and_a_summary() -> None:
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    alert = Alert("impressions_drop", "warning", "gold/campaign_hourly", "expected about 1200, saw 40",
                  event_date="2026-11-20", campaign_id="cmp-0003", labels={"event_hour": "13"})
    assert alert.payload(now) == {
        "labels": {"alertname": "impressions_drop", "severity": "warning", "table": "gold/campaign_hourly",
                   "event_date": "2026-11-20", "event_hour": "13", "campaign_id": "cmp-0003"},
        "annotations": {"summary": "expected about 1200, saw 40"},
        "startsAt": "2026-11-20T12:00:00+00:00", "endsAt": "2026-11-20T13:00:00+00:00",
    }
    assert "campaign_id" not in Alert("stale_table", "critical", "silver/clicks", "x").payload(now)["labels"]
    with pytest.raises(ValueError, match="severity"):
        Alert("x", "info", "t", "s")


def test_nothing_to_post_or_nowhere_to_post_posts_nothing(lake_cfg) -> None:
    alert = Alert("stale_table", "warning", "silver/clicks", "x")
    assert post_alerts(lake_cfg, []) == 0
    nowhere = lake_cfg.model_copy(update={"alerting": lake_cfg.alerting.model_copy(update={"alertmanager_url": None})})
    assert post_alerts(nowhere, [alert]) == 0
    closed = lake_cfg.model_copy(update={"alerting": lake_cfg.alerting.model_copy(
        update={"alertmanager_url": "http://127.0.0.1:1"})})
    assert post_alerts(closed, [alert]) == 0  # logged, not raised: the findings stay in their table
