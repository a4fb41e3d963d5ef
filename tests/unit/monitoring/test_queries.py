"""Every PromQL expression of the rules, the Grafana dashboard and the console template:
found, valid PromQL (promtool parses each), and only over metrics the pipeline exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from advertisex.monitoring import metrics
from advertisex.monitoring.queries import all_queries
from support import ROOT
from support_monitoring import run_tool

# Series the pipeline does not export but Prometheus makes: the scrape health and alert states.
PROMETHEUS_SERIES = {"up", "ALERTS"}
SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created")


def exported_names() -> set[str]:
    return {f"{metric.name}{suffix}" for metric in metrics.REGISTRY.collect() for suffix in SUFFIXES}


def test_every_artefact_contributes() -> None:
    wheres = [where for where, _ in all_queries()]
    assert len(wheres) == len(set(wheres))
    dashboard = json.loads((ROOT / "monitoring" / "grafana" / "dashboards" / "advertisex.json").read_text())
    assert sum(1 for w in wheres if w.startswith("grafana/")) == len(dashboard["panels"])
    console = (ROOT / "monitoring" / "consoles" / "advertisex.html").read_text()
    assert sum(1 for w in wheres if w.startswith("consoles/") and "graph #" in w) == console.count("new PromConsole.Graph(")
    assert sum(1 for w in wheres if w.startswith("consoles/") and "drilldown" in w) == console.count(
        'template "prom_query_drilldown"')
    assert sum(1 for w in wheres if w.startswith("rules/")) == 9


def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each expression as the body of a recording rule."""
    rules = [{"record": f"advertisex:check_{n}", "expr": expr} for n, (_, expr) in enumerate(all_queries())]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    out = run_tool("promtool", "check", "rules", path)
    assert f"SUCCESS: {len(rules)} rules found" in out


def test_expressions_use_exported_metrics_only() -> None:
    known = exported_names() | PROMETHEUS_SERIES
    for where, expr in all_queries():
        words = set(re.findall(r"\b(advertisex_[a-z_]+|up|ALERTS)\b(?=\s*[{\[)\s]|$)", expr))
        assert words, (where, expr)
        assert words <= known, (where, words - known)


def test_dashboard_names_its_provisioned_datasource() -> None:
    provisioning = ROOT / "monitoring" / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "advertisex.yml").read_text())["datasources"][0]
    dashboard = json.loads((ROOT / "monitoring" / "grafana" / "dashboards" / "advertisex.json").read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"])
    provider = yaml.safe_load((provisioning / "dashboards" / "advertisex.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]
