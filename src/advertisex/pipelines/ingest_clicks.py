"""Job ``ingest_clicks``: click/conversion CSV files under ``landing.clicks`` → ``bronze/click_events``.

Each file is ingested once, by path (the file source's log in the checkpoint remembers
every path it handed out), every line kept as received with ``file:<path>:<line>`` as its
origin; a file whose header is not docs/CONTRACT.md §1.2's has every line quarantined.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

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

JOB = "ingest_clicks"
FILE_GLOB = "*.{csv,csv.gz}"


def batch(cfg: Config, app_id: str) -> BatchFn:
    """foreachBatch body: number the lines of each file, parse them, write bronze and quarantine
    (a file that cannot be read: :mod:`advertisex.io.bad_files`)."""

    def fn(lines: DataFrame, batch_id: int) -> None:
        def write(bad: list[BadFile]) -> None:
            # The files with a record over several lines (one more look at the lines; only
            # those with a quote are matched), whose lines alone are put in order.
            quoted = lines.where(L.opens_quoted_field(F.col("line"))).select("file_path").distinct()
            opened = [r.file_path for r in quoted.collect()]  # driver-side: a row per such file, usually none
            is_opened = F.col("file_path").isin(*opened)
            numbered = L.numbered_lines(lines.where(~is_opened), with_header=True)
            if opened:
                numbered = numbered.unionByName(L.csv_records(L.numbered_lines(lines.where(is_opened), with_header=True)))
            records = L.records_of_lines(T.with_ingested_at(numbered), skip_header=True)
            parsed = T.with_bad_files(T.parse_click_events(records), bad)
            write_bronze(tables.BRONZE_CLICK_EVENTS.conform(parsed), cfg, table=tables.BRONZE_CLICK_EVENTS,
                         source=C.SOURCE_CLICK_EVENTS, app_id=app_id, batch_id=batch_id)

        write_setting_aside_bad_files(lines.sparkSession, cfg.landing.clicks, app_id, batch_id, write)

    return fn


def streams(spark: SparkSession, cfg: Config) -> list[Stream]:
    """The job's one query over ``landing.clicks``."""
    return [Stream(JOB, "files", partial(file_source, spark, cfg, cfg.landing.clicks, FILE_GLOB, "landing.clicks"),
                   partial(batch, cfg), Lands(tables.BRONZE_CLICK_EVENTS, C.SOURCE_CLICK_EVENTS))]


def run(spark: SparkSession, cfg: Config, *, once: bool = True, **_: Any) -> dict[str, Any]:
    """Run the job: with ``once`` over the files there now, else picking up new ones until stopped."""
    (stream,) = streams(spark, cfg)
    return run_stream(stream, cfg, once=once)
