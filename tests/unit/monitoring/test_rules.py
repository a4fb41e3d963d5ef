"""The alert rules in monitoring/rules/ with promtool: valid, and every rule made to fire and
to clear by the fixtures in monitoring/tests/ (run by `promtool test rules`)."""

from __future__ import annotations

import re

import yaml

from support import ROOT
from support_monitoring import run_tool

RULES = sorted((ROOT / "monitoring" / "rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "monitoring" / "tests").glob("*.test.yml"))


def alerts() -> list[dict]:
    return [rule for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def test_rules_are_valid() -> None:
    out = run_tool("promtool", "check", "rules", *RULES)
    assert f"SUCCESS: {len(alerts())} rules found" in out


def test_every_rule_fires_and_clears() -> None:
    """The fixtures pass, and each alert has a check expecting it firing and one expecting it gone."""
    run_tool("promtool", "test", "rules", *RULE_TESTS)
    fired, cleared = set(), set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else cleared).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fired == set(), "alerts no fixture makes fire"
    assert names - cleared == set(), "alerts no fixture sees clear"


def test_every_alert_has_the_contract_labels_and_a_summary() -> None:
    """docs/CONTRACT.md §5: alertname prefixed, severity warning|critical, table and
    event_date labels, a summary saying what was expected and what was seen."""
    for rule in alerts():
        assert rule["alert"].startswith("Advertisex"), rule["alert"]
        labels = rule["labels"]
        assert labels["severity"] in ("warning", "critical"), rule["alert"]
        assert "table" in labels and labels["event_date"] == "", rule["alert"]
        summary = rule["annotations"]["summary"]
        assert summary.startswith("Expected ") and re.search(r"\{\{ \$value|has not answered", summary), rule["alert"]
