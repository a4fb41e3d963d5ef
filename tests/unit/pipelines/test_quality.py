"""Job ``quality``: ``advertisex_quality_failures`` reports the open findings of every table."""

from __future__ import annotations

from advertisex import tables
from advertisex.monitoring import metrics as M
from advertisex.pipelines import quality


def _gauge(table: str, severity: str) -> float | None:
    return M.REGISTRY.get_sample_value("advertisex_quality_failures", {"table": table, "severity": severity})


def test_the_failure_gauge_counts_the_open_findings_and_drops_to_zero_once_repaired() -> None:
    gold, bronze = tables.GOLD_CAMPAIGN_DAILY.name, tables.BRONZE_IMPRESSIONS.name
    findings = [{"table": gold, "severity": "critical"}, {"table": gold, "severity": "critical"},
                {"table": gold, "severity": "warning"}, {"table": bronze, "severity": "critical"}]
    try:
        quality.set_failure_gauges(findings)
        assert (_gauge(gold, "critical"), _gauge(gold, "warning"), _gauge(bronze, "critical")) == (2, 1, 1)
        # Every table the checks cover is reported, 0 included (a run that validated nothing new).
        assert _gauge(tables.SILVER_CLICKS.name, "critical") == 0
        assert _gauge(tables.GOLD_BID_DAILY.name, "warning") == 0
        quality.set_failure_gauges([])
        assert _gauge(gold, "critical") == 0 and _gauge(bronze, "critical") == 0
    finally:
        M.QUALITY_FAILURES.clear()
