"""Every PromQL expression the monitoring artefacts use, read out of the artefacts themselves.

The alert rules (``monitoring/rules/*.yml``), the Grafana dashboard
(``monitoring/grafana/dashboards/*.json``) and the Prometheus console template
(``monitoring/consoles/*.html``) each hold PromQL over the metrics of
:mod:`advertisex.monitoring.metrics`. Reading the expressions from those files, rather than
keeping a second copy here, means a test that runs each against a real Prometheus checks
exactly what is shipped.

Example::

    for where, expr in all_queries():
        print(where, expr)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

# In the console template: `expr: "..."` of a PromConsole.Graph, and the first argument of
# `prom_query_drilldown (args "...")` and of `range query "..."`. The template keeps PromQL
# free of double quotes, so a quoted string ends at the next one.
_CONSOLE_PATTERNS = (
    ("graph", re.compile(r'node:\s*document\.querySelector\("#(?P<id>[\w-]+)"\),\s*expr:\s*"(?P<expr>[^"]+)"')),
    ("drilldown", re.compile(r'prom_query_drilldown"\s*\(args\s*"(?P<expr>[^"]+)"')),
    ("query", re.compile(r'range\s+query\s+"(?P<expr>[^"]+)"')),
)


def monitoring_dir() -> Path:
    """The repository's ``monitoring/`` folder (next to ``conf/``)."""
    from advertisex.config import project_root

    return project_root() / "monitoring"


def rule_queries(rules_dir: Path) -> list[tuple[str, str]]:
    """The ``expr`` of every rule in ``rules_dir/*.yml``.

    Args:
        rules_dir: the folder of Prometheus rule files.

    Returns:
        ``(where, expr)`` pairs; ``where`` is ``rules/<file>:<alert or record name>``.
    """
    found = []
    for path in sorted(rules_dir.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                found.append((f"rules/{path.name}:{name}", str(rule["expr"]).strip()))
    return found


def dashboard_queries(dashboards_dir: Path) -> list[tuple[str, str]]:
    """The ``expr`` of every target of every panel of the Grafana dashboards.

    Args:
        dashboards_dir: the folder of dashboard JSON files.

    Returns:
        ``(where, expr)`` pairs; ``where`` is ``grafana/<file>:<panel title>``.
    """
    found = []
    for path in sorted(dashboards_dir.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        panels = list(doc.get("panels", []))
        while panels:
            panel = panels.pop(0)
            panels.extend(panel.get("panels", []))  # rows nest their panels
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((f"grafana/{path.name}:{panel.get('title')}", target["expr"]))
    return found


def console_queries(consoles_dir: Path) -> list[tuple[str, str]]:
    """Every expression of the console templates: graphs, drill-down values and ranged queries.

    Args:
        consoles_dir: the folder of console templates.

    Returns:
        ``(where, expr)`` pairs; ``where`` is ``consoles/<file>:graph #<id>`` (or
        ``:drilldown <n>`` / ``:query <n>``).
    """
    found = []
    for path in sorted(consoles_dir.glob("*.html")):
        text = path.read_text(encoding="utf-8")
        for kind, pattern in _CONSOLE_PATTERNS:
            for n, match in enumerate(pattern.finditer(text), start=1):
                label = f"graph #{match['id']}" if kind == "graph" else f"{kind} {n}"
                found.append((f"consoles/{path.name}:{label}", match["expr"]))
    return found


def all_queries(root: Path | None = None) -> list[tuple[str, str]]:
    """Every PromQL expression of the rules, the Grafana dashboard and the console template.

    Args:
        root: the ``monitoring/`` folder; the repository's by default.

    Returns:
        ``(where, expr)`` pairs, rules first, then the dashboard, then the consoles.
    """
    base = monitoring_dir() if root is None else root
    return [
        *rule_queries(base / "rules"),
        *dashboard_queries(base / "grafana" / "dashboards"),
        *console_queries(base / "consoles"),
    ]
