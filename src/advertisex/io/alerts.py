"""Data alerts to Alertmanager: what the quality and anomaly checks find leaves through it.

docs/CONTRACT.md §5: every alert goes through Alertmanager, which groups, de-duplicates and
routes it. The checks post their findings to its v2 API (``/api/v2/alerts``) with the
labels the contract names (``alertname``, ``severity``, ``table``, ``event_date``, and
``campaign_id`` where the finding is about one campaign) and a ``summary`` annotation
that says what was expected and what was seen. Posting the same finding again while it
holds is what keeps it firing; Alertmanager notifies it once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from advertisex.config import Config

log = logging.getLogger(__name__)

POST_TIMEOUT_SECONDS = 10.0
SEVERITIES = ("warning", "critical")


@dataclass(frozen=True)
class Alert:
    """One finding, as Alertmanager receives it.

    ``name`` is the rule (the ``alertname``); ``event_date`` is ``""`` when the finding is
    not about one date (Alertmanager drops empty labels: a receiver sees no such key).
    ``lasts`` is how long it holds without being posted again.
    """

    name: str
    severity: str
    table: str
    summary: str
    event_date: str = ""
    campaign_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    lasts: dt.timedelta = dt.timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def payload(self, now: dt.datetime) -> dict[str, object]:
        """The alert in Alertmanager's v2 ``PostableAlert`` shape."""
        labels = {"alertname": self.name, "severity": self.severity, "table": self.table,
                  "event_date": self.event_date, **self.labels}
        if self.campaign_id is not None:
            labels["campaign_id"] = self.campaign_id
        return {"labels": labels, "annotations": {"summary": self.summary},
                "startsAt": now.isoformat(), "endsAt": (now + self.lasts).isoformat()}


def post_alerts(cfg: Config, alerts: Iterable[Alert], *, now: dt.datetime | None = None) -> int:
    """Post ``alerts`` to ``alerting.alertmanager_url``; returns how many were taken.

    Nothing is posted without an Alertmanager URL. One that does not answer is logged as a
    warning: the findings themselves are kept in their tables, and the next run posts them again.
    """
    url = cfg.alerting.alertmanager_url
    batch = list(alerts)
    if not url or not batch:
        return 0
    now = now or dt.datetime.now(dt.UTC)
    body = json.dumps([a.payload(now) for a in batch]).encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS):  # noqa: S310 - the configured URL
            pass
    except (urllib.error.URLError, OSError) as exc:
        log.warning("%d alert(s) not posted: Alertmanager at %s (alerting.alertmanager_url) did not take them: %s",
                    len(batch), url, getattr(exc, "reason", exc))
        return 0
    return len(batch)
