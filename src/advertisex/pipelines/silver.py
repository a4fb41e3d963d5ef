"""Job ``silver``: bronze → normalised, de-duplicated, enriched, attributed silver tables.

One Delta-source stream per bronze table, each with its own checkpoint, whose
``foreachBatch`` takes the batch's valid rows (``quarantine_reason`` null), normalises
them (docs/CONTRACT.md §1.5), keeps one row per event id, enriches them with the reference
attributes valid at event time, and appends the ids silver does not hold yet
(:func:`~advertisex.io.lake.insert_new`: a duplicate from another file, batch or restart
counts once, and a replayed batch is skipped by its Delta transaction id). The click and
bid-request batches also record the event dates they touched for the steps after them
(:mod:`advertisex.io.dirty_dates`); what new impressions touch is found from silver's
change data feed when re-attribution runs. Then the clicks and conversions the new events
can change are re-attributed (:mod:`advertisex.pipelines.reattribute`).

Late data: an impression that arrives after its clicks marks its own date and the next
``click_window`` of dates dirty, so those clicks are re-attributed in the same run; a
click naming it by ``impression_id`` is found by id, whatever its date. After all input
is processed the tables equal the batch definition.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import tables
from advertisex.config import Config
from advertisex.errors import InputPathError
from advertisex.faults import crash_point
from advertisex.io.delta import is_delta
from advertisex.io.dirty_dates import STAGE_ATTRIBUTION, STAGE_GOLD_BID, record_dirty
from advertisex.io.lake import can_probe, distinct_dates, insert_new, read_held
from advertisex.io.streaming import BatchFn, Stream, delta_source, run_stream
from advertisex.pipelines.parallel import run_concurrently
from advertisex.pipelines.reattribute import ATTRIBUTED_TABLES, reattribute
from advertisex.tables import Table
from advertisex.transforms import dimensions as D
from advertisex.transforms import silver as S

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

JOB = "silver"
ToSilver = Callable[["DataFrame"], "DataFrame"]

# Bronze columns silver does not read (the raw record and its transport/file origin details;
# the summary ``origin`` string is kept).
BRONZE_ONLY_COLUMNS = (
    "raw", "event_time_raw", "magic_byte", "kafka_key", "kafka_topic", "kafka_partition", "kafka_offset",
    "kafka_timestamp", "source_file", "source_line", "ingest_batch",
)


def dimensions(spark: SparkSession, cfg: Config) -> tuple[DataFrame, DataFrame]:
    """The campaigns and users dimensions, as of their latest commit (held in memory from one
    batch to the next while no commit changes them: :func:`~advertisex.io.lake.read_held`).

    Raises:
        InputPathError: the ``reference`` job has not run yet.
    """
    campaigns = read_held(spark, cfg, tables.DIM_CAMPAIGNS)
    users = read_held(spark, cfg, tables.DIM_USERS)
    if campaigns is None or users is None:
        raise InputPathError(
            f"reference dimensions missing under {cfg.lake.root}/silver: run the `reference` job first"
        )
    return campaigns, users


def _valid(batch: DataFrame, to_silver: ToSilver) -> DataFrame:
    """A bronze batch's valid rows in silver shape (normalised, not yet de-duplicated)."""
    return to_silver(batch.where(F.col("quarantine_reason").isNull()))


def _silver_rows(batch: DataFrame, cfg: Config, to_silver: ToSilver, key: str,
                 counted: DataFrame | None = None) -> DataFrame:
    """A bronze batch's valid rows → silver rows: normalised, one per ``key``, enriched as of
    event time. Not materialised: the insert reads it once, and what the dirty-date scans
    need comes from :func:`_silver_keys` (a few cheap columns read again from bronze).
    ``counted``: :func:`~advertisex.transforms.silver.copies` of the batch's keys, which
    then ranks only the rows of ids it holds more than once
    (:func:`~advertisex.transforms.silver.dedupe_few`)."""
    campaigns, users = dimensions(batch.sparkSession, cfg)
    return (
        _valid(batch, to_silver)
        .transform(S.dedupe(key) if counted is None else S.dedupe_few(key, counted))
        .transform(lambda d: D.enrich_user(D.enrich_campaign(d, campaigns), users))
    )


def _silver_keys(batch: DataFrame, to_silver: ToSilver, *columns: str) -> DataFrame:
    """``columns`` (ids, ``event_date``) of a bronze batch's valid rows as silver has them;
    column pruning reads and normalises only those."""
    return _valid(batch, to_silver).select(*columns)


def _insert(batch: DataFrame, cfg: Config, table: Table, to_silver: ToSilver, key: str, *, app_id: str,
            version: int, probe: bool, observe: tuple[Column, ...] = ()) -> dict[str, Any] | None:
    """Insert a bronze batch's silver rows whose ``key`` ``table`` lacks (:func:`insert_new`).

    A batch small enough to ``probe`` counts its keys once. That one aggregation serves the
    de-duplication, which then ranks only the repeated ids, and the probe, which
    broadcasts them all.
    """
    counted = S.copies(_silver_keys(batch, to_silver, key), key) if probe else None
    return insert_new(table.conform(_silver_rows(batch, cfg, to_silver, key, counted)), cfg, table, key,
                      app_id=app_id, version=version, probe=probe,
                      distinct_keys=None if counted is None else S.counted_keys(counted, key), observe=observe)


# --------------------------------------------------------------------------- the three streams


def impressions_batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body for ``bronze/impressions`` → ``silver/impressions``.

    Only the insert: what the new impressions change (their dates, the clicks waiting for
    them, their bid requests' dates) is marked from silver's change data feed when
    re-attribution runs next (:func:`~advertisex.pipelines.reattribute.mark_new_impressions`).
    """

    def fn(batch: DataFrame, batch_id: int) -> None:
        _insert(batch, cfg, tables.SILVER_IMPRESSIONS, S.silver_impressions, "impression_id",
                app_id=app_id, version=batch_id, probe=can_probe(batch))
        crash_point("silver_insert", JOB)

    return fn


def click_events_batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body for ``bronze/click_events`` → ``silver/clicks`` and ``silver/conversions``."""

    def fn(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        events = _silver_rows(batch, cfg, S.silver_click_events, "event_id").localCheckpoint()  # small; read twice
        clicks, conversions = S.split_clicks_conversions(events)
        probe = can_probe(events)
        with ATTRIBUTED_TABLES:  # not while re-attribution rewrites these tables' partitions
            for table, rows, other in ((tables.SILVER_CLICKS, clicks, tables.SILVER_CONVERSIONS),
                                       (tables.SILVER_CONVERSIONS, conversions, tables.SILVER_CLICKS)):
                # Not attributed yet (attribution columns null): re-attribution picks them up.
                # An event id counts once, whatever its type (an id stored as a click and
                # received again as a conversion keeps the click).
                insert_new(table.conform(rows), cfg, table, "event_id", app_id=app_id, version=batch_id,
                           probe=probe, also_in=(other,))
                crash_point("silver_insert", JOB)
            # Marked before re-attribution can run again: it would otherwise take the tables as
            # settled (every row attributed) with these rows in them.
            dirty = [(STAGE_ATTRIBUTION, "clicks", d) for d in distinct_dates(clicks)]
            dirty += [(STAGE_ATTRIBUTION, "conversions", d) for d in distinct_dates(conversions)]
            record_dirty(spark, cfg, dirty, app_id=app_id, version=batch_id)

    return fn


def bid_requests_batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body for ``bronze/bid_requests`` → ``silver/bid_requests``."""

    def fn(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        observed = _insert(batch, cfg, tables.SILVER_BID_REQUESTS, S.silver_bid_requests, "bid_request_id",
                           app_id=app_id, version=batch_id, probe=can_probe(batch),
                           observe=(F.collect_set("event_date").alias("dates"),))
        crash_point("silver_insert", JOB)
        if observed is not None:
            dates = set(observed["dates"])  # the new rows' dates (duplicates of silver rows change nothing)
        else:  # a replayed batch: its write ran nothing to observe
            dates = distinct_dates(_silver_keys(batch, S.silver_bid_requests, "event_date"))
        dirty = [(STAGE_GOLD_BID, "bid_requests", d) for d in dates]
        record_dirty(spark, cfg, dirty, app_id=app_id, version=batch_id)

    return fn


STREAMS: tuple[tuple[str, Table, Callable[[Config, str], BatchFn]], ...] = (
    ("impressions", tables.BRONZE_IMPRESSIONS, impressions_batch),
    ("click_events", tables.BRONZE_CLICK_EVENTS, click_events_batch),
    ("bid_requests", tables.BRONZE_BID_REQUESTS, bid_requests_batch),
)


def streams(spark: SparkSession, cfg: Config) -> list[Stream]:
    """One query per bronze table that exists (a missing one has nothing to read yet)."""
    dimensions(spark, cfg)  # fail early, with one line, when the reference job has not run
    out = []
    for query, bronze, make_batch in STREAMS:
        path = cfg.table_path(bronze)
        if is_delta(spark, path):
            out.append(Stream(JOB, query, partial(delta_source, spark, path, drop=BRONZE_ONLY_COLUMNS),
                              partial(make_batch, cfg)))
    return out


def run(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    """Insert new bronze rows into silver, then re-attribute what they change.

    The three streams write different silver tables; with ``pipeline.concurrent`` they run
    at once. What re-attribution reads of their tables cannot be missed: it looks up the
    stored clicks that name new impressions and the stored bid requests they match, and a
    click, conversion or bid request inserted meanwhile (always on) is new itself, so its
    own marks bring it to re-attribution (new clicks and conversions are always
    attributed) and to gold (a bid request's date).
    """
    found = {s.query: s for s in streams(spark, cfg)}

    def run_one(query: str) -> dict[str, Any] | str:
        if query not in found:
            return "no bronze table yet"
        result = run_stream(found[query], cfg, once=True)
        return {"batches": result["batches"], "rows_written": result["rows_written"]}

    steps = [partial(run_one, query) for query, _, _ in STREAMS]
    outcomes = run_concurrently(spark, *steps) if cfg.pipeline.concurrent else [step() for step in steps]
    summary: dict[str, Any] = {query: out for (query, _, _), out in zip(STREAMS, outcomes, strict=True)}
    summary["attribution"] = reattribute(spark, cfg)
    return summary
