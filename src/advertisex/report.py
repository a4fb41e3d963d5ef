"""``advertisex report``: the lake's health on one self-contained HTML page.

Traffic, campaigns and spend, attribution, bidding, quarantine, quality results, anomalies and
freshness, each a section of plotly charts (:mod:`advertisex.charts` over :mod:`advertisex.analysis`) with one
sentence on what it shows. plotly.js is embedded once, so the file opens offline and can be
mailed or archived as it is. A table the pipeline has not written yet (a fresh lake) makes its
section say so; the page is written all the same.

:func:`sections` reads the lake, :func:`render` assembles the page from sections alone (no
Spark), :func:`write` does both.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from advertisex import analysis as A
from advertisex import charts, tables
from advertisex.config import Config
from advertisex.errors import AdvertisexError
from advertisex.io.lake import read_table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go
    from pyspark.sql import DataFrame, SparkSession

    from advertisex.tables import Table


class ReportError(AdvertisexError):
    """The report could not be written where asked."""


@dataclass(frozen=True)
class Section:
    """One part of the page: a title, what it shows, its charts and tables, or a note saying why not."""

    title: str
    about: str
    figures: tuple[go.Figure, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = ()  # (caption, rows)
    note: str | None = None


# --------------------------------------------------------------------------- sections from the lake

Build = Callable[..., Section]


def _missing(cfg: Config, needed: Sequence[Table]) -> str:
    names = ", ".join(f"`{t.name}`" for t in needed)
    return (f"Not in the lake yet: {names} (lake.root {cfg.lake.root}). "
            "Run the pipeline (`advertisex pipeline --once`) and write the report again.")


def _from(title: str, about: str, needed: Sequence[Table], build: Callable[..., Section]) -> Build:
    """A section that reads ``needed`` and calls ``build(title, about, *frames)``; while one of the
    tables does not exist, a section saying so."""

    def section(spark: SparkSession, cfg: Config) -> Section:
        frames = [read_table(spark, cfg, t) for t in needed]
        absent = [t for t, df in zip(needed, frames, strict=True) if df is None]
        if absent:
            return Section(title, about, note=_missing(cfg, absent))
        return build(title, about, *frames)

    return section


NO_ROWS = "No rows yet."


def _fetch(figure: DataFrame) -> pd.DataFrame:
    """driver-side: one analysis figure's rows (aggregates: a few per hour, date, campaign,
    exchange or reason), drawn and tabled on the driver."""
    return figure.toPandas()  # driver-side: a figure's aggregated rows, drawn on the driver


def _traffic(title: str, about: str, hourly: DataFrame, daily: DataFrame) -> Section:
    by_hour = _fetch(A.traffic_by_hour(hourly))
    if by_hour.empty:
        return Section(title, about, note=NO_ROWS)
    by_day = _fetch(A.traffic_by_day(daily))
    return Section(title, about, figures=(charts.traffic(by_hour, "hour", "Per UTC hour"),
                                          charts.traffic(by_day, "event_date", "Per UTC date")))


def _campaigns(title: str, about: str, daily: DataFrame) -> Section:
    top = _fetch(A.top_campaigns(daily))
    if top.empty:
        return Section(title, about, note=NO_ROWS)
    spend = _fetch(A.spend_by_day(daily))
    return Section(title, about, figures=(charts.top_campaigns(top), charts.spend(spend)),
                   tables=(("Top campaigns by spend", top),))


def _attribution(title: str, about: str, daily: DataFrame, clicks: DataFrame) -> Section:
    funnel = _fetch(A.attribution_funnel(daily))
    if funnel.empty:
        return Section(title, about, note=NO_ROWS)
    delays = _fetch(A.attribution_delay(clicks))
    figures = (charts.funnel(funnel), *(() if delays.empty else (charts.delays(delays, "Time from impression to click"),)))
    return Section(title, about, figures=figures)


def _bids(title: str, about: str, bid_daily: DataFrame, bid_requests: DataFrame) -> Section:
    rates = _fetch(A.win_rate_by_exchange(bid_daily))
    if rates.empty:
        return Section(title, about, note=NO_ROWS)
    prices = _fetch(A.bid_prices_by_exchange(bid_requests))
    return Section(title, about, figures=(charts.win_rate(rates), charts.bid_prices(prices)))


def _quarantine(title: str, about: str, quarantine: DataFrame) -> Section:
    by_reason = _fetch(A.quarantine_by_reason(quarantine))
    if by_reason.empty:
        return Section(title, about, note="Nothing quarantined: every record received was valid.")
    return Section(title, about, figures=(charts.quarantine(by_reason),))


def _quality(title: str, about: str, results: DataFrame) -> Section:
    summary = _fetch(A.quality_summary(results))
    if summary.empty:
        return Section(title, about, note="No quality results yet: run `advertisex run quality`.")
    failing = _fetch(A.failing_checks(results))
    if failing.empty:
        return Section(title, about, figures=(charts.quality(summary),), note="Every check passes.")
    return Section(title, about, figures=(charts.quality(summary),), tables=(("Open findings", failing),))


def _anomalies(title: str, about: str, anomalies: DataFrame) -> Section:
    by_rule = _fetch(A.anomalies_by_rule(anomalies))
    if by_rule.empty:
        return Section(title, about, note="No anomaly findings: every rule stayed silent (the `anomaly` job's "
                                          "summary says why, e.g. too little history).")
    found = _fetch(A.open_anomalies(anomalies))
    if found.empty:
        return Section(title, about, figures=(charts.anomalies(by_rule),), note="None open: every finding resolved.")
    return Section(title, about, figures=(charts.anomalies(by_rule),), tables=(("Open findings", found),))


def _freshness(spark: SparkSession, cfg: Config) -> Section:
    title = "Freshness"
    about = "When each table last got a commit, and how long ago: a table no job writes to any more goes stale."
    fresh = _fetch(A.freshness(spark, cfg))
    if fresh.empty:
        return Section(title, about, note=f"The lake holds no tables yet (lake.root {cfg.lake.root}). Run the "
                                          "pipeline (`advertisex pipeline --once`) and write the report again.")
    return Section(title, about, figures=(charts.freshness(fresh),), tables=(("Tables", fresh),))


SECTIONS: tuple[Build, ...] = (
    _from("Traffic", "Impressions, attributed clicks and CTR (clicks / impressions) of all campaigns, per hour and "
          "per date (gold).", (tables.GOLD_CAMPAIGN_HOURLY, tables.GOLD_CAMPAIGN_DAILY), _traffic),
    _from("Campaigns and spend", "The campaigns that spent most over all dates, with CTR, CVR (post-click "
          "conversions / clicks), CPC (spend / attributed click) and CPA (spend / post-click conversion); and what "
          "the impressions cost per date.", (tables.GOLD_CAMPAIGN_DAILY,), _campaigns),
    _from("Attribution", "How impressions turn into attributed clicks and post-click or post-view conversions "
          "(docs/CONTRACT.md §3), and how long after the impression the clicks came.",
          (tables.GOLD_CAMPAIGN_DAILY, tables.SILVER_CLICKS), _attribution),
    _from("Bidding", "The share of our bids that won each exchange's auctions (wins / bids), and how the clearing "
          "price compares with the floor the exchange set.", (tables.GOLD_BID_DAILY, tables.SILVER_BID_REQUESTS),
          _bids),
    _from("Quarantine", "Malformed records set aside instead of dropped, by source and reason code, per date they "
          "arrived.", (tables.QUARANTINE,), _quarantine),
    _from("Quality checks", "The latest result of every data-quality check per table: a failed one is an open "
          "finding until a later check passes.", (tables.QUALITY_RESULTS,), _quality),
    _from("Anomalies", "What the anomaly rules flagged (traffic drops, CTR spikes, quarantine bursts, stale tables, "
          "missing dates), with what was expected and what was seen.", (tables.ANOMALIES,), _anomalies),
    _freshness,
)


def sections(spark: SparkSession, cfg: Config) -> list[Section]:
    """Every section of the report, read from ``cfg``'s lake."""
    return [build(spark, cfg) for build in SECTIONS]


# --------------------------------------------------------------------------- the page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1320px; padding: 16px 24px; color: #222; }
h1 { margin-bottom: 4px; } .meta { color: #666; margin-top: 0; }
nav a { margin-right: 14px; } section { border-top: 1px solid #ddd; margin-top: 24px; }
.about { color: #444; } .note { background: #fff7e0; border-left: 4px solid #f0b400; padding: 8px 12px; }
table.data { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
table.data th, table.data td { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: right; }
table.data th { background: #f5f5f5; } caption { text-align: left; font-weight: 600; padding: 4px 0; }
.figures { display: grid; grid-template-columns: repeat(var(--columns), minmax(0, 1fr)); gap: 8px; }
@media (max-width: 1100px) { .figures { grid-template-columns: minmax(0, 1fr); } }
"""


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower())


def _number(value: float) -> str:
    """Money and counts with two decimals, ratios (below 1) with four significant digits."""
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"


# A table on the page shows at most this many rows (open findings of a long outage could be thousands).
MAX_TABLE_ROWS = 50


def _table_html(caption: str, rows: pd.DataFrame) -> str:
    if len(rows) > MAX_TABLE_ROWS:
        caption = f"{caption} (the first {MAX_TABLE_ROWS} of {len(rows):,})"
        rows = rows.head(MAX_TABLE_ROWS)
    times = {c: rows[c].dt.strftime("%Y-%m-%d %H:%M:%S") for c in rows.select_dtypes("datetime").columns}
    table = rows.assign(**times).to_html(index=False, classes="data", na_rep="", float_format=_number)
    return re.sub(r"<table[^>]*>", f'<table class="data"><caption>{html.escape(caption)}</caption>', table, count=1)


def _section_html(section: Section) -> str:
    parts = [f'<section id="{_anchor(section.title)}">', f"<h2>{html.escape(section.title)}</h2>",
             f'<p class="about">{html.escape(section.about)}</p>']
    if section.note:
        parts.append(f'<p class="note">{html.escape(section.note)}</p>')
    if section.figures:
        # The columns are fixed before the charts are drawn: plotly sizes each chart to its cell when
        # its script runs, while the page is still being read.
        parts += [f'<div class="figures" style="--columns: {min(len(section.figures), 2)}">',
                  *(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
                    for fig in section.figures), "</div>"]
    parts += [_table_html(caption, rows) for caption, rows in section.tables]
    parts.append("</section>")
    return "\n".join(parts)


def render(sections: Sequence[Section], *, lake_root: str, generated_at: dt.datetime) -> str:
    """The page: every section in order, plotly.js inline in the head (no network needed to open it).

    Args:
        sections: what to show.
        lake_root: the lake the sections were read from (named on the page).
        generated_at: when (named on the page).

    Returns:
        The HTML document.
    """
    from plotly.offline import get_plotlyjs

    nav = " ".join(f'<a href="#{_anchor(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        "<title>AdvertiseX data health</title>", f"<style>{STYLE}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>', "</head>", "<body>",
        "<h1>AdvertiseX data health</h1>",
        f'<p class="meta">lake {html.escape(lake_root)} · generated {generated_at:%Y-%m-%d %H:%M} UTC</p>',
        f"<nav>{nav}</nav>", *(_section_html(s) for s in sections), "</body>", "</html>",
    ])


def console_summary(spark: SparkSession, cfg: Config) -> str:
    """For a terminal: the top campaigns and the quarantine counts by source and reason, as text
    tables (what ``make demo`` ends with); a table the lake lacks says so."""
    daily, quarantine = read_table(spark, cfg, tables.GOLD_CAMPAIGN_DAILY), read_table(spark, cfg, tables.QUARANTINE)
    parts = ["Top campaigns by spend (gold/campaign_daily, all dates)"]
    if daily is None:
        parts.append(f"  {_missing(cfg, [tables.GOLD_CAMPAIGN_DAILY])}")
    else:
        top = _fetch(A.top_campaigns(daily))[["campaign_id", "campaign_name", "impressions", "clicks", "ctr",
                                                 "conversions", "cvr", "spend"]]
        parts.append(top.to_string(index=False, float_format=_number, na_rep=""))  # a campaign without a name
    parts.append("\nQuarantined records by source and reason (quarantine)")
    if quarantine is None:
        parts.append("  none: nothing was quarantined, or the pipeline has not run")
    else:
        counts = _fetch(A.quarantine_by_reason(quarantine)).groupby(["source", "reason"], as_index=False)[
            "records"].sum()
        parts.append(counts.to_string(index=False) if len(counts) else "  none")
    return "\n".join(parts)


def default_path(cfg: Config) -> Path:
    """Where the report goes without ``--out``: ``report.path``."""
    return Path(cfg.report.path)


def write(spark: SparkSession, cfg: Config, out: str | Path | None = None) -> Path:
    """Read the lake, and write the report to ``out`` (default ``report.path``); returns where.

    Raises:
        ReportError: ``out`` cannot be written (a folder in the way, no permission).
    """
    path = Path(out) if out is not None else default_path(cfg)
    page = render(sections(spark, cfg), lake_root=cfg.lake.root, generated_at=dt.datetime.now(dt.UTC))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    return path
