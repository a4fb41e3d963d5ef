"""Plotly figures of :mod:`advertisex.analysis`'s results, shared by the report and the notebooks.

Each function takes the pandas frame of one analysis function (``.toPandas()``) and returns a
plotly ``Figure``; none reads the lake. A frame without rows gives a figure without data: the
callers say so instead of drawing it (:func:`advertisex.notebook.plot`, the report's sections).
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

HEIGHT = 420


def _layout(fig: go.Figure, title: str, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(title=title, height=height, template="plotly_white", margin={"t": 60, "r": 30, "b": 40, "l": 70},
                      legend={"orientation": "h", "y": -0.15})
    return fig


def _by_date(fig: go.Figure) -> go.Figure:
    """A date axis with one tick per day (plotly would put ticks at noon between them)."""
    return fig.update_xaxes(tickformat="%b %d", dtick=86_400_000)


def traffic(data: pd.DataFrame, x: str, title: str) -> go.Figure:
    """Impressions, attributed clicks and CTR, one panel each over ``x`` (``hour`` or ``event_date``) of
    :func:`~advertisex.analysis.traffic_by_hour` or :func:`~advertisex.analysis.traffic_by_day`."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("impressions", "attributed clicks", "CTR"))
    kind = go.Bar if x == "event_date" else go.Scatter
    for row, column in enumerate(("impressions", "clicks", "ctr"), start=1):
        fig.add_trace(kind(x=data[x], y=data[column], name=column), row=row, col=1)
    fig.update_yaxes(tickformat=".2%", row=3, col=1)
    fig.update_layout(showlegend=False)
    if x == "event_date":
        _by_date(fig)
    return _layout(fig, title, height=560)


def spend(data: pd.DataFrame) -> go.Figure:
    """Spend per day (bars) with CPC and CPA (lines, right axis) of :func:`~advertisex.analysis.spend_by_day`."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=data["event_date"], y=data["spend"], name="spend"), secondary_y=False)
    for column in ("cpc", "cpa"):
        fig.add_trace(go.Scatter(x=data["event_date"], y=data[column], name=column.upper(), mode="lines+markers"),
                      secondary_y=True)
    fig.update_yaxes(title_text="spend", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="CPC, CPA", rangemode="tozero", secondary_y=True)
    return _layout(_by_date(fig), "Spend per day, cost per click and per conversion")


def top_campaigns(data: pd.DataFrame) -> go.Figure:
    """Spend per campaign of :func:`~advertisex.analysis.top_campaigns`, with its CTR, CVR, CPC and CPA on hover."""
    labels = [cid if pd.isna(name) else f"{cid} {name}" for cid, name in zip(data["campaign_id"], data["campaign_name"],
                                                                              strict=True)]
    fig = go.Figure(go.Bar(
        x=data["spend"], y=labels, orientation="h", name="spend",
        customdata=data[["impressions", "clicks", "conversions", "ctr", "cvr", "cpc", "cpa"]].to_numpy(),
        hovertemplate="%{y}<br>spend %{x:,.2f}<br>impressions %{customdata[0]:,}<br>clicks %{customdata[1]:,}"
                      "<br>conversions %{customdata[2]:,}<br>CTR %{customdata[3]:.2%}<br>CVR %{customdata[4]:.2%}"
                      "<br>CPC %{customdata[5]:.3f}<br>CPA %{customdata[6]:.2f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Top campaigns by spend", height=max(HEIGHT, 30 * len(data) + 120))


def campaign_lines(data: pd.DataFrame, metric: str) -> go.Figure:
    """One line per campaign of ``metric`` (e.g. ``ctr``) per day, of
    :func:`~advertisex.analysis.campaign_metrics` by ``event_date`` and ``campaign_id``."""
    fig = _by_date(px.line(data, x="event_date", y=metric, color="campaign_id", markers=True))
    if metric in ("ctr", "cvr"):
        fig.update_yaxes(tickformat=".2%")
    return _layout(fig, f"{metric.upper()} per campaign and day")


def funnel(data: pd.DataFrame) -> go.Figure:
    """The stages of :func:`~advertisex.analysis.attribution_funnel`, each with its rate."""
    text = [f"{n:,}" + ("" if pd.isna(r) else f" ({r:.2%})") for n, r in zip(data["events"], data["rate"], strict=True)]
    fig = go.Figure(go.Funnel(y=data["stage"], x=data["events"], text=text, textinfo="text"))
    return _layout(fig, "Attribution funnel (rates: CTR, CVR, view-through rate)")


def delays(data: pd.DataFrame, title: str) -> go.Figure:
    """Attributed events per delay bucket and attribution kind, of :func:`~advertisex.analysis.attribution_delay`."""
    fig = px.bar(data, x="delay", y="events", color="attribution_kind", barmode="group")
    return _layout(fig, title)


def win_rate(data: pd.DataFrame) -> go.Figure:
    """Win rate per exchange of :func:`~advertisex.analysis.win_rate_by_exchange`."""
    fig = go.Figure(go.Bar(x=data["exchange"], y=data["win_rate"], name="win rate",
                           customdata=data[["bids", "wins"]].to_numpy(),
                           hovertemplate="%{x}: %{y:.2%} (%{customdata[1]:,} wins of %{customdata[0]:,} bids)"
                                         "<extra></extra>"))
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, "Win rate per exchange (wins / bids)")


def win_rate_by_day(data: pd.DataFrame) -> go.Figure:
    """Win rate per exchange and day, of ``gold/bid_daily`` rows."""
    fig = _by_date(px.line(data, x="event_date", y="win_rate", color="exchange", markers=True))
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, "Win rate per exchange and day")


BID_PRICES = (("avg_floor_price_micros", "floor (all auctions)"), ("avg_bid_price_micros", "our bid"),
              ("avg_won_floor_price_micros", "floor (auctions won)"), ("avg_clearing_price_micros", "clearing (won)"))


def bid_prices(data: pd.DataFrame) -> go.Figure:
    """Floor, bid and clearing prices per exchange of :func:`~advertisex.analysis.bid_prices_by_exchange`."""
    fig = go.Figure([go.Bar(x=data["exchange"], y=data[column], name=name) for column, name in BID_PRICES])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="micros per impression")
    return _layout(fig, "Clearing vs floor price per exchange")


def quarantine(data: pd.DataFrame) -> go.Figure:
    """Quarantined records per ingestion date, stacked by source and reason, of
    :func:`~advertisex.analysis.quarantine_by_reason`."""
    data = data.assign(cause=data["source"] + ": " + data["reason"])
    fig = px.bar(data, x="ingest_date", y="records", color="cause")
    fig.update_xaxes(type="category")
    return _layout(fig, "Quarantined records by reason and ingestion date")


def quality(data: pd.DataFrame) -> go.Figure:
    """Checks passed and failed (latest results) per table and severity, of
    :func:`~advertisex.analysis.quality_summary`."""
    labels = data["table"] + " (" + data["severity"] + ")"
    fig = go.Figure([go.Bar(y=labels, x=data["passed"], name="passed", orientation="h", marker_color="#2ca02c"),
                     go.Bar(y=labels, x=data["failed"], name="failed", orientation="h", marker_color="#d62728")])
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Quality checks by table (latest result of each)", height=max(HEIGHT, 26 * len(data) + 140))


def anomalies(data: pd.DataFrame) -> go.Figure:
    """Anomaly findings per rule, open or resolved, of :func:`~advertisex.analysis.anomalies_by_rule`."""
    fig = px.bar(data, x="rule", y="findings", color="status", pattern_shape="severity", barmode="stack")
    return _layout(fig, "Anomaly findings by rule")


def freshness(data: pd.DataFrame) -> go.Figure:
    """Hours since each table's latest commit, of :func:`~advertisex.analysis.freshness`."""
    fig = go.Figure(go.Bar(y=data["table"], x=data["age_hours"], orientation="h", name="hours since commit",
                           customdata=data[["version", "operation"]].to_numpy(),
                           hovertemplate="%{y}: %{x:.1f} h ago (version %{customdata[0]}, %{customdata[1]})"
                                         "<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="hours since the latest commit")
    return _layout(fig, "Freshness: the latest commit of each table", height=max(HEIGHT, 26 * len(data) + 120))
