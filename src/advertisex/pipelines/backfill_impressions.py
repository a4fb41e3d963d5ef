"""Job ``backfill_impressions``: historical JSON Lines under ``landing.impressions`` → ``bronze/impressions``.

The same table and the same parser as the Kafka feed (``ingest_impressions``); each file
is read once, by path, and each line keeps ``file:<path>:<line>`` as its origin.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.io.bad_files import BadFile, write_setting_aside_bad_files
from advertisex.io.bronze import write_bronze
from advertisex.io.streaming import BatchFn, Lands, Stream, file_source, run_stream
from advertisex.transforms import bronze as T
from advertisex.transforms import lines as L

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

JOB = "backfill_impressions"
FILE_GLOB = "*.{json,jsonl,json.gz,jsonl.gz}"


def batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body: number the lines of each file, parse them, write bronze and quarantine
    (a file that cannot be read: :mod:`advertisex.io.bad_files`)."""

    def fn(lines: DataFrame, batch_id: int) -> None:
        def write(bad: list[BadFile]) -> None:
            records = L.records_of_lines(T.with_ingested_at(L.numbered_lines(lines, with_header=False)),
                                         skip_header=False)
            parsed = T.with_bad_files(T.parse_impressions(
                records.withColumnRenamed("line", "raw").drop("header").withColumn("origin", L.file_origin())
            ), bad)
            write_bronze(tables.BRONZE_IMPRESSIONS.conform(parsed), cfg, table=tables.BRONZE_IMPRESSIONS,
                         source=C.SOURCE_IMPRESSIONS, app_id=app_id, batch_id=batch_id)

        write_setting_aside_bad_files(lines.sparkSession, cfg.landing.impressions, app_id, batch_id, write)

    return fn


def streams(spark: SparkSession, cfg: Config) -> list[Stream]:
    """The job's one query over ``landing.impressions``."""
    source = partial(file_source, spark, cfg, cfg.landing.impressions, FILE_GLOB, "landing.impressions")
    return [Stream(JOB, "files", source, partial(batch, cfg), Lands(tables.BRONZE_IMPRESSIONS, C.SOURCE_IMPRESSIONS))]


def run(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    """Run the job: with ``once`` over the files there now, else picking up new ones until stopped."""
    (stream,) = streams(spark, cfg)
    return run_stream(stream, cfg, once=once)
