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
  event dates it touched in ``_pipeline/dirty_dates`` (small JSON files,
  :func:`record_dirty`), and a small batch the keys of its new impressions. Then the
  clicks and conversions those new events can change are re-attributed
  (:func:`reattribute`, CONTRACT §3 windows), only partitions with a changed row are
  rewritten, and the dates whose silver rows changed are recorded for the gold job.
* ``gold`` (see :mod:`advertisex.pipelines.gold`).

Late data: an impression that arrives after its clicks marks its own date and the next
``click_window`` of dates dirty, so those clicks are re-attributed in the same run; a
click naming it by ``impression_id`` is found by id, whatever its date. After all input
is processed the tables equal the batch definition.

Crash safety: every step can be repeated. The dirty-date files are deleted only after the
step that consumes them has committed, and a step records what it hands on before it
commits; a crash in between repeats that step, which then finds nothing left to change
or rewrites the same partitions with the same content.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial, reduce
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import contract as C
from advertisex.config import Config
from advertisex.errors import InputPathError
from advertisex.io.delta import commit_metadata, idempotent_append, is_delta, table_options
from advertisex.io.fs import delete_file, hadoop_path, list_files, read_text, require_path, write_text
from advertisex.pipelines.bronze import run_stream, txn_app_id
from advertisex.pipelines.parallel import run_concurrently
from advertisex.transforms import attribution as A
from advertisex.transforms import gold as G
from advertisex.transforms import silver as S

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

DIM_CAMPAIGNS = "silver/dim_campaigns"
DIM_USERS = "silver/dim_users"
DIRTY = "_pipeline/dirty_dates"
LEGACY_DIRTY = "_pipeline/dirty"

STAGE_ATTRIBUTION = "attribution"
STAGE_CONVERSION_ATTRIBUTION = "conversion_attribution"
STAGE_GOLD_CAMPAIGN = "gold_campaign"
STAGE_GOLD_BID = "gold_bid"

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


def _dirty_folder(cfg: Config, stage: str) -> str:
    return cfg.table_path(f"{DIRTY}/{stage}")


def record_dirty(spark: SparkSession, cfg: Config, rows: Iterable[tuple[str, str, dt.date]], *,
                 app_id: str | None = None, version: int | None = None,
                 keys: Mapping[tuple[str, str], Iterable[Sequence[str | None]]] | None = None) -> None:
    """Record ``(stage, source, event_date)`` rows under one token: one small JSON file per
    stage, ``{lake}/_pipeline/dirty_dates/{stage}/{token}.json``.

    ``keys`` (optional) lists, for a ``(stage, source)``, the keys of the events behind its
    dates (e.g. the id, user and campaign of each new impression), so the consumer can
    narrow its work to what those events can change. A mark without keys for its source
    means "any event of these dates".

    These are driver-side file operations (Hadoop ``FileSystem``), not Delta commits: a
    Delta table cost a commit to record, a Spark job to read and a ``DELETE`` commit to
    clear, about 6 s of a small incremental run. A file appears whole or not at all
    (:func:`~advertisex.io.fs.write_text`). A stream batch (``app_id``, ``version``) names
    its files by them, so a replayed batch rewrites the same files with the same content.
    """
    token = f"{app_id}.{version}" if app_id is not None and version is not None else uuid.uuid4().hex
    _write_dirty(spark, cfg, token, rows, keys or {})


def _write_dirty(spark: SparkSession, cfg: Config, token: str, rows: Iterable[tuple[str, str, dt.date]],
                 keys: Mapping[tuple[str, str], Iterable[Sequence[str | None]]]) -> None:
    by_stage: dict[str, set[tuple[str, str]]] = {}
    for stage, source, d in rows:
        by_stage.setdefault(stage, set()).add((source, d.isoformat()))
    for stage, items in by_stage.items():
        doc = {
            "dates": sorted(items),
            "keys": {source: sorted((list(k) for k in ks), key=json.dumps)
                     for (st, source), ks in keys.items() if st == stage},
        }
        write_text(spark, f"{_dirty_folder(cfg, stage)}/{token}.json", json.dumps(doc))


@dataclass
class Marks:
    """Dirty-date marks taken for some stages.

    ``dates``: ``{(stage, source): dates}``. ``keys``: ``{(stage, source): keys}`` for every
    ``(stage, source)`` in ``dates``; None when some mark of it carries no keys (any event of
    its dates). ``files``: where they came from, to :func:`clear_dirty` once consumed.
    """

    dates: dict[tuple[str, str], set[dt.date]] = field(default_factory=dict)
    keys: dict[tuple[str, str], set[tuple[str | None, ...]] | None] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def dates_of(self, stage: str, source: str) -> set[dt.date]:
        return self.dates.get((stage, source), set())

    def keys_of(self, stage: str, source: str) -> set[tuple[str | None, ...]] | None:
        """The keys behind ``(stage, source)``'s dates: empty without dates, None when unknown."""
        return self.keys.get((stage, source), set())


def take_dirty(spark: SparkSession, cfg: Config, stages: Iterable[str]) -> Marks:
    """driver-side: the dirty-date marks recorded for ``stages``."""
    _migrate_legacy_dirty(spark, cfg)
    marks = Marks()
    for stage in stages:
        for path in list_files(spark, _dirty_folder(cfg, stage), ".json"):
            doc = json.loads(read_text(spark, path))
            file_keys = doc.get("keys", {})
            for source, day in doc["dates"]:
                marks.dates.setdefault((stage, source), set()).add(dt.date.fromisoformat(day))
            for source in {source for source, _ in doc["dates"]}:
                have = marks.keys.setdefault((stage, source), set())
                if have is not None and source in file_keys:
                    have.update(tuple(k) for k in file_keys[source])
                else:
                    marks.keys[(stage, source)] = None
            marks.files.append(path)
    return marks


def clear_dirty(spark: SparkSession, files: Iterable[str]) -> None:
    """Delete the consumed dirty-date files once the consuming step has committed."""
    for path in files:
        delete_file(spark, path)


def _migrate_legacy_dirty(spark: SparkSession, cfg: Config) -> None:
    """Move pending dirty dates out of the Delta table older versions kept them in
    (``_pipeline/dirty``) into files, then remove that table. Repeatable: a crash before the
    removal rewrites the same files (named by the old tokens) next time."""
    path = cfg.table_path(LEGACY_DIRTY)
    if not is_delta(spark, path):
        return
    rows = spark.read.format("delta").load(path).collect()  # driver-side: pending (token, stage, source, date) rows
    by_token: dict[str, list[tuple[str, str, dt.date]]] = {}
    for r in rows:
        by_token.setdefault(r.token, []).append((r.stage, r.source, r.event_date))
    for token, items in by_token.items():
        _write_dirty(spark, cfg, f"legacy.{token}", items, {})
    fs, hpath = hadoop_path(spark, path)
    fs.delete(hpath, True)
    log.info("moved %d pending dirty-date rows from the Delta table %s to files", len(rows), path)


# A batch up to this many rows counts as small for :func:`insert_new` (its ids are broadcast).
SMALL_BATCH_ROWS = 100_000


def count_up_to_small(df: DataFrame) -> int:
    """driver-side: the rows of ``df``, counted up to :data:`SMALL_BATCH_ROWS` + 1 (each task
    stops reading one row past that)."""
    return df.select(F.lit(1)).limit(SMALL_BATCH_ROWS + 1).count()


def is_small(df: DataFrame) -> bool:
    """driver-side: whether ``df`` has at most :data:`SMALL_BATCH_ROWS` rows."""
    return count_up_to_small(df) <= SMALL_BATCH_ROWS


# Up to this many new keys are matched as literals in the scan's filter; more are joined
# from a broadcast table (a Spark job to build it).
LITERAL_KEYS = 1000

PairKeys = Collection[tuple[str | None, str | None]]
IdKeys = Collection[str | None]


def _in_keys(columns: Sequence[str], keys: Collection[tuple[Any, ...]]) -> Column:
    """``columns`` equal one of ``keys`` (literal tuples), as an equi-join on them would
    match: a key or a row with a null part matches nothing."""
    keys = [k for k in keys if all(v is not None for v in k)]
    if not keys:
        return F.lit(False)
    if len(columns) == 1:
        return F.coalesce(F.col(columns[0]).isin([k[0] for k in keys]), F.lit(False))
    # Struct equality treats nulls as equal: rows with a null part are left out explicitly.
    not_null = reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in columns])
    row = F.struct(*[F.col(c) for c in columns])
    literals = [F.struct(*[F.lit(v).alias(c) for v, c in zip(k, columns, strict=True)]) for k in keys]
    return not_null & row.isin(literals)


def _literal(values: Collection[Any] | None) -> bool:
    """Whether ``values`` (keys the caller holds) are few enough to be matched as literals."""
    return values is not None and len(values) <= LITERAL_KEYS


def _in_ids(column: str, values: IdKeys) -> Column:
    """:func:`_in_keys` on one column."""
    return _in_keys((column,), [(v,) for v in values])


def insert_new(df: DataFrame, cfg: Config, table: str, key: str, *, app_id: str, version: int,
               small: bool = False, key_values: IdKeys | None = None,
               observe: Sequence[Column] = ()) -> dict[str, Any] | None:
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
    ``key_values`` (a small batch's keys, when the caller holds them): up to
    :data:`LITERAL_KEYS` of them filter the table's scan as literals instead.

    ``observe``: aggregate columns (e.g. ``F.collect_set("event_date")``) over the rows
    actually appended, returned by name; None for a replay (see
    :func:`~advertisex.io.delta.idempotent_append`).
    """
    spark = df.sparkSession
    path = cfg.table_path(table)
    if is_delta(spark, path):
        existing = spark.read.format("delta").load(path).select(key)
        if _literal(key_values):
            existing = existing.where(_in_ids(key, key_values))
            df = df.join(F.broadcast(existing), key, "left_anti").select(*df.columns)
        elif small:
            existing = existing.join(F.broadcast(df.select(key).distinct()), key, "left_semi")
            df = df.join(F.broadcast(existing), key, "left_anti").select(*df.columns)
        else:
            df = df.join(existing, key, "left_anti").select(*df.columns)
    return idempotent_append(df, path, app_id=app_id, version=version, partition_by=["event_date"],
                             options=table_options(table), observe=observe)


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
    if exists and commit_metadata(spark, path, FINGERPRINT_PREFIX) == fingerprint:
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

IMPRESSION_KEY_COLUMNS = ("impression_id", "event_date", "bid_request_id", "user_id", "campaign_id")


def named_click_dates(clicks: DataFrame, ids: DataFrame, *, small: bool,
                      id_values: IdKeys | None = None) -> set[dt.date]:
    """driver-side: the dates of the silver ``clicks`` that name one of ``ids`` (new impressions)
    and are waiting for it: attributed, but not by their ``impression_id``.

    A click attributed by its ``impression_id`` keeps that attribution: silver holds one row
    per impression id, so no later batch brings that impression again. A click not
    attributed yet (inserted since the last re-attribution, e.g. by the click stream running
    beside this one) is re-attributed anyway: its own batch marked its date. Only the others
    can change, and they are usually few, often none. A ``small`` batch broadcasts its ids
    into a scan of those clicks; a big one is scanned once against those clicks broadcast
    (when at most :data:`SMALL_BATCH_ROWS`), or not at all when no click waits, instead of
    shuffling and de-duplicating all its ids. ``id_values``: the same ids, when the caller
    holds them; up to :data:`LITERAL_KEYS` of them filter the scan as literals.
    """
    kind = F.col("attribution_kind")
    waiting = clicks.where(
        F.col("impression_id").isNotNull() & kind.isNotNull() & (kind != C.ATTRIBUTION_IMPRESSION_ID)
    ).select("impression_id", "event_date")
    if _literal(id_values):
        named = waiting.where(_in_ids("impression_id", id_values))
    elif small:
        named = waiting.join(F.broadcast(ids.distinct()), "impression_id", "left_semi")
    else:
        count = count_up_to_small(waiting)
        if count == 0:
            return set()
        if count <= SMALL_BATCH_ROWS:
            named = ids.join(F.broadcast(waiting), "impression_id", "inner").select("event_date")
        else:
            named = waiting.join(ids, "impression_id", "left_semi")
    return distinct_dates(named)


def _impressions_batch(cfg: Config, app_id: str):
    def fn(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        small = is_small(batch)
        keys = _silver_keys(batch, S.silver_impressions, *IMPRESSION_KEY_COLUMNS)
        # A small batch's keys: the insert probes silver with its ids, attribution narrows its work to them.
        rows = keys.collect() if small else []  # driver-side: ≤ SMALL_BATCH_ROWS short rows
        ids = {r.impression_id for r in rows} if small else None
        # A big batch's dates are observed on the rows it inserts (a small one collected its keys).
        observed = insert_new(_silver_rows(batch, cfg, S.silver_impressions, "impression_id"), cfg,
                              C.SILVER_IMPRESSIONS, "impression_id", app_id=app_id, version=batch_id, small=small,
                              key_values=ids,
                              observe=() if small else (F.collect_set("event_date").alias("dates"),))
        marked_keys = {}
        if small:
            dates = {r.event_date for r in rows if r.event_date is not None}
            marked_keys[(STAGE_ATTRIBUTION, "impressions")] = {(r.impression_id, r.user_id, r.campaign_id)
                                                               for r in rows}
            keys = spark.createDataFrame(rows, keys.schema)
        elif observed is not None:
            dates = set(observed["dates"])  # the new rows' dates (duplicates of silver rows change nothing)
        else:
            dates = distinct_dates(keys)  # a replayed batch: its write ran nothing to observe
        dirty = [(STAGE_ATTRIBUTION, "impressions", d) for d in dates]
        # Clicks that name one of these impressions (of any date) must be re-attributed.
        clicks = read_table(spark, cfg, C.SILVER_CLICKS)
        if clicks is not None:
            named = named_click_dates(clicks, keys.select("impression_id"), small=small, id_values=ids)
            dirty += [(STAGE_ATTRIBUTION, "clicks", d) for d in named]
        # bid_daily counts impressions on their bid request's date.
        bids = read_table(spark, cfg, C.SILVER_BID_REQUESTS)
        if bids is not None:
            touched = G.bid_dates_of_impressions(keys.where(F.col("bid_request_id").isNotNull()), bids)
            dirty += [(STAGE_GOLD_BID, "impressions", d) for d in distinct_dates(touched)]
        record_dirty(spark, cfg, dirty, app_id=app_id, version=batch_id, keys=marked_keys)

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


def _flag(df: DataFrame, pairs: PairKeys | None, ids: IdKeys | None) -> tuple[DataFrame, Column]:
    """``df`` and the condition "this row may be changed by the new events": not attributed
    yet (new), or sharing its user and campaign with a new event (``pairs``), or naming a new
    impression (``ids``). Key sets up to :data:`LITERAL_KEYS` are matched as literals; bigger
    ones are joined to ``df`` as ``_pair``/``_id`` flags (broadcast left joins on the
    distinct keys)."""
    spark = df.sparkSession
    cond = F.col("attribution_kind").isNull()
    if pairs:
        if _literal(pairs):
            cond = cond | _in_keys(A.MATCH_KEYS, pairs)
        else:
            table = spark.createDataFrame(list(set(pairs)), "user_id string, campaign_id string")
            df = df.join(F.broadcast(table.withColumn("_pair", F.lit(True))), list(A.MATCH_KEYS), "left")
            cond = cond | F.coalesce(F.col("_pair"), F.lit(False))
    if ids:
        if _literal(ids):
            cond = cond | _in_ids("impression_id", ids)
        else:
            table = spark.createDataFrame([(i,) for i in set(ids)], "impression_id string")
            df = df.join(F.broadcast(table.withColumn("_id", F.lit(True))), "impression_id", "left")
            cond = cond | F.coalesce(F.col("_id"), F.lit(False))
    return df, cond


@dataclass
class Reattributed:
    """What :func:`_reattribute_table` found.

    ``done``: the re-attributed rows with a ``_changed`` flag (local checkpoint). ``rest``:
    the rows left as they are (not read yet; None when every row was re-attributed).
    ``changed_dates``: the dates with a changed row. ``changed_keys``: the changed rows'
    ``(event_date, user_id, campaign_id)``, None when more than :data:`SMALL_BATCH_ROWS`.
    """

    done: DataFrame
    rest: DataFrame | None
    changed_dates: set[dt.date]
    changed_keys: list[tuple[Any, ...]] | None


def _reattribute_table(stored: DataFrame, columns: tuple[str, ...], attribute, *, pairs: PairKeys | None,
                       ids: IdKeys | None, narrow: bool) -> Reattributed:
    """Re-attribute ``stored`` (some dates of a silver table) with ``attribute(rows, small)``
    and find the rows whose ``columns`` (the attribution) changed.

    With ``narrow``, only the rows :func:`_flag` picks are re-attributed (the others
    cannot change); otherwise every row.
    """
    cols = stored.columns
    rest = None
    if narrow:
        flagged, marked = _flag(stored, pairs, ids)
        candidates = flagged.where(marked).select(*cols)
        rest = flagged.where(~marked).select(*cols)
    else:
        candidates = stored
    # The attribution plan reads its input several times (ids, keys, rows); materialised once,
    # the Delta scan and its file listing run once instead of once per use.
    candidates = candidates.localCheckpoint()
    if candidates.isEmpty():
        # Nothing the new events can change (e.g. a late impression nobody clicked): the
        # attribution plan, which scans the window's impressions, need not run at all.
        return Reattributed(candidates.withColumn("_changed", F.lit(False)), rest, set(), [])
    small = is_small(candidates)
    old = candidates.select("*", *[F.col(c).alias(f"_old_{c}") for c in columns])
    changed = F.lit(False)
    for c in columns:
        changed = changed | ~F.col(c).eqNullSafe(F.col(f"_old_{c}"))
    done = attribute(old, small).select(*cols, changed.alias("_changed")).localCheckpoint()
    changed_rows = done.where("_changed")
    keys = [tuple(r) for r in changed_rows.select("event_date", *A.MATCH_KEYS).distinct()
            .limit(SMALL_BATCH_ROWS + 1).collect()]  # driver-side: at most SMALL_BATCH_ROWS + 1 keys
    if len(keys) > SMALL_BATCH_ROWS:
        return Reattributed(done, rest, distinct_dates(changed_rows), None)
    return Reattributed(done, rest, {k[0] for k in keys}, keys)


def _write_changed(cfg: Config, table: str, found: Reattributed) -> None:
    """Rewrite the partitions of ``table`` with a changed row: the re-attributed rows plus
    the rows left as they are."""
    out = found.done.drop("_changed")
    if found.rest is not None:
        out = out.unionByName(found.rest)
    dates = found.changed_dates
    replace_partitions(out.where(dates_in("event_date", dates)), cfg, table, dates)


def reattribute(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Re-attribute the clicks and conversions that new events can change, and mark for gold
    the dates whose silver rows changed.

    Change-driven: new impressions can change the clicks of their dates (and the click
    window after) that share their user and campaign or name them, and the conversions of
    their dates (and the view-through window after) that share their user and campaign.
    New clicks and conversions (not attributed yet) are attributed. A click whose
    attribution changed can change the conversions of its user and campaign in the
    conversion window after it. Only rows whose attribution changed make their date
    partition be rewritten and their date marked for gold (plus the new impressions' own
    dates). When the new impressions' keys are not known (a big batch), every row of the
    dates is re-attributed, and the same comparison still finds what changed.

    Crash safety: the marks a step hands on (changed clicks → conversions; changed dates →
    gold) are recorded before that step commits, and the marks it consumed are cleared only
    at the end; a repeated step finds nothing changed and commits nothing.
    """
    marks = take_dirty(spark, cfg, [STAGE_ATTRIBUTION])
    if not marks.files and not take_dirty(spark, cfg, [STAGE_CONVERSION_ATTRIBUTION]).files:
        return {"click_dates": 0, "conversion_dates": 0}
    a = cfg.attribution
    windows = {
        "click_window_minutes": a.click_window_minutes,
        "conversion_window_days": a.conversion_window_days,
        "view_through_window_hours": a.view_through_window_hours,
    }
    imp_dates = marks.dates_of(STAGE_ATTRIBUTION, "impressions")
    # New impressions count in gold on their own dates.
    record_dirty(spark, cfg, [(STAGE_GOLD_CAMPAIGN, "impressions", d) for d in imp_dates])
    new_imps = marks.keys_of(STAGE_ATTRIBUTION, "impressions")  # None: unknown (a big batch)
    narrow = new_imps is not None
    imp_pairs = {(u, c) for _, u, c in new_imps} if new_imps else None
    imp_ids = {i for i, _, _ in new_imps} if new_imps else None

    impressions = read_table(spark, cfg, C.SILVER_IMPRESSIONS)
    imp_cols = ["impression_id", "event_time", "event_date", "user_id", "campaign_id"]
    if impressions is None:
        impressions = spark.createDataFrame(
            [], "impression_id string, event_time timestamp, event_date date, user_id string, campaign_id string"
        )
    impressions = impressions.select(*imp_cols)
    summary: dict[str, Any] = {}

    # Clicks: new ones, and those of the new impressions' dates that share their keys.
    clicks_table = read_table(spark, cfg, C.SILVER_CLICKS)
    click_dates = set(G.affected_dates(impression_dates=imp_dates,
                                       click_dates=marks.dates_of(STAGE_ATTRIBUTION, "clicks"), **windows).clicks)
    changed_click_dates: set[dt.date] = set()
    if clicks_table is not None and click_dates:
        needs = G.input_dates(click_dates=click_dates, **windows)
        stored = clicks_table.where(dates_in("event_date", click_dates))
        window_imps = impressions.where(dates_in("event_date", needs.impressions))

        def attribute_clicks(clicks: DataFrame, small: bool) -> DataFrame:
            # Impressions named by a click but outside the window dates (silver holds one row
            # per impression_id, so the union has no duplicates).
            named_ids = clicks.select("impression_id").where(F.col("impression_id").isNotNull()).distinct()
            named_imps = impressions.where(f"NOT ({dates_in('event_date', needs.impressions)})").join(
                F.broadcast(named_ids) if small else named_ids, "impression_id", "left_semi")
            return A.attribute_clicks(clicks, window_imps.unionByName(named_imps),
                                      click_window_minutes=a.click_window_minutes, small=small)

        found = _reattribute_table(stored, A.CLICK_ATTRIBUTION_COLUMNS, attribute_clicks, pairs=imp_pairs,
                                   ids=imp_ids, narrow=narrow)
        changed_click_dates, changed_keys = found.changed_dates, found.changed_keys
        if changed_click_dates:
            # Conversions after a changed click, of its user and campaign, may change.
            conv_dates = G.affected_dates(click_dates=changed_click_dates, **windows).conversions
            record_dirty(
                spark, cfg,
                [(STAGE_CONVERSION_ATTRIBUTION, "clicks", d) for d in conv_dates]
                + [(STAGE_GOLD_CAMPAIGN, "clicks", d) for d in changed_click_dates],
                keys=None if changed_keys is None else {
                    (STAGE_CONVERSION_ATTRIBUTION, "clicks"): {(u, c) for _, u, c in changed_keys}},
            )
            _write_changed(cfg, C.SILVER_CLICKS, found)
    summary["click_dates"] = len(click_dates)
    summary["click_dates_changed"] = len(changed_click_dates)

    # Conversions: new ones, those sharing keys with new impressions (post-view) or with
    # changed clicks (post-click).
    conv_marks = take_dirty(spark, cfg, [STAGE_CONVERSION_ATTRIBUTION])
    conversions_table = read_table(spark, cfg, C.SILVER_CONVERSIONS)
    changed_conv_dates: set[dt.date] = set()
    summary["conversion_dates"] = 0
    if conversions_table is not None:
        conversion_dates = (
            G.post_view_dates(imp_dates, view_through_window_hours=a.view_through_window_hours)
            | marks.dates_of(STAGE_ATTRIBUTION, "conversions")
            | conv_marks.dates_of(STAGE_CONVERSION_ATTRIBUTION, "clicks")
        )
        summary["conversion_dates"] = len(conversion_dates)
        click_pairs = conv_marks.keys_of(STAGE_CONVERSION_ATTRIBUTION, "clicks")
        conv_narrow = narrow and click_pairs is not None
        pairs = None
        if conv_narrow:
            all_pairs = {(u, c) for _, u, c in new_imps} | set(click_pairs)
            pairs = all_pairs or None
        if conversion_dates:
            needs = G.input_dates(conversion_dates=conversion_dates, **windows)
            stored = conversions_table.where(dates_in("event_date", conversion_dates))
            clicks_now = read_table(spark, cfg, C.SILVER_CLICKS)
            if clicks_now is None:
                clicks_now = with_nulls(
                    spark.createDataFrame([], "event_id string, event_time timestamp, event_date date, "
                                              "user_id string, campaign_id string, impression_id string"),
                    CLICK_ATTRIBUTION_NULLS,
                )

            def attribute_conversions(conversions: DataFrame, small: bool) -> DataFrame:
                return A.attribute_conversions(
                    conversions,
                    clicks_now.where(dates_in("event_date", needs.clicks)),
                    impressions.where(dates_in("event_date", needs.impressions)),
                    conversion_window_days=a.conversion_window_days,
                    view_through_window_hours=a.view_through_window_hours,
                    small=small,
                )

            found = _reattribute_table(stored, A.CONVERSION_ATTRIBUTION_COLUMNS, attribute_conversions,
                                       pairs=pairs, ids=None, narrow=conv_narrow)
            changed_conv_dates = found.changed_dates
            if changed_conv_dates:
                record_dirty(spark, cfg, [(STAGE_GOLD_CAMPAIGN, "conversions", d) for d in changed_conv_dates])
                _write_changed(cfg, C.SILVER_CONVERSIONS, found)
    summary["conversion_dates_changed"] = len(changed_conv_dates)
    clear_dirty(spark, marks.files + conv_marks.files)
    summary["gold_dates_marked"] = len(set(imp_dates) | changed_click_dates | changed_conv_dates)
    return summary


def run_silver(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    """The ``silver`` job: insert new bronze rows into silver, then re-attribute what they change.

    The three streams write different silver tables; with ``pipeline.concurrent`` they run
    at once. What one reads of another's table while it writes cannot be missed: an
    impressions batch looks up the stored clicks that name its impressions and the stored
    bid requests they match, and a click, conversion or bid request inserted meanwhile is
    new itself, so its own marks bring it to re-attribution (new clicks and conversions
    are always attributed) and to gold (a bid request's date).
    """
    _dims(spark, cfg)  # fail early, with one line, when the reference job has not run
    job = "silver"

    def run_one(name: str, bronze_table: str, make_batch) -> dict[str, Any] | str:
        path = cfg.table_path(bronze_table)
        if not is_delta(spark, path):
            return "no bronze table yet"
        # foreachBatch hands over an already-planned batch (an RDD scan, no column pruning), so
        # what silver never reads is dropped here, at the source: `raw` is half of bronze's bytes.
        source = (
            spark.readStream.format("delta").option("maxFilesPerTrigger", "1000").load(path)
            .drop(*BRONZE_ONLY_COLUMNS)
        )
        result = run_stream(source, make_batch(cfg, txn_app_id(cfg, job, name)), cfg, job=job, query=name,
                            once=True)
        return {"batches": result["batches"], "input_rows": result["input_rows"]}

    steps = [partial(run_one, *stream) for stream in SILVER_STREAMS]
    outcomes = run_concurrently(spark, *steps) if cfg.pipeline.concurrent else [step() for step in steps]
    summary: dict[str, Any] = {name: out for (name, _, _), out in zip(SILVER_STREAMS, outcomes, strict=True)}
    summary["attribution"] = reattribute(spark, cfg)
    return summary
