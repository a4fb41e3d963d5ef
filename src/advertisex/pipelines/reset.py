"""``advertisex reset JOB``: start a job's streaming queries anew, after what the lake holds.

For a checkpoint that is lost for good (io/checkpoints.py explains why a new checkpoint
cannot simply start): each query of the job is started anew as a new generation (its own
``txnAppId``), its old checkpoint kept aside, and told where to start so that nothing is
read twice and nothing skipped:

- a Kafka query: for each partition of its topic, the offset after the last message bronze
  holds (the earliest one for a partition bronze holds nothing of);
- a file query: every landing file except those bronze holds records of;
- a silver query: its bronze table from the start; silver inserts only the ids it lacks.

The last batch bronze holds of the old generation also gets its quarantine rows, in case a
crash came between its two commits (the old checkpoint would have replayed it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex.config import Config
from advertisex.errors import AdvertisexError
from advertisex.io.bronze import quarantine_batch
from advertisex.io.checkpoints import (
    Resume,
    lock_checkpoint,
    read_resume,
    release_checkpoint,
    start_anew,
    txn_app_id,
)
from advertisex.io.delta import last_txn_version
from advertisex.io.lake import read_table
from advertisex.io.services import topic_partitions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from advertisex.io.streaming import Stream
    from advertisex.pipelines.runner import Job, StreamsFn


class NothingToResetError(AdvertisexError):
    """``advertisex reset`` of a job that runs no streaming query."""


def run(spark: SparkSession, cfg: Config, job: Job) -> dict[str, Any]:
    """Reset every query of ``job``; a summary per query.

    Raises:
        NothingToResetError: the job has no checkpoint.
        CheckpointInUseError: one of its queries is running (that one and the rest are left as they are).
    """
    return {stream.query: reset_stream(spark, cfg, stream) for stream in require_streams(job)(spark, cfg)}


def require_streams(job: Job) -> StreamsFn:
    """``job.streams``.

    Raises:
        NothingToResetError: the job has no checkpoint.
    """
    if job.streams is None:
        raise NothingToResetError(f"{job.name} keeps no streaming checkpoint, so there is nothing to reset")
    return job.streams


def reset_stream(spark: SparkSession, cfg: Config, stream: Stream) -> dict[str, Any]:
    """Start one query anew (see the module's docstring); what was done."""
    lock_checkpoint(stream, cfg)  # not while it runs
    try:
        old = read_resume(spark, cfg, stream)
        new = Resume(generation=old.generation + 1)
        lands = stream.lands
        if lands is not None:
            old_app_id = txn_app_id(cfg, stream.job, stream.query, old.generation)
            last = last_txn_version(spark, cfg.table_path(lands.table), old_app_id)
            if last is not None:
                quarantine_batch(spark, cfg, table=lands.table, source=lands.source, app_id=old_app_id,
                                 batch_id=last)
            bronze = read_table(spark, cfg, lands.table)
            if bronze is not None and lands.topic is not None:
                new = replace(new, kafka_offsets={lands.topic: offsets_after(bronze, cfg, lands.topic)})
            elif bronze is not None:
                new = replace(new, files_done=files_in(bronze))
        kept = start_anew(spark, cfg, stream, new)
    finally:
        release_checkpoint(stream, cfg)
    if new.kafka_offsets:
        start = "offsets " + ", ".join(f"{p}:{o}" for p, o in new.kafka_offsets[lands.topic].items())
    elif lands is not None:
        start = f"every file but the {len(new.files_done)} that bronze holds"
    else:
        start = "its bronze table's start (silver inserts only the ids it lacks)"
    return {"txn_app_id": txn_app_id(cfg, stream.job, stream.query, new.generation),
            "old_checkpoint": kept or "none", "starts_at": start}


def offsets_after(bronze: DataFrame, cfg: Config, topic: str) -> dict[str, int]:
    """driver-side: per partition of ``topic``, the offset after the last message ``bronze``
    holds of it; ``-2`` (earliest, in Spark's ``startingOffsets``) where it holds none."""
    last = (bronze.where(F.col("kafka_topic") == topic)
            .groupBy(F.col("kafka_partition").alias("p")).agg(F.max("kafka_offset").alias("o")))
    held = {r.p: r.o for r in last.collect()}  # driver-side: one row per partition of the topic
    return {str(p): held[p] + 1 if p in held else -2 for p in topic_partitions(cfg, topic)}


def files_in(bronze: DataFrame) -> tuple[str, ...]:
    """driver-side: the landing files ``bronze`` holds records of (one row per file)."""
    files = bronze.where(F.col("source_file").isNotNull()).select(F.col("source_file").alias("f")).distinct()
    return tuple(sorted(r.f for r in files.collect()))  # driver-side: one row per landing file, kept in the reset's record
