"""Job ``ingest_impressions``: Kafka ``kafka.topics.impressions`` (JSON) → ``bronze/impressions``.

One record per message, as received (``raw``), with its Kafka coordinates as ``origin``
(``kafka:<topic>/<partition>/<offset>``); a message that is not a valid impression
(docs/CONTRACT.md §1.6) also goes to ``quarantine`` with its reason.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.io.bronze import write_bronze
from advertisex.io.services import check_topic
from advertisex.io.streaming import BatchFn, Lands, Stream, kafka_source, run_stream
from advertisex.transforms import bronze as T

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

JOB = "ingest_impressions"


def batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body: parse each message, write bronze and quarantine."""

    def fn(messages: DataFrame, batch_id: int) -> None:
        df = T.with_ingested_at(messages.select(
            F.col("value").cast("string").alias("raw"),
            F.col("key").cast("string").alias("kafka_key"),
            "kafka_topic",
            "kafka_partition",
            "kafka_offset",
            "kafka_timestamp",
        )).withColumn("origin", T.kafka_origin())
        parsed = tables.BRONZE_IMPRESSIONS.conform(T.parse_impressions(df))
        write_bronze(parsed, cfg, table=tables.BRONZE_IMPRESSIONS, source=C.SOURCE_IMPRESSIONS,
                     app_id=app_id, batch_id=batch_id)

    return fn


def streams(spark: SparkSession, cfg: Config) -> list[Stream]:
    """The job's one query, after checking that the broker answers and holds the topic."""
    check_topic(cfg, "impressions")
    topic = cfg.kafka.topics.impressions
    return [Stream(JOB, "kafka", partial(kafka_source, spark, cfg, topic), partial(batch, cfg),
                   Lands(tables.BRONZE_IMPRESSIONS, C.SOURCE_IMPRESSIONS, topic))]


def run(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    """Run the job: with ``once`` over the messages available now, else until stopped."""
    (stream,) = streams(spark, cfg)
    return run_stream(stream, cfg, once=once)
