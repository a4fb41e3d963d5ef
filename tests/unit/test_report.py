"""The report's page assembly (advertisex.report.render): sections in, one self-contained HTML page out."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from advertisex.report import MAX_TABLE_ROWS, Section, render

AT = dt.datetime(2026, 11, 21, 8, 30, tzinfo=dt.UTC)


def page(*sections: Section) -> str:
    return render(sections, lake_root="/data/lake", generated_at=AT)


def test_plotly_js_is_inline_once_and_nothing_is_fetched():
    html = page(Section("Traffic", "what it means", figures=(go.Figure(go.Bar(x=["a"], y=[1])),)),
                Section("Bidding", "what it means", figures=(go.Figure(go.Bar(x=["b"], y=[2])),)))
    assert html.count(get_plotlyjs()) == 1
    assert html.index(get_plotlyjs()) < html.index("Plotly.newPlot")  # loaded before any chart is drawn
    assert re.findall(r"<script[^>]*\bsrc=", html) == []
    assert re.findall(r"<link[^>]*\bhref=", html) == []
    assert html.count("Plotly.newPlot(") == 2


def test_sections_in_order_with_their_charts_tables_and_notes():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="impressions"))
    rows = pd.DataFrame({"exchange": ["adx"], "win_rate": [0.25], "at": [pd.Timestamp("2026-11-21 08:00:00.123")]})
    html = page(
        Section("Traffic", "Impressions per hour.", figures=(fig,)),
        Section("Bidding", "Wins / bids.", figures=(fig, fig), tables=(("Per exchange", rows),)),
        Section("Anomalies", "What the rules flagged.", note="No anomaly findings <yet>."),
    )
    body = html[html.index("<body>"):]
    assert [m for m in re.findall(r'<section id="([^"]+)"', body)] == ["traffic", "bidding", "anomalies"]
    assert re.findall(r'<a href="#([^"]+)"', body) == ["traffic", "bidding", "anomalies"]
    assert "lake /data/lake · generated 2026-11-21 08:30 UTC" in body
    # A section with two charts shows them side by side, one with one chart across the page.
    assert re.findall(r'class="figures" style="--columns: (\d)"', body) == ["1", "2"]
    assert body.count('class="plotly-graph-div"') == 3
    assert '"name":"impressions"' in body
    assert "<caption>Per exchange</caption>" in body
    assert "<td>adx</td>" in body and "<td>0.25</td>" in body and "<td>2026-11-21 08:00:00</td>" in body
    assert '<p class="note">No anomaly findings &lt;yet&gt;.</p>' in body  # text is escaped


def test_a_section_with_a_note_only_draws_nothing():
    html = page(Section("Freshness", "Latest commits.", note="The lake holds no tables yet."))
    assert "plotly-graph-div" not in html and "Plotly.newPlot" not in html
    assert "The lake holds no tables yet." in html


def test_a_long_table_shows_its_first_rows_and_says_how_many_there_are():
    rows = pd.DataFrame({"expectation": [f"check-{i:03d}" for i in range(MAX_TABLE_ROWS + 7)]})
    html = page(Section("Quality checks", "Open findings.", tables=(("Open findings", rows),)))
    assert f"<caption>Open findings (the first {MAX_TABLE_ROWS} of {MAX_TABLE_ROWS + 7})</caption>" in html
    assert html.count("<td>check-") == MAX_TABLE_ROWS
