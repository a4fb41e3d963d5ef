"""What the anomaly checks should find in a data set with injected anomalies (``truth/anomalies.json``).

Computed from the manifest's list of injections (:mod:`advertisex.generate.inject` describes
them) and the truth, i.e. from the files: the observed figure of each expected finding is
what the files hold for that hour, counted here independently of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from advertisex import contract
from advertisex.generate.truth.normalise import event_date
from advertisex.generate.truth.records import Truth

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class _Injection:
    """One injection as the manifest lists it."""

    kind: str
    day: int
    first_hour: int
    last_hour: int
    campaign: str | None

    @property
    def text(self) -> str:
        """As ``--inject`` wrote it (the day as an index)."""
        hours = f"{self.first_hour}" if self.first_hour == self.last_hour else f"{self.first_hour}-{self.last_hour}"
        return f"{self.kind}@{self.day}:{hours}" + (f":{self.campaign}" if self.campaign else "")


def expected_findings(injections: list[dict[str, Any]], start: date, days: int, truth: Truth) -> list[dict[str, Any]]:
    """What the anomaly checks should find in a data set with ``injections``, with the observed
    figures recomputed from the truth (what the files hold).

    A drop or a partial gap of all campaigns is an overall ``impressions_drop``
    (``any_campaign``: per-campaign findings of the same hour belong to it too); a whole-day
    gap between other days is a ``missing_partition`` (on the first or last day it is not
    between dates with impressions, and nothing is expected).

    Args:
        injections: the manifest's ``params.injections``.
        start: the first generated day.
        days: the generated days.
        truth: the data set's truth.

    Returns:
        One dict per expected finding (rule, table, event_date, event_hour, campaign_id,
        source, observed, any_campaign, injected).
    """
    imps: dict[tuple[str, int, str], int] = {}
    for imp in truth.impressions.values():
        k = (event_date(imp.t), imp.t // HOUR_MS % 24, imp.campaign_id)
        imps[k] = imps.get(k, 0) + 1
    clicks: dict[tuple[str, int, str], int] = {}
    for eid, (kind, _) in truth.click_attribution.items():
        c = truth.clicks[eid]
        if kind != contract.ATTRIBUTION_NONE:
            k = (event_date(c.t), c.t // HOUR_MS % 24, c.campaign_id)
            clicks[k] = clicks.get(k, 0) + 1

    def count(d: str, h: int, campaign: str | None, table: dict[tuple[str, int, str], int]) -> int:
        return sum(n for (dd, hh, c), n in table.items() if dd == d and hh == h and campaign in (None, c))

    out = []
    for raw in injections:
        i = _Injection(**raw)
        d = (start + timedelta(days=i.day)).isoformat()
        base = {"table": "gold/campaign_hourly", "event_date": d, "campaign_id": i.campaign, "source": None,
                "any_campaign": i.campaign is None, "injected": i.text}
        if i.kind == "gap" and (i.first_hour, i.last_hour) == (0, 23):
            if 0 < i.day < days - 1:
                out.append({**base, "rule": "missing_partition", "table": "gold/campaign_daily", "event_hour": None,
                            "observed": 0, "any_campaign": False})
        elif i.kind in ("gap", "impressions_drop"):
            out += [{**base, "rule": "impressions_drop", "event_hour": h, "observed": count(d, h, i.campaign, imps)}
                    for h in range(i.first_hour, i.last_hour + 1)]
        elif i.kind == "ctr_spike":
            n = count(d, i.first_hour, i.campaign, imps)
            out.append({**base, "rule": "ctr_spike", "event_hour": i.first_hour,
                        "observed": count(d, i.first_hour, i.campaign, clicks) / n if n else None})
        else:
            out.append({**base, "rule": "quarantine_rate", "table": "quarantine", "event_hour": i.first_hour,
                        "source": "impressions", "observed": None, "any_campaign": False})
    return out

