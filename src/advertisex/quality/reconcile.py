"""Reconciliation (docs/CONTRACT.md §6): per source and ingestion batch, records received =
records in silver (merged with their duplicates) + records quarantined.

A bronze batch is one idempotent write (``ingest_batch`` = ``{txnAppId}/{txnVersion}``).
The batches to check are read from the bronze table's Delta log: the commits after the
last version reconciled, each with its ``txn`` (the batch tag) and the event dates it
added, and only those silver's stream has fully read (its checkpoint's last committed
offset), so a batch still on its way to silver is not a mismatch. Batches that failed
before are checked again, so a repaired one closes.

One Spark pass per source: the batches' bronze rows (file skipping on ``ingest_batch``),
left-joined with the silver ids of their dates and with the source's quarantine rows by
``origin``, aggregated per batch: received, invalid, valid ones found in silver,
quarantine rows, duplicates (valid, in silver from another record). The same pass hands
back the duplicates themselves (id, origin, the kept record's origin), so they are not
joined with silver a second time. A batch whose valid records are not all found in those
dates (a duplicate whose first copy had another date) is looked up once more in all of
silver.

Duplicates (a producer's retry, the same file delivered twice) should be copies. When a
batch has any, their contents as received (:attr:`Source.contents`) are compared with the
bronze record silver kept: one scan of bronze's contents (the batches' dates) picks both
records of each pair by origin, and each pair that differs is a conflict — silver keeps the
first record ingested, deterministically, and the conflict is a warning with the id and
both origins as samples.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyspark.sql.functions as F

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.io.delta import commits_since
from advertisex.io.fs import list_files, read_text
from advertisex.io.lake import among, can_probe, read_table
from advertisex.quality import checks as K
from advertisex.quality.profile import Profile
from advertisex.tables import Table
from advertisex.transforms import normalize as N
from advertisex.transforms.keys import dates_in

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SILVER_JOB = "silver"  # pipelines/silver.py: JOB and its STREAMS' query names


@dataclass(frozen=True)
class Source:
    """A source (docs/CONTRACT.md §2 quarantine ``source``, also the name of the silver query
    reading it), its bronze table, event id, the silver tables its valid records go to, and
    the bronze columns that are a record's contents as received."""

    name: str
    bronze: Table
    id_column: str
    silver: tuple[Table, ...]
    contents: tuple[str, ...]


SOURCES = (
    Source(C.SOURCE_IMPRESSIONS, tables.BRONZE_IMPRESSIONS, "impression_id", (tables.SILVER_IMPRESSIONS,),
           ("event_time_raw", "user_id", "campaign_id", "ad_creative_id", "website", "device_type", "country",
            "bid_request_id", "cost_micros")),
    Source(C.SOURCE_CLICK_EVENTS, tables.BRONZE_CLICK_EVENTS, "event_id",
           (tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS),
           ("event_type", "event_time_raw", "user_id", "campaign_id", "ad_creative_id", "impression_id",
            "conversion_type", "conversion_value")),
    Source(C.SOURCE_BID_REQUESTS, tables.BRONZE_BID_REQUESTS, "bid_request_id", (tables.SILVER_BID_REQUESTS,),
           ("event_time", "user", "auction", "targeting")),
)
RECEIVED, QUARANTINE_EXACT, DUPLICATES_AGREE = (c.name for c in K.RECONCILIATION.checks)
# Duplicates up to this many (with their contents, a few hundred bytes each) are broadcast
# for the comparison with the records kept.
FEW_DUPLICATES = 100_000


def silver_read_upto(spark: SparkSession, cfg: Config, query: str) -> int | None:
    """driver-side: the newest bronze version silver's ``query`` has read completely (from its
    checkpoint's last committed offset); None when unknown (no checkpoint yet)."""
    root = cfg.checkpoint_path(SILVER_JOB, query)
    committed = [int(p.rsplit("/", 1)[-1]) for p in list_files(spark, f"{root}/commits", "")
                 if p.rsplit("/", 1)[-1].isdigit()]
    if not committed:
        return None
    offset = json.loads(read_text(spark, f"{root}/offsets/{max(committed)}").splitlines()[-1])
    if offset.get("isStartingVersion"):
        return -1  # still reading the first snapshot: no version is complete before it ends
    return int(offset["reservoirVersion"]) - 1


def new_batches(spark: SparkSession, cfg: Config, source: Source, since: int | None,
                upto: int | None) -> tuple[dict[str, set[str]], int | None]:
    """driver-side: ``{batch tag: event dates}`` of the bronze commits after ``since`` up to
    ``upto``, and the newest version looked at; ``({}, None)`` when the log cannot tell."""
    commits = commits_since(spark, cfg.table_path(source.bronze), since)
    if commits is None:
        return {}, None
    out: dict[str, set[str]] = {}
    last = since
    for c in commits:
        if upto is not None and c["version"] > upto:
            break
        last = c["version"]
        if c["txn"] is not None:
            tag = f"{c['txn'][0]}/{c['txn'][1]}"
            out.setdefault(tag, set()).update(a.get("event_date") for a in c["adds"] if a.get("event_date"))
    return out, last


def _silver_ids(spark: SparkSession, cfg: Config, source: Source, where: str | None) -> DataFrame | None:
    parts = [t for t in (read_table(spark, cfg, s) for s in source.silver) if t is not None]
    if not parts:
        return None
    kept = (F.col(source.id_column).alias("_id"), F.col("origin").alias("_kept_origin"))
    ids = [p.where(where).select(*kept) if where else p.select(*kept) for p in parts]
    out = ids[0]
    for more in ids[1:]:
        out = out.unionByName(more)
    return out.withColumn("_in_silver", F.lit(True))


def reconcile(spark: SparkSession, cfg: Config, source: Source, batches: dict[str, set[str]]) -> Profile | None:
    """driver-side: the reconciliation profile of ``batches`` (tag → event dates) of ``source``.

    Returns:
        One profile row per batch (``RECONCILIATION`` checks: received − silver − quarantined,
        quarantined − invalid; both 0 when it balances); None without bronze.
    """
    bronze = read_table(spark, cfg, source.bronze)
    if bronze is None or not batches:
        return None
    dates = {dt.date.fromisoformat(d) for ds in batches.values() for d in ds}
    batched = bronze.where(F.col("ingest_batch").isin(sorted(batches)))
    rows = batched.select("ingest_batch", "origin", N.clean_id(F.col(source.id_column)).alias("_id"),
                          F.col("quarantine_reason").isNotNull().alias("_bad"))
    quarantined = _quarantined(spark, cfg, source, batched)
    probe = can_probe(rows)
    got, dups = _count(spark, cfg, source, rows, quarantined, dates_in("event_date", dates) if dates else None,
                       probe=probe)
    short = [tag for tag, r in got.items() if r["received"] != r["in_silver"] + r["quarantined"]]
    if short:  # a duplicate's first copy may sit on another date: look in all of silver
        more, more_dups = _count(spark, cfg, source, rows.where(F.col("ingest_batch").isin(short)), quarantined, None,
                                 probe=probe)
        got.update(more)
        dups = dups.where(~F.col("ingest_batch").isin(short)).unionByName(more_dups)
    with_duplicates = sorted(tag for tag, r in got.items() if r["duplicates"])
    # dups holds rows of with_duplicates' batches only (one per duplicate).
    conflicts = _conflicts(source, bronze, dups, dates, with_duplicates,
                           few=sum(got[t]["duplicates"] for t in with_duplicates) <= FEW_DUPLICATES
                           ) if with_duplicates else {}
    prof = Profile(K.RECONCILIATION, {}, {})
    for tag, r in got.items():
        found, samples = conflicts.get(tag, (0, []))
        prof.rows[tag] = r["received"]
        prof.values[tag] = {RECEIVED: float(r["received"] - r["in_silver"] - r["quarantined"]),
                            QUARANTINE_EXACT: float(r["quarantined"] - r["invalid"]),
                            DUPLICATES_AGREE: float(found)}
        prof.notes[(DUPLICATES_AGREE, tag)] = f"duplicates {r['duplicates']:,}, with other contents {found:,}"
        prof.given_samples[(DUPLICATES_AGREE, tag)] = samples
        prof.notes[(RECEIVED, tag)] = (f"received {r['received']:,}, in silver {r['in_silver']:,}, "
                                       f"quarantined {r['quarantined']:,}")
        prof.notes[(QUARANTINE_EXACT, tag)] = f"invalid {r['invalid']:,}, quarantine rows {r['quarantined']:,}"
        prof.given_samples[(RECEIVED, tag)] = [json.dumps({"missing_from_silver": m}) for m in r["missing"]]
    return prof


def _quarantined(spark: SparkSession, cfg: Config, source: Source, batch_rows: DataFrame) -> DataFrame | None:
    """driver-side: ``source``'s quarantine rows per ``origin`` (``_q``) written by the batches
    of ``batch_rows`` (their bronze rows); None without a quarantine table or rows.

    A quarantine row carries its bronze row's ``ingested_at``, so only the batches' span of
    ingestion is read (its ``ingest_date`` partitions, files skipped on ``ingested_at``), not
    the whole quarantine, which grows with every batch a running pipeline ingests.
    """
    quarantine = read_table(spark, cfg, tables.QUARANTINE)
    if quarantine is None:
        return None
    micros = F.unix_micros("ingested_at")
    first, last = batch_rows.agg(F.min(micros), F.max(micros)).first()  # driver-side: two values
    if first is None:
        return None
    since, until = F.timestamp_micros(F.lit(first)), F.timestamp_micros(F.lit(last))
    return quarantine.where(
        (F.col("source") == source.name) & F.col("ingest_date").between(F.to_date(since), F.to_date(until))
        & F.col("ingested_at").between(since, until)).groupBy("origin").agg(F.count(F.lit(1)).alias("_q"))


def with_silver_ids(rows: DataFrame, ids: DataFrame, *, probe: bool) -> DataFrame:
    """``rows`` (a batch's, by ``_id``) left-joined with silver's ``ids`` (``_id``,
    ``_kept_origin``, ``_in_silver``).

    Silver's side is never broadcast: a running pipeline's day grows with every batch, and
    Spark, estimating it from its compressed files, broadcast its ids until the driver ran
    out of memory. With ``probe`` (``rows`` are at most
    :data:`~advertisex.io.lake.PROBE_BATCH_ROWS`) silver is first probed with the batch's ids
    (:func:`~advertisex.io.lake.among`), so only the ids found are shuffled for the join, not
    the whole day's.
    """
    if probe:
        ids = among(ids, rows.select("_id").distinct(), "_id")
    return rows.join(ids.hint("merge"), "_id", "left")


def _count(spark: SparkSession, cfg: Config, source: Source, rows: DataFrame, quarantined: DataFrame | None,
           where: str | None, *, probe: bool) -> tuple[dict[str, dict], DataFrame]:
    """driver-side: per batch of ``rows``: received, invalid, valid found in silver (restricted
    to ``where``), duplicates, quarantine rows of their origins (``quarantined``:
    :func:`_quarantined`) and up to 3 missing ids; and the duplicates themselves
    (``ingest_batch``, ``_id``, ``origin``, ``_kept_origin``, ``_n``: rows).

    One pass over the join: it is grouped by batch and, for a duplicate, by the duplicate too,
    so the duplicates come out of the same pass as the counts (the grouped rows are kept for
    both: the batches' rows plus one per duplicate). ``probe``: see :func:`with_silver_ids`.
    """
    ids = _silver_ids(spark, cfg, source, where)
    joined = rows.withColumn("_in_silver", F.lit(None).cast("boolean")).withColumn(
        "_kept_origin", F.lit(None).cast("string")) if ids is None else with_silver_ids(rows, ids, probe=probe)
    if quarantined is not None:
        joined = joined.join(quarantined, "origin", "left")
    else:
        joined = joined.withColumn("_q", F.lit(0))
    valid_in_silver = ~F.col("_bad") & F.col("_in_silver")
    duplicate = valid_in_silver & (F.col("origin") != F.col("_kept_origin"))
    missing = ~F.col("_bad") & F.col("_in_silver").isNull()
    grouped = joined.groupBy(
        "ingest_batch", F.when(duplicate, F.struct("_id", "origin", "_kept_origin")).alias("_duplicate")).agg(
        F.count(F.lit(1)).alias("received"), F.count_if("_bad").alias("invalid"),
        F.count_if(valid_in_silver).alias("in_silver"), F.coalesce(F.sum("_q"), F.lit(0)).alias("quarantined"),
        F.count_if(duplicate).alias("duplicates"),
        F.slice(F.collect_list(F.when(missing, F.coalesce("_id", "origin"))), 1, 3).alias("missing"),
    ).localCheckpoint()
    got = grouped.groupBy("ingest_batch").agg(
        *(F.sum(c).alias(c) for c in ("received", "invalid", "in_silver", "quarantined", "duplicates")),
        F.slice(F.flatten(F.collect_list("missing")), 1, 3).alias("missing"),
    ).collect()  # driver-side: one row per batch
    dups = grouped.where(F.col("_duplicate").isNotNull()).select("ingest_batch", "_duplicate.*",
                                                                  F.col("duplicates").alias("_n"))
    return {r.ingest_batch: r.asDict() for r in got}, dups


def _conflicts(source: Source, bronze: DataFrame, dups: DataFrame, dates: set[dt.date], batches: list[str], *,
               few: bool = False) -> dict[str, tuple[int, list[str]]]:
    """driver-side: per batch, the duplicates ``dups`` (:func:`_count`; all of ``batches``) whose kept
    record (looked for on ``dates``, the batches' event dates) has other contents, and up to 3
    samples (the id and both origins). Both records' contents come from one scan of bronze's
    ``origin`` and contents columns, joined with the origins wanted; ``few``: the duplicates are
    few (:data:`FEW_DUPLICATES`), so those origins are broadcast instead of shuffled with bronze."""
    wanted = dups.select(F.col("origin").alias("_o")).union(dups.select(F.col("_kept_origin").alias("_o"))).distinct()
    scanned = bronze.where(F.expr(dates_in("event_date", dates)) | F.col("ingest_batch").isin(batches)) if dates else (
        bronze)
    contents = scanned.select(F.col("origin").alias("_o"), F.struct(*source.contents).alias("_c")).join(
        F.broadcast(wanted) if few else wanted, "_o").localCheckpoint()
    mine = contents.select(F.col("_o").alias("origin"), F.col("_c").alias("_contents"))
    kept = contents.select(F.col("_o").alias("_kept_origin"), F.col("_c").alias("_kept_contents"))
    differ = dups.join(mine, "origin").join(kept, "_kept_origin").where(
        ~F.col("_contents").eqNullSafe(F.col("_kept_contents")))
    sample = F.to_json(F.struct(F.col("_id").alias("id"), F.col("origin").alias("origin"),
                                F.col("_kept_origin").alias("kept")))
    per_batch = differ.groupBy("ingest_batch").agg(F.sum("_n").alias("n"),
                                                  F.slice(F.collect_list(sample), 1, 3).alias("samples"))
    got = per_batch.collect()  # driver-side: one row per batch with conflicts
    return {r.ingest_batch: (r.n, list(r.samples)) for r in got}
