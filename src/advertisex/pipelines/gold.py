"""Job ``gold``: docs/CONTRACT.md §3 aggregates, recomputed only for the dates whose silver rows changed.

The silver job records which event dates changed (``_pipeline/dirty_dates``); this job
recomputes ``gold/campaign_daily``, ``gold/campaign_hourly`` and ``gold/bid_daily`` for
exactly those dates with Delta ``replaceWhere`` (a late event rewrites its own day and
nothing else), hands the campaign dates on to the ``anomaly`` job (marks of the stage
``anomaly``, recorded before its own writes), then clears the dates it consumed. With nothing
dirty it writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import tables
from advertisex.config import Config
from advertisex.io.dirty_dates import (
    STAGE_ANOMALY,
    STAGE_GOLD_BID,
    STAGE_GOLD_CAMPAIGN,
    clear_dirty,
    record_dirty,
    take_dirty,
)
from advertisex.io.lake import read_table, replace_partitions
from advertisex.monitoring import metrics as M
from advertisex.pipelines.parallel import run_concurrently
from advertisex.transforms import dimensions as D
from advertisex.transforms import gold as G
from advertisex.transforms.keys import dates_in

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def run(spark: SparkSession, cfg: Config, **_: Any) -> dict[str, Any]:
    """Recompute the gold tables for the dates marked dirty, then clear those marks."""
    marks = take_dirty(spark, cfg, [STAGE_GOLD_CAMPAIGN, STAGE_GOLD_BID])
    summary: dict[str, Any] = {}
    campaign_dates = set().union(*[v for (stage, _), v in marks.dates.items() if stage == STAGE_GOLD_CAMPAIGN])
    bid_dates = set().union(*[v for (stage, _), v in marks.dates.items() if stage == STAGE_GOLD_BID])

    # What gold holds now is silver as this run read it: as fresh as silver's newest event
    # time known to this process when its reads begin (unknown to a lone gold run).
    newest = {t.name: M.newest_of(t.name) for t in (tables.SILVER_IMPRESSIONS, tables.SILVER_BID_REQUESTS)}
    impressions = read_table(spark, cfg, tables.SILVER_IMPRESSIONS)
    clicks = read_table(spark, cfg, tables.SILVER_CLICKS)
    conversions = read_table(spark, cfg, tables.SILVER_CONVERSIONS)
    # The tables' writes are independent: they run together at the end.
    writes: list[Callable[[], None]] = []
    campaign_written = campaign_dates and impressions is not None and clicks is not None and conversions is not None
    if campaign_written:
        campaigns = D.current_rows(read_table(spark, cfg, tables.DIM_CAMPAIGNS))
        where = dates_in("event_date", campaign_dates)
        args = (impressions.where(where), clicks.where(where), conversions.where(where), campaigns)
        # One pass over silver: the hourly rows (a few thousand per day), then the daily ones from them.
        # Silver holds one row per event id (its inserts de-duplicate), so rows are counted.
        hourly = G.campaign_hourly(*args, ids_unique=True).localCheckpoint()
        writes += [
            partial(replace_partitions, tables.GOLD_CAMPAIGN_HOURLY.conform(hourly), cfg,
                    tables.GOLD_CAMPAIGN_HOURLY, campaign_dates),
            partial(replace_partitions, tables.GOLD_CAMPAIGN_DAILY.conform(G.campaign_daily_from_hourly(hourly)), cfg,
                    tables.GOLD_CAMPAIGN_DAILY, campaign_dates),
        ]
    summary["campaign_dates"] = len(campaign_dates)

    bids = read_table(spark, cfg, tables.SILVER_BID_REQUESTS)
    if bid_dates and bids is not None:
        day_bids = bids.where(dates_in("event_date", bid_dates))
        imps = impressions if impressions is not None else tables.SILVER_IMPRESSIONS.empty(
            spark, "impression_id", "bid_request_id")
        matched = imps.where(F.col("bid_request_id").isNotNull()).join(
            day_bids.select("bid_request_id"), "bid_request_id", "left_semi"
        )
        writes.append(partial(replace_partitions, tables.GOLD_BID_DAILY.conform(G.bid_daily(day_bids, matched)), cfg,
                              tables.GOLD_BID_DAILY, bid_dates))
    summary["bid_dates"] = len(bid_dates)
    if campaign_written and cfg.anomaly.enabled:
        record_dirty(spark, cfg, [(STAGE_ANOMALY, "gold", d) for d in campaign_dates])
    run_concurrently(spark, *writes)
    clear_dirty(spark, marks.files)
    if campaign_dates and newest[tables.SILVER_IMPRESSIONS.name] is not None:
        for t in (tables.GOLD_CAMPAIGN_DAILY, tables.GOLD_CAMPAIGN_HOURLY):
            M.note_newest(t.name, dt.datetime.fromtimestamp(newest[tables.SILVER_IMPRESSIONS.name], dt.UTC))
    if bid_dates and newest[tables.SILVER_BID_REQUESTS.name] is not None:
        M.note_newest(tables.GOLD_BID_DAILY.name, dt.datetime.fromtimestamp(newest[tables.SILVER_BID_REQUESTS.name],
                                                                            dt.UTC))
    return summary
