"""`advertisex report` on the generated lake (every table, bids, quality results and anomalies after
three ``pipeline --once`` runs), opened in a headless Chromium as a person would: the page loads
offline without an error, and every chart on it has data."""

from __future__ import annotations

import pytest

from advertisex import report
from support_pipeline import GeneratedLake

from .stack import chromium

pytestmark = pytest.mark.stack

# Per chart: its title and the number of points of each trace. plotly keeps a numeric column as a
# typed array, or (plotly.py's base64 form, as read from the page) an object holding one in _inputArray.
CHARTS_JS = """(() => {
  const size = v => v == null ? 0 : (v.length ?? (v._inputArray ? v._inputArray.length : 0));
  return Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => ({
    title: gd.layout.title ? gd.layout.title.text : '',
    drawn: gd._fullLayout !== undefined && gd.querySelector('svg.main-svg') !== null,
    points: gd.data.map(t => Math.max(size(t.x), size(t.y), size(t.values))),
  }));
})()"""
SECTIONS_JS = """Array.from(document.querySelectorAll('section')).map(s => ({
  title: s.querySelector('h2').textContent,
  charts: s.querySelectorAll('.plotly-graph-div').length,
  note: s.querySelector('.note') ? s.querySelector('.note').textContent : null,
}))"""
# What the page loaded besides itself (a CDN script would show here).
RESOURCES_JS = "performance.getEntriesByType('resource').map(e => e.name)"

CHARTS = {
    "Per UTC hour", "Per UTC date", "Top campaigns by spend", "Spend per day, cost per click and per conversion",
    "Attribution funnel (rates: CTR, CVR, view-through rate)", "Time from impression to click",
    "Win rate per exchange (wins / bids)", "Clearing vs floor price per exchange",
    "Quality checks by table (latest result of each)", "Freshness: the latest commit of each table",
}


def test_report_opens_offline_and_every_chart_has_data(spark, generated_lake: GeneratedLake, tmp_path):
    exe = chromium.binary()
    assert exe, "install the Debian package chromium (make setup does, as root)"
    out = report.write(spark, generated_lake.cfg, tmp_path / "health.html")

    with chromium.page(exe) as tab:
        tab.navigate(out.as_uri())
        loaded = tab.wait_for("document.readyState === 'complete' && typeof Plotly !== 'undefined' && "
                              "Array.from(document.querySelectorAll('.plotly-graph-div')).every(gd => gd._fullLayout)",
                              30)
        charts, sections, resources = tab.evaluate(CHARTS_JS), tab.evaluate(SECTIONS_JS), tab.evaluate(RESOURCES_JS)
        errors = list(tab.errors)

    assert loaded and errors == [] and resources == []
    assert CHARTS <= {c["title"] for c in charts}
    assert [c for c in charts if not (c["drawn"] and c["points"] and min(c["points"]) > 0)] == []
    # A section without charts (no anomaly found on three days of clean traffic) says why; none misses a table.
    assert [s["title"] for s in sections if not s["charts"] and not s["note"]] == []
    assert [s["title"] for s in sections if "Not in the lake yet" in (s["note"] or "")] == []
