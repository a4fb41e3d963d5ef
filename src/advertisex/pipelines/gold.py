"""Job ``gold``: docs/CONTRACT.md §3 aggregates, recomputed only for the dates whose silver rows changed,
validated before they are published (write-audit-publish, docs/CONTRACT.md §6).

The silver job records which event dates changed (``_pipeline/dirty_dates``); this job
recomputes ``gold/campaign_daily``, ``gold/campaign_hourly`` and ``gold/bid_daily`` for
exactly those dates, hands the published campaign dates on to the ``anomaly`` job (marks of
the stage ``anomaly``), then clears the dates it consumed. With nothing dirty it writes nothing.

Write-audit-publish: each table's recomputed dates are staged (``localCheckpoint``: computed
once, read by the audit and by the write), audited by the table's Great Expectations suite
(:func:`advertisex.quality.wap.audit`) and published with Delta ``replaceWhere`` (a late
event rewrites its own day and nothing else) — except a date that failed a critical
expectation: its previously published partition stays, an alert is raised, and its dirty
marks are recorded again so the next run retries it; the ``quality`` job, after gold,
then fails with :class:`~advertisex.errors.DataQualityError` (``pipeline --once`` exits 3)
while the failure is open. The two campaign tables share their dates' marks, so a date
withheld from one is withheld from both (and is not handed on to the anomaly checks until
it is published). A warning publishes and alerts.

Crash safety: nothing is cleared before it is published. The order is: record the anomaly
marks of the dates about to be published, publish, record the withheld dates' marks again,
then delete the consumed mark files; a crash anywhere repeats the step on the same marks
(``replaceWhere`` rewrites the same partitions; a mark recorded twice is one date).

Freshness (``advertisex_table_freshness_seconds``): a gold table published from silver is
as fresh as silver's newest event time known to this process when gold's reads began
(unknown to a lone gold run); not when the date of that event was withheld.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from advertisex import tables
from advertisex.config import Config
from advertisex.faults import crash_point
from advertisex.io.dirty_dates import (
    STAGE_ANOMALY,
    STAGE_GOLD_BID,
    STAGE_GOLD_CAMPAIGN,
    Marks,
    clear_dirty,
    record_dirty,
    take_dirty,
)
from advertisex.io.lake import read_or_empty, replace_partitions
from advertisex.monitoring import metrics as M
from advertisex.pipelines.parallel import run_concurrently
from advertisex.quality import checks as K
from advertisex.quality.validation import new_run_id
from advertisex.quality.wap import audit, no_audit
from advertisex.tables import Table
from advertisex.transforms import dimensions as D
from advertisex.transforms import gold as G
from advertisex.transforms.keys import dates_in

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

JOB = "gold"
# Each gold table's dirty-date stage (the two campaign tables share theirs) and the silver
# table whose newest event time it is as fresh as.
STAGE_OF = {tables.GOLD_CAMPAIGN_HOURLY: STAGE_GOLD_CAMPAIGN, tables.GOLD_CAMPAIGN_DAILY: STAGE_GOLD_CAMPAIGN,
            tables.GOLD_BID_DAILY: STAGE_GOLD_BID}
SOURCE_OF = {tables.GOLD_CAMPAIGN_HOURLY: tables.SILVER_IMPRESSIONS, tables.GOLD_CAMPAIGN_DAILY: tables.SILVER_IMPRESSIONS,
             tables.GOLD_BID_DAILY: tables.SILVER_BID_REQUESTS}


def _dates(marks: Marks, stage: str) -> set[dt.date]:
    return set().union(*[v for (st, _), v in marks.dates.items() if st == stage])


def stage(spark: SparkSession, cfg: Config, campaign_dates: set[dt.date],
          bid_dates: set[dt.date]) -> dict[Table, tuple[DataFrame, set[dt.date]]]:
    """The recomputed rows of each gold table for its dates, staged (computed once).

    A silver table that does not exist yet holds no events: impressions that land before any
    click file, or a day that never gets a click, still make their gold rows (with no clicks),
    and a click file arriving days later rewrites the dates it touches.
    """
    impressions = read_or_empty(spark, cfg, tables.SILVER_IMPRESSIONS)
    staged: dict[Table, tuple[DataFrame, set[dt.date]]] = {}
    if campaign_dates:
        clicks = read_or_empty(spark, cfg, tables.SILVER_CLICKS)
        conversions = read_or_empty(spark, cfg, tables.SILVER_CONVERSIONS)
        campaigns = D.current_rows(read_or_empty(spark, cfg, tables.DIM_CAMPAIGNS))
        where = dates_in("event_date", campaign_dates)
        args = (impressions.where(where), clicks.where(where), conversions.where(where), campaigns)
        # One pass over silver: the hourly rows (a few thousand per day), then the daily ones from them.
        # Silver holds one row per event id (its inserts de-duplicate), so rows are counted.
        hourly = tables.GOLD_CAMPAIGN_HOURLY.conform(G.campaign_hourly(*args, ids_unique=True)).localCheckpoint()
        daily = tables.GOLD_CAMPAIGN_DAILY.conform(G.campaign_daily_from_hourly(hourly)).localCheckpoint()
        staged[tables.GOLD_CAMPAIGN_HOURLY] = (hourly, campaign_dates)
        staged[tables.GOLD_CAMPAIGN_DAILY] = (daily, campaign_dates)
    if bid_dates:
        day_bids = read_or_empty(spark, cfg, tables.SILVER_BID_REQUESTS).where(dates_in("event_date", bid_dates))
        per_exchange = G.bid_daily(day_bids, impressions, ids_unique=True)
        staged[tables.GOLD_BID_DAILY] = (tables.GOLD_BID_DAILY.conform(per_exchange).localCheckpoint(), bid_dates)
    return staged


def run(spark: SparkSession, cfg: Config, *, now: dt.datetime | None = None, **_: Any) -> dict[str, Any]:
    """Recompute the gold tables for the dates marked dirty, audit them, publish those that pass
    every critical check, hand the published campaign dates on to the anomaly job, keep the
    marks of those that do not pass, then clear the consumed marks.

    Args:
        spark: the session.
        cfg: the configuration.
        now: the time the freshness checks measure at (default: now).

    Returns:
        ``campaign_dates``, ``bid_dates`` (recomputed), ``withheld`` (``{table: [dates]}``
        not published because of a critical failure), ``warned`` (published with warnings)
        and ``audit_seconds`` (profiling, GX checkpoints, storing the results).
    """
    marks = take_dirty(spark, cfg, [STAGE_GOLD_CAMPAIGN, STAGE_GOLD_BID])
    campaign_dates, bid_dates = _dates(marks, STAGE_GOLD_CAMPAIGN), _dates(marks, STAGE_GOLD_BID)
    # What gold holds now is silver as this run read it: as fresh as silver's newest event
    # time known to this process when its reads begin (unknown to a lone gold run).
    newest = {t.name: M.newest_of(t.name) for t in (tables.SILVER_IMPRESSIONS, tables.SILVER_BID_REQUESTS)}
    staged = stage(spark, cfg, campaign_dates, bid_dates)
    verdict = audit(spark, cfg, staged, run_id=new_run_id(JOB), now=now) if staged else no_audit()
    bad = verdict[K.CRITICAL]
    withheld = {
        STAGE_GOLD_CAMPAIGN: bad.get(tables.GOLD_CAMPAIGN_DAILY.name, set())
        | bad.get(tables.GOLD_CAMPAIGN_HOURLY.name, set()),
        STAGE_GOLD_BID: bad.get(tables.GOLD_BID_DAILY.name, set()),
    }
    published = {table: set(dates) - withheld[STAGE_OF[table]] for table, (_, dates) in staged.items()}
    # The tables' writes are independent: they run together.
    writes: list[Callable[[], None]] = [
        partial(_publish, df.where(dates_in("event_date", published[table])), cfg, table, published[table])
        for table, (df, _) in staged.items() if published[table]
    ]
    handed = published.get(tables.GOLD_CAMPAIGN_HOURLY, set())
    if handed and cfg.anomaly.enabled:
        # Before the writes: a crash in between repeats gold on the same marks, and a date
        # marked twice is judged once.
        record_dirty(spark, cfg, [(STAGE_ANOMALY, "gold", d) for d in sorted(handed)])
    run_concurrently(spark, *writes)
    kept = [(st, source, d) for (st, source), days in marks.dates.items() for d in days & withheld[st]]
    if kept:
        record_dirty(spark, cfg, kept)  # before the consumed files go: a crash in between repeats the step
    clear_dirty(spark, marks.files)
    _note_freshness(newest, published, withheld)
    return {
        "campaign_dates": len(campaign_dates),
        "bid_dates": len(bid_dates),
        "withheld": {t.name: sorted(d.isoformat() for d in withheld[s] & set(staged[t][1]))
                     for t, s in STAGE_OF.items() if t in staged and withheld[s] & set(staged[t][1])},
        "warned": {t: sorted(str(d) for d in ds) for t, ds in verdict[K.WARNING].items()},
        "audit_seconds": {k: round(v, 2) for k, v in verdict["seconds"].items()},
    }


def _publish(df: DataFrame, cfg: Config, table: Table, dates: set[dt.date]) -> None:
    crash_point("gold_replace_before", JOB)
    replace_partitions(df, cfg, table, dates)
    crash_point("gold_replace_after", JOB)


def _note_freshness(newest: dict[str, float | None], published: dict[Table, set[dt.date]],
                    withheld: dict[str, set[dt.date]]) -> None:
    """Each gold table that published dates is as fresh as the silver table it is computed
    from was when gold's reads began, unless the date of that newest event was withheld."""
    for table, dates in published.items():
        ts = newest[SOURCE_OF[table].name]
        if not dates or ts is None:
            continue
        at = dt.datetime.fromtimestamp(ts, dt.UTC)
        if at.date() not in withheld[STAGE_OF[table]]:
            M.note_newest(table.name, at)
