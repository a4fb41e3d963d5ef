"""Bronze: every received record lands once, as received, with its origin; bad ones also in quarantine.

Four jobs share one pattern, a Structured Streaming query with ``foreachBatch``:

* ``ingest_impressions`` — Kafka ``kafka.topics.impressions`` (JSON) → ``bronze/impressions``
* ``ingest_bids`` — Kafka ``kafka.topics.bids`` (Confluent Avro) → ``bronze/bid_requests``
* ``ingest_clicks`` — CSV files under ``landing.clicks`` → ``bronze/click_events``
* ``backfill_impressions`` — JSON Lines files under ``landing.impressions`` → ``bronze/impressions``

Exactly once, end to end. Each query has its own checkpoint
(``{checkpoints.root}/{job}/{query}``). The checkpoint's offset log fixes, before a batch
runs, which Kafka offsets or which files (by path) belong to batch N; after a crash the
query replays batch N with exactly that input. Every Delta write of the batch carries
``txnAppId`` = ``{streaming.txn_app_id}.{job}.{query}`` and ``txnVersion`` = N, so a
replay of an already committed batch writes nothing (Delta skips it), and a batch that
had not committed is written in full. Files are therefore ingested once by path: the file
source's log (in the checkpoint) remembers every path it handed out. This is why the CSV
and backfill jobs are file-source streams run with ``trigger(availableNow=True)`` rather
than a hand-made "files done" table: the source log and the Delta commit are tied by the
batch id without a second transaction to keep in step.

Bronze holds every record, valid or not (``quarantine_reason`` null when valid); rows
with a reason are also appended to ``quarantine``. Silver reads only valid rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import contract as C
from advertisex.config import Config
from advertisex.errors import AdvertisexError
from advertisex.io.delta import idempotent_append, table_options
from advertisex.io.fs import require_path
from advertisex.io.services import check_kafka, check_registry
from advertisex.transforms import bronze as T

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)

BatchFn = Callable[["DataFrame", int], None]
IMPRESSION_FILE_GLOB = "*.{json,jsonl,json.gz,jsonl.gz}"
CLICK_FILE_GLOB = "*.{csv,csv.gz}"

BRONZE_PARTITION = ("event_date",)
QUARANTINE_PARTITION = ("ingest_date",)


class StreamFailedError(AdvertisexError):
    """A streaming query stopped with an error."""


def txn_app_id(cfg: Config, job: str, query: str) -> str:
    return f"{cfg.streaming.txn_app_id}.{job}.{query}"


# --------------------------------------------------------------------------- sources


def _kafka_source(spark: SparkSession, cfg: Config, topic: str) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", cfg.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", cfg.kafka.starting_offsets)
        .option("maxOffsetsPerTrigger", str(cfg.kafka.max_offsets_per_trigger))
        .option("failOnDataLoss", str(cfg.kafka.fail_on_data_loss).lower())
        .option("kafka.request.timeout.ms", str(int(cfg.kafka.connect_timeout_seconds * 1000)))
        .option("kafka.default.api.timeout.ms", str(int(cfg.kafka.connect_timeout_seconds * 1000)))
        .load()
        .select(
            "key",
            "value",
            F.col("topic").alias("kafka_topic"),
            F.col("partition").alias("kafka_partition"),
            F.col("offset").alias("kafka_offset"),
            F.col("timestamp").alias("kafka_timestamp"),
        )
    )


def _file_source(spark: SparkSession, cfg: Config, path: str, glob: str, what: str) -> DataFrame:
    require_path(spark, path, what)
    source = (
        spark.readStream.format("text")
        .option("lineSep", "\n")  # JSON Lines and CSV records end at \n only (a CR is data)
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", glob)
        .option("maxFilesPerTrigger", str(cfg.streaming.max_files_per_trigger))
        .load(path)
    )
    return file_lines(source)


def file_lines(text_scan: DataFrame) -> DataFrame:
    """A ``text`` scan (stream or batch) → ``line``, ``file_path``, ``file_block_start``.

    ``file_path`` is Spark's URI of the file; :func:`transforms.bronze.numbered_lines` turns it
    into the file's name once per file block rather than once per line.
    """
    return text_scan.select(
        F.col("value").alias("line"),
        F.col("_metadata.file_path").alias("file_path"),
        F.col("_metadata.file_block_start").alias("file_block_start"),
    )


def _numbered(batch: DataFrame, *, with_header: bool) -> DataFrame:
    """A file-source micro-batch → ``line``, ``source_file``, ``source_line``, ``ingested_at``
    (and ``header``)."""
    return T.numbered_lines(batch, with_header=with_header).withColumn("ingested_at", F.current_timestamp())


# --------------------------------------------------------------------------- running


def run_stream(
    source: DataFrame,
    batch_fn: BatchFn,
    cfg: Config,
    *,
    job: str,
    query: str,
    once: bool,
) -> dict[str, Any]:
    """Start ``source.writeStream.foreachBatch(batch_fn)`` with the query's own checkpoint.

    With ``once`` the query processes everything available now (``availableNow``) and
    returns; otherwise it runs every ``streaming.trigger_interval_seconds`` until stopped
    (Ctrl-C stops it cleanly: the current batch finishes or is replayed on restart).

    Returns ``batches``, ``input_rows`` (what Spark's progress reports: rows read from the
    source, so a batch that scans its input twice, e.g. to number file lines, counts them
    twice) and ``stream_seconds``.
    """
    t0 = time.monotonic()
    batches = rows = 0
    for attempt in (1, 2):
        writer = (
            source.writeStream.queryName(f"{job}.{query}")
            .option("checkpointLocation", cfg.checkpoint_path(job, query))
            .foreachBatch(batch_fn)
        )
        if once:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{cfg.streaming.trigger_interval_seconds:g} seconds")
        q: StreamingQuery = writer.start()
        try:
            q.awaitTermination()
        except KeyboardInterrupt:
            log.warning("interrupted: stopping %s.%s", job, query)
        except Exception as exc:  # noqa: BLE001 - inspected below, re-raised as StreamFailedError
            log.debug("query %s.%s ended with %s", job, query, exc)
        finally:
            q.stop()
        batches += len(q.recentProgress)
        rows += sum(p.get("numInputRows", 0) for p in q.recentProgress)
        exc = q.exception()
        if exc is None:
            break
        if attempt == 1 and _is_kafka_metrics_npe(exc):
            # SPARK-57438 (Spark 4.1.1): after a restart, the Kafka source's progress metrics
            # throw a NullPointerException once the replayed batch has been committed. The
            # batch is done (its commit is in the checkpoint), so starting again continues
            # from the next batch; the Delta writes of the replay were skipped by txnVersion.
            log.warning("%s.%s: restarting after SPARK-57438 (Kafka metrics NPE on a replayed batch)", job, query)
            continue
        raise StreamFailedError(f"{job}.{query} failed: {_first_line(exc)}")
    return {"batches": batches, "input_rows": rows, "stream_seconds": round(time.monotonic() - t0, 2)}


def _is_kafka_metrics_npe(exc: BaseException) -> bool:
    text = str(getattr(exc, "desc", None) or exc)
    return 'return value of "scala.Option.get()" is null' in text and "IterableOps.map" in text


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "desc", None) or exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def write_bronze(parsed: DataFrame, cfg: Config, *, table: str, source: str, app_id: str, batch_id: int) -> None:
    """Append a parsed batch to its bronze table and its bad rows to quarantine, idempotently.

    Each bronze row carries ``ingest_batch`` = ``{app_id}/{batch_id}``. The bronze write
    counts the batch's bad rows as it goes (an ``observe`` metric, no extra pass); a batch
    without any writes no quarantine commit and reads nothing more. Otherwise the bad rows
    are read back from bronze by that tag (a scan of a few columns, with file skipping on
    ``ingest_batch``) instead of keeping the whole parsed batch in memory or parsing it
    again. A replayed batch (already committed to bronze: Delta skips the write, so nothing
    is counted) quarantines exactly the rows bronze holds for it, which also covers a crash
    between the two commits; the quarantine append is skipped if it had committed.
    """
    tag = f"{app_id}/{batch_id}"
    path = cfg.table_path(table)
    spark = parsed.sparkSession
    seen = idempotent_append(
        parsed.withColumn("ingest_batch", F.lit(tag)), path, app_id=app_id, version=batch_id,
        partition_by=BRONZE_PARTITION, options=table_options(table),
        observe=(F.count_if(F.col("quarantine_reason").isNotNull()).alias("bad"),),
    )
    replay = seen is None  # a replay's write runs nothing, so nothing is counted
    if not replay and seen["bad"] == 0:
        return
    bad = T.to_quarantine(
        spark.read.format("delta").load(path).where(
            (F.col("ingest_batch") == tag) & F.col("quarantine_reason").isNotNull()
        ),
        source=source,
    )
    # A replayed batch without bad records writes no quarantine commit either.
    if replay and bad.isEmpty():
        return
    idempotent_append(
        bad, cfg.table_path(C.QUARANTINE), app_id=app_id, version=batch_id, partition_by=QUARANTINE_PARTITION,
        options=table_options(C.QUARANTINE),
    )


# --------------------------------------------------------------------------- jobs


def impressions_batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body for the Kafka impressions stream."""

    def fn(batch: DataFrame, batch_id: int) -> None:
        df = batch.select(
            F.col("value").cast("string").alias("raw"),
            F.col("key").cast("string").alias("kafka_key"),
            "kafka_topic",
            "kafka_partition",
            "kafka_offset",
            "kafka_timestamp",
            F.current_timestamp().alias("ingested_at"),
        ).withColumn("origin", T.kafka_origin())
        parsed = T.parse_impressions(df).transform(T.conform(T.BRONZE_IMPRESSIONS_SCHEMA))
        write_bronze(parsed, cfg, table=C.BRONZE_IMPRESSIONS, source=C.SOURCE_IMPRESSIONS,
                     app_id=app_id, batch_id=batch_id)

    return fn


def run_ingest_impressions(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    job, query = "ingest_impressions", "kafka"
    check_kafka(cfg.kafka.bootstrap_servers, cfg.kafka.connect_timeout_seconds)
    source = _kafka_source(spark, cfg, cfg.kafka.topics.impressions)
    return run_stream(source, impressions_batch(cfg, txn_app_id(cfg, job, query)), cfg, job=job, query=query,
                      once=once)


def bids_batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body for the Kafka bid-request stream (per-message writer schemas).

    The stream's first batch looks up all its distinct schema ids before decoding, which
    costs one more read of it. Each later batch is read once, optimistically. It is
    decoded with the writer schemas already known: every version registered under the
    subject, plus ids this stream met before. Registration precedes production, so these
    are the batch's ids as a rule. Ids the registry answered 404 for are quarantined as
    unknown; once that answer is ``schema_registry.unknown_id_recheck_seconds`` old, the
    next batch asks again. A message with any other id fails the bronze write before it commits
    (``UNCLASSIFIED_SCHEMA_ID``; Spark logs the failed task as an error). The batch then
    looks up its ids like a first batch, and is decoded again, so every message is still
    decoded with its own writer schema. A failed write leaves its partial files
    unreferenced in the table folder (``VACUUM`` removes them).
    """
    from advertisex.io.registry import schema_cache

    cache = schema_cache(cfg.schema_registry.url, cfg.schema_registry.timeout_seconds,
                         cfg.schema_registry.unknown_id_recheck_seconds)
    subject = cfg.schema_registry.subject
    met: dict[int, str] = {}  # writer schemas of the ids this stream has looked up
    looked_up = False  # whether a batch of this stream has looked up its ids yet

    def fn(batch: DataFrame, batch_id: int) -> None:
        df = T.with_confluent_header(
            batch.select(
                "value",
                "kafka_topic",
                "kafka_partition",
                "kafka_offset",
                "kafka_timestamp",
                F.current_timestamp().alias("ingested_at"),
            ).withColumn("origin", T.kafka_origin())
        )
        _, reader = cache.latest(subject)

        def write(writers: dict[int, str], unknown: frozenset[int] | None) -> None:
            parsed = T.decode_bid_requests(df, writer_schemas=writers, reader_schema=reader, unknown_ids=unknown)
            write_bronze(parsed.select(*T.BRONZE_BID_REQUESTS_COLUMNS), cfg, table=C.BRONZE_BID_REQUESTS,
                         source=C.SOURCE_BID_REQUESTS, app_id=app_id, batch_id=batch_id)

        nonlocal looked_up
        if looked_up:
            # Ids quarantined as unknown a while ago are asked again: one may be registered now.
            met.update(cache.recheck_missing())
            try:
                write({**cache.subject_schemas(subject), **met}, cache.missing)
                return
            except Exception as exc:  # noqa: BLE001 - re-raised unless it names an unclassified id
                first = T.unclassified_schema_id(exc)
                if first is None:
                    raise
            # Spark has just logged the failed write as an error, with a stack trace: say why.
            log.warning("bid batch %d: schema id %d was new to this stream, so its first write stopped "
                        "uncommitted (USER_RAISED_EXCEPTION above); looking up the batch's ids, writing it again",
                        batch_id, first)
        ids = [r.schema_id for r in df.select("schema_id").distinct().collect()]  # driver-side: a few ids
        met.update(cache.writer_schemas(i for i in ids if i is not None))
        looked_up = True
        write({**cache.subject_schemas(subject), **met}, None)

    return fn


def run_ingest_bids(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    job, query = "ingest_bids", "kafka"
    check_kafka(cfg.kafka.bootstrap_servers, cfg.kafka.connect_timeout_seconds)
    check_registry(cfg.schema_registry.url, cfg.schema_registry.timeout_seconds)
    source = _kafka_source(spark, cfg, cfg.kafka.topics.bids)
    return run_stream(source, bids_batch(cfg, txn_app_id(cfg, job, query)), cfg, job=job, query=query, once=once)


def clicks_batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body for the click/conversion CSV files."""

    def fn(batch: DataFrame, batch_id: int) -> None:
        lines = T.records_of_lines(_numbered(batch, with_header=True), skip_header=True)
        parsed = T.parse_click_events(lines).transform(T.conform(T.BRONZE_CLICK_EVENTS_SCHEMA))
        write_bronze(parsed, cfg, table=C.BRONZE_CLICK_EVENTS, source=C.SOURCE_CLICK_EVENTS,
                     app_id=app_id, batch_id=batch_id)

    return fn


def run_ingest_clicks(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    job, query = "ingest_clicks", "files"
    source = _file_source(spark, cfg, cfg.landing.clicks, CLICK_FILE_GLOB, "landing.clicks")
    return run_stream(source, clicks_batch(cfg, txn_app_id(cfg, job, query)), cfg, job=job, query=query, once=once)


def backfill_batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body for historical impression JSON Lines files."""

    def fn(batch: DataFrame, batch_id: int) -> None:
        lines = T.records_of_lines(_numbered(batch, with_header=False), skip_header=False)
        parsed = T.parse_impressions(
            lines.withColumnRenamed("line", "raw").drop("header").withColumn("origin", T.file_origin())
        ).transform(T.conform(T.BRONZE_IMPRESSIONS_SCHEMA))
        write_bronze(parsed, cfg, table=C.BRONZE_IMPRESSIONS, source=C.SOURCE_IMPRESSIONS, app_id=app_id,
                     batch_id=batch_id)

    return fn


def run_backfill_impressions(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    job, query = "backfill_impressions", "files"
    source = _file_source(spark, cfg, cfg.landing.impressions, IMPRESSION_FILE_GLOB, "landing.impressions")
    return run_stream(source, backfill_batch(cfg, txn_app_id(cfg, job, query)), cfg, job=job, query=query,
                      once=once)
