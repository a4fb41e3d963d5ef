"""Job ``ingest_bids``: Kafka ``kafka.topics.bids`` (Confluent Avro) → ``bronze/bid_requests``.

Each message is decoded with its own writer schema (the id in bytes 1-4, looked up in
the schema registry) and read into the newest schema of the subject (docs/CONTRACT.md §1.3);
bronze keeps the message as base64 ``raw`` beside the decoded fields.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.errors import AdvertisexError
from advertisex.io.bronze import write_bronze
from advertisex.io.delta import is_delta
from advertisex.io.registry import Registered, schema_cache
from advertisex.io.services import check_registry, check_topic
from advertisex.io.streaming import BatchFn, Lands, Stream, kafka_source, run_stream
from advertisex.transforms import bronze as T

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

JOB = "ingest_bids"
# The struct columns keep the shape of the newest registered schema (they evolve with the
# subject, and a top-level field it adds becomes a column after these), so bid rows are not
# conformed to the declared types; ``ingest_batch`` is the sink's.
BRONZE_COLUMNS = tuple(c for c in tables.BRONZE_BID_REQUESTS.columns if c != "ingest_batch")


def batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body for the bid-request stream (per-message writer schemas).

    The stream's first batch looks up all its distinct schema ids before decoding, which
    costs one more read of it. Each later batch is read once, optimistically. It is
    decoded with the writer schemas already known: every version registered under the
    subject, plus ids this stream met before. Registration precedes production, so these
    are the batch's ids as a rule. Ids the registry answered 404 for are quarantined as
    unknown; once that answer is ``schema_registry.unknown_id_recheck_seconds`` old, the
    next batch asks again. A message with any other id fails the bronze write before it
    commits (``UNCLASSIFIED_SCHEMA_ID``; Spark logs the failed task as an error). The
    batch then looks up its ids like a first batch, and is decoded again, so every message
    is still decoded with its own writer schema. A failed write leaves its partial files
    unreferenced in the table folder (``VACUUM`` removes them).
    """
    cache = schema_cache(cfg.schema_registry)
    subject = cfg.schema_registry.subject
    met: dict[int, str] = {}  # writer schemas of the ids this stream has looked up
    readable: set[int] = set()  # newest schemas found to extend bronze's
    looked_up = False  # whether a batch of this stream has looked up its ids yet

    def fn(messages: DataFrame, batch_id: int) -> None:
        nonlocal looked_up
        df = T.with_confluent_header(T.with_ingested_at(
            messages.select("value", "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp")
        ).withColumn("origin", T.kafka_origin()))
        latest = cache.latest(subject)
        if latest.schema_id not in readable:  # a version registered while the stream runs
            require_readable(messages.sparkSession, cfg, latest)
            readable.add(latest.schema_id)
        reader = latest.schema

        def write(writers: dict[int, str], unknown: frozenset[int] | None) -> None:
            parsed = T.decode_bid_requests(df, writer_schemas=writers, reader_schema=reader, unknown_ids=unknown)
            write_bronze(parsed.select(*BRONZE_COLUMNS, *T.added_bid_fields(reader)), cfg,
                         table=tables.BRONZE_BID_REQUESTS, source=C.SOURCE_BID_REQUESTS, app_id=app_id,
                         batch_id=batch_id)

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
        # A message with a wrong magic byte is quarantined whatever its "id".
        framed = df.where(T.well_framed()).select("schema_id").distinct()
        ids = [r.schema_id for r in framed.collect()]  # driver-side: a few ids
        met.update(cache.writer_schemas(ids))
        looked_up = True
        write({**cache.subject_schemas(subject), **met}, None)

    return fn


class SchemaNotReadableError(AdvertisexError):
    """The subject's newest schema drops or retypes a field bronze holds."""


def require_readable(spark: SparkSession, cfg: Config, latest: Registered) -> None:
    """Refuse ``latest`` when ``bronze/bid_requests`` cannot take what it decodes to: every
    field bronze holds must be there with its type (a new version may add fields, which
    bronze and silver then add as columns; docs/CONTRACT.md §1.3). Without this, a field
    dropped or retyped would land as nulls, or fail the write with Delta's merge error.

    Raises:
        SchemaNotReadableError: one line naming the subject, its version and each field.
    """
    from pyspark.sql.avro.functions import from_avro
    from pyspark.sql.types import StructType

    path = cfg.table_path(tables.BRONZE_BID_REQUESTS)
    if not is_delta(spark, path):
        return
    declared = set(tables.BRONZE_BID_REQUESTS.columns)
    held = StructType([f for f in spark.read.format("delta").load(path).schema.fields
                       if f.name in T.BID_FIELDS or f.name not in declared])
    new = spark.range(0).select(from_avro(F.lit(None).cast("binary"), latest.schema).alias("d")).schema["d"]
    problems = T.narrowed(held, new.dataType)
    if problems:
        raise SchemaNotReadableError(
            f"schema registry subject {latest.subject!r} version {latest.version} (id {latest.schema_id}) cannot "
            f"be read into {tables.BRONZE_BID_REQUESTS.name}: {'; '.join(problems)}; a new version may only add "
            "fields, with defaults (docs/CONTRACT.md §1.3)")


def streams(spark: SparkSession, cfg: Config) -> list[Stream]:
    """The job's one query, after checking that the broker holds the topic, the registry
    answers, and bronze can take the subject's newest schema."""
    check_topic(cfg, "bids")
    check_registry(cfg.schema_registry)
    require_readable(spark, cfg, schema_cache(cfg.schema_registry).latest(cfg.schema_registry.subject))
    topic = cfg.kafka.topics.bids
    return [Stream(JOB, "kafka", partial(kafka_source, spark, cfg, topic), partial(batch, cfg),
                   Lands(tables.BRONZE_BID_REQUESTS, C.SOURCE_BID_REQUESTS, topic))]


def run(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    """Run the job: with ``once`` over the messages available now, else until stopped."""
    (stream,) = streams(spark, cfg)
    return run_stream(stream, cfg, once=once)
