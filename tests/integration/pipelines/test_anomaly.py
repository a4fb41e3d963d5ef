"""Job ``anomaly``: its findings delivered through a real Alertmanager (conf/test.yaml's port,
started by the ``mon_cfg`` fixture) to a webhook receiver; a rerun sends nothing twice, and a
finding resolved by late data is notified as resolved."""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid

import pytest

from advertisex import tables
from advertisex.io.dirty_dates import STAGE_ANOMALY, record_dirty
from advertisex.monitoring.metrics import REGISTRY
from advertisex.pipelines import anomaly
from advertisex.transforms import anomalies as A
from support import isolated_cfg
from support_monitoring import wait_until

pytestmark = pytest.mark.stack

HOURLY = "event_date date, event_hour int, campaign_id string, impressions long, clicks long"


def _write_hourly(spark, cfg, rows) -> None:
    spark.createDataFrame(rows, HOURLY).write.format("delta").mode("overwrite").partitionBy("event_date").save(
        cfg.table_path(tables.GOLD_CAMPAIGN_HOURLY))


def _open_gauge(rule: str, severity: str) -> float | None:
    return REGISTRY.get_sample_value("advertisex_anomalies_open", {"rule": rule, "severity": severity})


def test_findings_reach_the_webhook_once_with_their_labels_and_resolve(spark, mon_cfg, webhook, tmp_path) -> None:
    cfg = isolated_cfg(mon_cfg, tmp_path)
    campaign = f"cmp-{uuid.uuid4().hex[:8]}"  # this run's own alerts, whatever else Alertmanager holds
    d0 = dt.date(2019, 1, 1) + dt.timedelta(days=random.randrange(2000))  # in the past: every hour has settled
    days = [d0 + dt.timedelta(days=i) for i in range(10)]
    normal = [(d, 5, campaign, 1000, 20) for d in days[:9]]
    _write_hourly(spark, cfg, [*normal, (days[9], 5, campaign, 50, 1)])

    first = anomaly.run(spark, cfg)  # a first run judges every date gold holds
    assert (first["open"], first["posted"]) == (2, 2), first
    assert _open_gauge(A.IMPRESSIONS_DROP, "critical") == 2 and _open_gauge(A.CTR_SPIKE, "warning") == 0

    def notices(status: str = "firing") -> list:
        return [n for n in webhook.notifications_for(A.IMPRESSIONS_DROP)
                if n["status"] == status and n["groupLabels"].get("event_date") == days[9].isoformat()]

    wait_until(lambda: len(notices()) == 2, 30, "both groups' notifications")
    by_campaign = {n["groupLabels"].get("campaign_id"): n for n in notices()}
    (alert,) = by_campaign[campaign]["alerts"]
    assert alert["labels"] == {"alertname": A.IMPRESSIONS_DROP, "severity": "critical",
                               "table": tables.GOLD_CAMPAIGN_HOURLY.name, "event_date": days[9].isoformat(),
                               "event_hour": "5", "campaign_id": campaign}
    assert alert["annotations"]["summary"] == (
        f"impressions of campaign {campaign} {days[9]} 05:00-06:00 UTC: expected about 1,000 (median of the "
        "same hour on 9 earlier days), saw 50 (-95%, robust z -30.0)")
    overall = by_campaign[None]["alerts"][0]
    assert "campaign_id" not in overall["labels"]
    assert overall["annotations"]["summary"].startswith(f"impressions of all campaigns {days[9]} 05:00-06:00 UTC")

    # A rerun posts the open findings again: Alertmanager notifies nothing twice.
    again = anomaly.run(spark, cfg)
    assert (again["open"], again["opened"], again["posted"]) == (2, 0, 2)
    time.sleep(3 * (cfg.alerting.group_wait_seconds + cfg.alerting.group_interval_seconds))
    assert len(notices()) == 2

    # Late data fills the hour: gold recomputes the date, the findings resolve, the webhook hears it.
    _write_hourly(spark, cfg, [*normal, (days[9], 5, campaign, 990, 20)])
    record_dirty(spark, cfg, [(STAGE_ANOMALY, "gold", days[9])])
    late = anomaly.run(spark, cfg)
    assert (late["open"], late["resolved"]) == (0, 2)
    assert _open_gauge(A.IMPRESSIONS_DROP, "critical") == 0
    wait_until(lambda: len(notices("resolved")) == 2, 30, "the resolved notifications")
