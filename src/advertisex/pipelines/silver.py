"""Silver: valid bronze rows → normalised, de-duplicated, enriched, attributed tables.

Three jobs, run in this order by ``pipeline --once``:

* ``reference`` — ``reference.campaigns`` / ``reference.users`` CSVs → SCD-2 dimensions
  ``silver/dim_campaigns`` and ``silver/dim_users`` (a changed row closes its old version
  at load time, so events keep the attributes valid at their event time).
* ``silver`` — incremental from bronze: one Delta-source stream per bronze table
  (``availableNow``, own checkpoint) whose ``foreachBatch`` normalises the batch's valid
  rows, de-duplicates them by event id and appends the ids silver does not hold yet
  (:func:`insert_new`: a duplicate from another file, batch or restart counts once, and
  a replayed batch is skipped by its Delta transaction id). Each batch also records the
  event dates it touched in ``_pipeline/dirty``. Then attribution is recomputed for
  exactly the click and conversion dates those new events can change (CONTRACT §3
  windows), and the gold dates to recompute are recorded for the gold job.
* ``gold`` (see :mod:`advertisex.pipelines.gold`).

Late data: an impression that arrives after its clicks marks its own date and the next
``click_window`` of dates dirty, so those clicks are re-attributed in the same run; a
click naming it by ``impression_id`` is found by id, whatever its date. After all input
is processed the tables equal the batch definition.

Crash safety: every step can be repeated. The dirty-date rows are deleted only after the
step that consumes them has committed; a crash in between repeats that step, which
rewrites the same partitions with the same content.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import contract as C
from advertisex.config import Config
from advertisex.errors import InputPathError
from advertisex.io.delta import idempotent_append, is_delta, table_options
from advertisex.pipelines.bronze import hadoop_path, require_path, run_stream, txn_app_id
from advertisex.transforms import attribution as A
from advertisex.transforms import gold as G
from advertisex.transforms import silver as S

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

DIM_CAMPAIGNS = "silver/dim_campaigns"
DIM_USERS = "silver/dim_users"
DIRTY = "_pipeline/dirty"

STAGE_ATTRIBUTION = "attribution"
STAGE_GOLD_CAMPAIGN = "gold_campaign"
STAGE_GOLD_BID = "gold_bid"
DIRTY_SCHEMA = "token string, stage string, source string, event_date date"

CLICK_ATTRIBUTION_NULLS = {
    "attributed_impression_id": "string",
    "attribution_kind": "string",
    "attribution_lag_ms": "long",
}
CONVERSION_ATTRIBUTION_NULLS = {
    "attributed_click_id": "string",
    "attributed_impression_id": "string",
    "attribution_kind": "string",
    "attribution_lag_ms": "long",
}


# --------------------------------------------------------------------------- helpers


def read_table(spark: SparkSession, cfg: Config, table: str) -> DataFrame | None:
    """The Delta table at ``lake.root/table``, or None when it does not exist yet."""
    path = cfg.table_path(table)
    return spark.read.format("delta").load(path) if is_delta(spark, path) else None


def dates_in(column: str, dates: Iterable[dt.date]) -> str:
    """SQL predicate ``column IN (DATE'…', …)`` (``false`` for no dates)."""
    items = sorted(set(dates))
    if not items:
        return "false"
    return f"{column} IN ({', '.join(f'DATE{d.isoformat()!r}' for d in items)})"


def distinct_dates(df: DataFrame, column: str = "event_date") -> set[dt.date]:
    """driver-side: the (few) distinct dates of a batch, to name the partitions it touches."""
    return {r[0] for r in df.select(column).distinct().collect() if r[0] is not None}  # driver-side: dates


def replace_partitions(df: DataFrame, cfg: Config, table: str, dates: Iterable[dt.date],
                       partition_by: str = "event_date") -> None:
    """Overwrite exactly the ``dates`` partitions of ``table`` with ``df`` (Delta ``replaceWhere``)."""
    dates = set(dates)
    if not dates:
        return
    (
        df.write.format("delta")
        .mode("overwrite")
        .options(**table_options(table))
        .option("replaceWhere", dates_in(partition_by, dates))
        .partitionBy(partition_by)
        .save(cfg.table_path(table))
    )


def record_dirty(spark: SparkSession, cfg: Config, rows: Iterable[tuple[str, str, dt.date]], *,
                 app_id: str | None = None, version: int | None = None) -> None:
    """Append ``(stage, source, event_date)`` rows to ``_pipeline/dirty`` under one token."""
    token = uuid.uuid4().hex
    data = [(token, stage, source, d) for stage, source, d in rows]
    if not data:
        return
    df = spark.createDataFrame(data, DIRTY_SCHEMA)
    if app_id is not None and version is not None:
        idempotent_append(df, cfg.table_path(DIRTY), app_id=app_id, version=version)
    else:
        df.write.format("delta").mode("append").save(cfg.table_path(DIRTY))


def take_dirty(spark: SparkSession, cfg: Config, stages: Iterable[str]) -> tuple[dict[tuple[str, str], set[dt.date]], list[str]]:
    """driver-side: the dirty dates recorded for ``stages`` as ``{(stage, source): dates}`` and their tokens."""
    table = read_table(spark, cfg, DIRTY)
    if table is None:
        return {}, []
    rows = table.where(F.col("stage").isin(*stages)).collect()  # driver-side: (stage, source, date) rows
    out: dict[tuple[str, str], set[dt.date]] = {}
    for r in rows:
        out.setdefault((r.stage, r.source), set()).add(r.event_date)
    return out, sorted({r.token for r in rows})


def clear_dirty(spark: SparkSession, cfg: Config, stages: Iterable[str], tokens: list[str]) -> None:
    """Delete the consumed dirty rows (by token) once the consuming step has committed."""
    if not tokens:
        return
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, cfg.table_path(DIRTY)).delete(
        F.col("stage").isin(*stages) & F.col("token").isin(*tokens)
    )


# A batch up to this many rows counts as small for :func:`insert_new` (its ids are broadcast).
SMALL_BATCH_ROWS = 100_000


def is_small(df: DataFrame) -> bool:
    """driver-side: whether ``df`` has at most :data:`SMALL_BATCH_ROWS` rows (each task stops
    reading one row past that)."""
    return df.select(F.lit(1)).limit(SMALL_BATCH_ROWS + 1).count() <= SMALL_BATCH_ROWS


def insert_new(df: DataFrame, cfg: Config, table: str, key: str, *, app_id: str, version: int,
               small: bool = False) -> None:
    """Append the rows of ``df`` whose ``key`` is not yet in ``table`` (partitioned by ``event_date``),
    once per ``(app_id, version)``.

    An anti-join against the table's keys and an idempotent append: a replayed batch is
    skipped by Delta's ``txnAppId``/``txnVersion``, and an id already in silver (from
    another file, batch or restart) is not inserted again. This assumes one writer per
    silver table (its silver stream); unlike a MERGE, two writers inserting the same new
    id at once would not conflict. An append also commits in a fraction of a MERGE's time
    (no touched-file bookkeeping), which is most of a small late batch's cost.

    ``small`` (the caller knows ``df`` is small, :func:`is_small`): the batch's ids are
    broadcast and the table's key column is probed with them in one scan, and only the ids
    found there are anti-joined. Otherwise Spark joins the whole key column of the table
    with the batch, which for a big table means a broadcast or a shuffle of all its ids.
    """
    spark = df.sparkSession
    path = cfg.table_path(table)
    if is_delta(spark, path):
        existing = spark.read.format("delta").load(path).select(key)
        if small:
            existing = existing.join(F.broadcast(df.select(key).distinct()), key, "left_semi")
            df = df.join(F.broadcast(existing), key, "left_anti").select(*df.columns)
        else:
            df = df.join(existing, key, "left_anti").select(*df.columns)
    idempotent_append(df, path, app_id=app_id, version=version, partition_by=["event_date"],
                      options=table_options(table))


def with_nulls(df: DataFrame, columns: dict[str, str]) -> DataFrame:
    for name, typ in columns.items():
        df = df.withColumn(name, F.lit(None).cast(typ))
    return df


# --------------------------------------------------------------------------- reference


def _read_reference_csv(spark: SparkSession, path: str) -> DataFrame:
    # RFC 4180: a quote inside a quoted field is doubled (Spark defaults to backslash escapes).
    return (
        spark.read.option("header", "true").option("inferSchema", "false").option("escape", "\"")
        .option("multiLine", "true").csv(path)
    )


FINGERPRINT_PREFIX = "advertisex.reference.fingerprint="


def files_fingerprint(spark: SparkSession, path: str) -> str:
    """driver-side: a SHA-256 over (path, size, modification time) of every file under ``path``
    (any Hadoop file system), so an untouched reference folder is recognised without reading it."""
    import hashlib

    fs, hpath = hadoop_path(spark, path)
    entries = []
    files = fs.listFiles(hpath, True)
    while files.hasNext():
        st = files.next()
        entries.append(f"{st.getPath().toString()}\t{st.getLen()}\t{st.getModificationTime()}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def _last_fingerprint(spark: SparkSession, path: str) -> str | None:
    """The reference fingerprint recorded with the dimension's latest commit (``userMetadata``)."""
    meta = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first().userMetadata or ""
    return meta.removeprefix(FINGERPRINT_PREFIX) if meta.startswith(FINGERPRINT_PREFIX) else None


def refresh_dimension(spark: SparkSession, cfg: Config, table: str, source: str, what: str,
                      to_snapshot, key: str) -> str:
    """Apply the reference snapshot at ``source`` to an SCD-2 dimension; returns what happened.

    Every commit to the dimension carries the fingerprint of the files it was loaded from
    (Delta ``userMetadata``). When the files are untouched since, the job stops there:
    nothing is read and nothing is written. When they were touched but hold the same rows,
    the same rows are committed again with the new fingerprint (content unchanged).
    Replace a reference file by writing it: an edit that keeps both its size and its
    modification time is not seen.
    """
    require_path(spark, source, what)
    fingerprint = files_fingerprint(spark, source)
    path = cfg.table_path(table)
    meta = {"userMetadata": FINGERPRINT_PREFIX + fingerprint}
    exists = is_delta(spark, path)
    if exists and _last_fingerprint(spark, path) == fingerprint:
        return "unchanged"
    snapshot = to_snapshot(_read_reference_csv(spark, source))
    if not exists:
        S.scd2_initial(snapshot).write.format("delta").mode("overwrite").options(**meta).save(path)
        return "created"
    current = spark.read.format("delta").load(path)
    load_time = dt.datetime.now(dt.UTC)
    changes = S.scd2_changes(current, snapshot, key=key, load_time=load_time)
    if changes.to_close.isEmpty() and changes.to_insert.isEmpty():
        # Delta commits nothing for an empty append: the same rows are written again instead.
        current.localCheckpoint().write.format("delta").mode("overwrite").options(**meta).save(path)
        return "unchanged"
    S.scd2_apply(current, snapshot, key=key, load_time=load_time).localCheckpoint().write.format("delta").mode(
        "overwrite"
    ).options(**meta).save(path)
    return "updated"


def run_reference(spark: SparkSession, cfg: Config, **_: Any) -> dict[str, Any]:
    """The ``reference`` job: refresh both SCD-2 dimensions from the reference CSVs."""
    require_path(spark, cfg.reference.campaigns, "reference.campaigns")
    require_path(spark, cfg.reference.users, "reference.users")
    return {
        "dim_campaigns": refresh_dimension(spark, cfg, DIM_CAMPAIGNS, cfg.reference.campaigns,
                                           "reference.campaigns", S.reference_campaigns, "campaign_id"),
        "dim_users": refresh_dimension(spark, cfg, DIM_USERS, cfg.reference.users, "reference.users",
                                       S.reference_users, "user_id"),
    }


def _dims(spark: SparkSession, cfg: Config) -> tuple[DataFrame, DataFrame]:
    campaigns = read_table(spark, cfg, DIM_CAMPAIGNS)
    users = read_table(spark, cfg, DIM_USERS)
    if campaigns is None or users is None:
        raise InputPathError(
            f"reference dimensions missing under {cfg.lake.root}/silver: run the `reference` job first"
        )
    return campaigns, users


def _valid(batch: DataFrame, to_silver) -> DataFrame:
    """A bronze batch's valid rows in silver shape (normalised, not yet de-duplicated)."""
    return to_silver(batch.where(F.col("quarantine_reason").isNull()))


def _silver_rows(batch: DataFrame, cfg: Config, to_silver, key: str) -> DataFrame:
    """A bronze batch's valid rows → silver rows: normalised, one per ``key``, enriched as of
    event time. Not materialised: the insert reads it once, and what the dirty-date scans
    need comes from :func:`_silver_keys` (a few cheap columns read again from bronze)."""
    campaigns, users = _dims(batch.sparkSession, cfg)
    return (
        _valid(batch, to_silver)
        .transform(S.dedupe(key))
        .transform(lambda d: S.enrich_user(S.enrich_campaign(d, campaigns), users))
    )


def _silver_keys(batch: DataFrame, to_silver, *columns: str) -> DataFrame:
    """``columns`` (ids, ``event_date``) of a bronze batch's valid rows as silver has them;
    column pruning reads and normalises only those."""
    return _valid(batch, to_silver).select(*columns)


# --------------------------------------------------------------------------- bronze → silver batches


def _impressions_batch(cfg: Config, app_id: str):
    def fn(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        insert_new(_silver_rows(batch, cfg, S.silver_impressions, "impression_id"), cfg, C.SILVER_IMPRESSIONS,
                   "impression_id", app_id=app_id, version=batch_id, small=is_small(batch))
        keys = _silver_keys(batch, S.silver_impressions, "impression_id", "event_date", "bid_request_id")
        dirty = [(STAGE_ATTRIBUTION, "impressions", d) for d in distinct_dates(keys)]
        # Clicks that name one of these impressions (of any date) must be re-attributed.
        clicks = read_table(spark, cfg, C.SILVER_CLICKS)
        if clicks is not None:
            named = clicks.join(keys.select("impression_id").distinct(), "impression_id", "left_semi")
            dirty += [(STAGE_ATTRIBUTION, "clicks", d) for d in distinct_dates(named)]
        # bid_daily counts impressions on their bid request's date.
        bids = read_table(spark, cfg, C.SILVER_BID_REQUESTS)
        if bids is not None:
            touched = G.bid_dates_of_impressions(keys.where(F.col("bid_request_id").isNotNull()), bids)
            dirty += [(STAGE_GOLD_BID, "impressions", d) for d in distinct_dates(touched)]
        record_dirty(spark, cfg, dirty, app_id=app_id, version=batch_id)

    return fn


def _click_events_batch(cfg: Config, app_id: str):
    def fn(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        events = _silver_rows(batch, cfg, S.silver_click_events, "event_id").localCheckpoint()  # small; read twice
        clicks, conversions = S.split_clicks_conversions(events)
        small = is_small(events)
        insert_new(with_nulls(clicks, CLICK_ATTRIBUTION_NULLS), cfg, C.SILVER_CLICKS, "event_id",
                   app_id=app_id, version=batch_id, small=small)
        insert_new(with_nulls(conversions, CONVERSION_ATTRIBUTION_NULLS), cfg, C.SILVER_CONVERSIONS, "event_id",
                   app_id=app_id, version=batch_id, small=small)
        dirty = [(STAGE_ATTRIBUTION, "clicks", d) for d in distinct_dates(clicks)]
        dirty += [(STAGE_ATTRIBUTION, "conversions", d) for d in distinct_dates(conversions)]
        record_dirty(spark, cfg, dirty, app_id=app_id, version=batch_id)

    return fn


def _bid_requests_batch(cfg: Config, app_id: str):
    def fn(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        insert_new(_silver_rows(batch, cfg, S.silver_bid_requests, "bid_request_id"), cfg, C.SILVER_BID_REQUESTS,
                   "bid_request_id", app_id=app_id, version=batch_id, small=is_small(batch))
        keys = _silver_keys(batch, S.silver_bid_requests, "event_date")
        dirty = [(STAGE_GOLD_BID, "bid_requests", d) for d in distinct_dates(keys)]
        record_dirty(spark, cfg, dirty, app_id=app_id, version=batch_id)

    return fn


# Bronze columns silver does not read (the raw record and its transport/file origin details;
# the summary ``origin`` string is kept).
BRONZE_ONLY_COLUMNS = (
    "raw", "event_time_raw", "magic_byte", "kafka_key", "kafka_topic", "kafka_partition", "kafka_offset",
    "kafka_timestamp", "source_file", "source_line", "ingest_batch",
)

SILVER_STREAMS = (
    ("impressions", C.BRONZE_IMPRESSIONS, _impressions_batch),
    ("click_events", C.BRONZE_CLICK_EVENTS, _click_events_batch),
    ("bid_requests", C.BRONZE_BID_REQUESTS, _bid_requests_batch),
)


# --------------------------------------------------------------------------- attribution


def reattribute(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Re-attribute the clicks and conversions of every date the new events can change."""
    dirty, tokens = take_dirty(spark, cfg, [STAGE_ATTRIBUTION])
    if not tokens:
        return {"click_dates": 0, "conversion_dates": 0}
    a = cfg.attribution
    windows = {
        "click_window_minutes": a.click_window_minutes,
        "conversion_window_days": a.conversion_window_days,
        "view_through_window_hours": a.view_through_window_hours,
    }
    imp_dates = dirty.get((STAGE_ATTRIBUTION, "impressions"), set())
    affected = G.affected_dates(
        impression_dates=imp_dates,
        click_dates=dirty.get((STAGE_ATTRIBUTION, "clicks"), set()),
        conversion_dates=dirty.get((STAGE_ATTRIBUTION, "conversions"), set()),
        **windows,
    )
    impressions = read_table(spark, cfg, C.SILVER_IMPRESSIONS)
    clicks_table = read_table(spark, cfg, C.SILVER_CLICKS)
    conversions_table = read_table(spark, cfg, C.SILVER_CONVERSIONS)
    imp_cols = ["impression_id", "event_time", "event_date", "user_id", "campaign_id"]
    if impressions is None:
        impressions = spark.createDataFrame(
            [], "impression_id string, event_time timestamp, event_date date, user_id string, campaign_id string"
        )
    impressions = impressions.select(*imp_cols)

    click_dates = set(affected.clicks)
    if clicks_table is not None:
        click_dates &= distinct_dates(clicks_table.select("event_date"))
        needs = G.input_dates(click_dates=click_dates, **windows)
        clicks = clicks_table.where(dates_in("event_date", click_dates))
        window_imps = impressions.where(dates_in("event_date", needs.impressions))
        # Impressions named by a click but outside the window dates (silver holds one row per
        # impression_id, so the union has no duplicates).
        named_imps = impressions.where(f"NOT ({dates_in('event_date', needs.impressions)})").join(
            clicks.select("impression_id").where(F.col("impression_id").isNotNull()).distinct(),
            "impression_id",
            "left_semi",
        )
        candidates = window_imps.unionByName(named_imps)
        attributed = A.attribute_clicks(clicks, candidates, click_window_minutes=a.click_window_minutes)
        replace_partitions(attributed.select(*clicks_table.columns).localCheckpoint(), cfg, C.SILVER_CLICKS,
                           click_dates)

    conversion_dates = set(affected.conversions)
    if conversions_table is not None:
        conversion_dates &= distinct_dates(conversions_table.select("event_date"))
        needs = G.input_dates(conversion_dates=conversion_dates, **windows)
        conversions = conversions_table.where(dates_in("event_date", conversion_dates))
        clicks_now = read_table(spark, cfg, C.SILVER_CLICKS)
        if clicks_now is None:
            clicks_now = with_nulls(
                spark.createDataFrame([], "event_id string, event_time timestamp, event_date date, "
                                          "user_id string, campaign_id string, impression_id string"),
                CLICK_ATTRIBUTION_NULLS,
            )
        attributed = A.attribute_conversions(
            conversions,
            clicks_now.where(dates_in("event_date", needs.clicks)),
            impressions.where(dates_in("event_date", needs.impressions)),
            conversion_window_days=a.conversion_window_days,
            view_through_window_hours=a.view_through_window_hours,
        )
        replace_partitions(attributed.select(*conversions_table.columns).localCheckpoint(), cfg,
                           C.SILVER_CONVERSIONS, conversion_dates)

    gold_dates = set(imp_dates) | click_dates | conversion_dates
    record_dirty(spark, cfg, [(STAGE_GOLD_CAMPAIGN, "silver", d) for d in gold_dates])
    clear_dirty(spark, cfg, [STAGE_ATTRIBUTION], tokens)
    return {"click_dates": len(click_dates), "conversion_dates": len(conversion_dates),
            "gold_dates_marked": len(gold_dates)}


def run_silver(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    """The ``silver`` job: insert new bronze rows into silver, then re-attribute what they change."""
    summary: dict[str, Any] = {}
    _dims(spark, cfg)  # fail early, with one line, when the reference job has not run
    job = "silver"
    for name, bronze_table, make_batch in SILVER_STREAMS:
        path = cfg.table_path(bronze_table)
        if not is_delta(spark, path):
            summary[name] = "no bronze table yet"
            continue
        # foreachBatch hands over an already-planned batch (an RDD scan, no column pruning), so
        # what silver never reads is dropped here, at the source: `raw` is half of bronze's bytes.
        source = (
            spark.readStream.format("delta").option("maxFilesPerTrigger", "1000").load(path)
            .drop(*BRONZE_ONLY_COLUMNS)
        )
        result = run_stream(source, make_batch(cfg, txn_app_id(cfg, job, name)), cfg, job=job, query=name,
                            once=True)
        summary[name] = {"batches": result["batches"], "input_rows": result["input_rows"]}
    summary["attribution"] = reattribute(spark, cfg)
    return summary
