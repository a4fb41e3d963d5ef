"""The one streaming runner every job uses: sources, checkpoints, transaction ids, failures.

A job is one or more :class:`Stream` s: a source (Kafka topic, landing folder, Delta
table) and a ``foreachBatch`` body. Each query has its own checkpoint
(``{checkpoints.root}/{job}/{query}``) and writes with ``txnAppId`` =
``{streaming.txn_app_id}.{job}.{query}`` and ``txnVersion`` = the batch id, so a batch
replayed after a crash writes nothing twice (Delta docs, "Idempotent table writes in
foreachBatch"). The checkpoint's offset log fixes, before a batch runs, which offsets or
which files (by path) belong to it, so a replay sees exactly the same input. Locks, lost
checkpoints and resets: io/checkpoints.py.

:func:`run_stream` runs one query once over what is available now (``availableNow``)
or on a processing-time trigger until it is stopped.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F
from py4j.java_gateway import is_instance_of
from py4j.protocol import Py4JJavaError
from pyspark import SparkContext
from pyspark.sql import SparkSession

from advertisex.config import Config
from advertisex.errors import AdvertisexError, BatchInterruptedError
from advertisex.io.checkpoints import (
    Resume,
    lock_checkpoint,
    read_resume,
    refuse_lost_checkpoint,
    release_checkpoint,
    txn_app_id,
)
from advertisex.io.fs import require_path
from advertisex.io.security import spark_options
from advertisex.monitoring import metrics as M
from advertisex.transforms.lines import file_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

    from advertisex.tables import Table

log = logging.getLogger(__name__)

BatchFn = Callable[["DataFrame", int], None]
# maxFileAge for the file sources: longer than any file can be old.
FILE_AGE_UNLIMITED = "36500d"


class StreamFailedError(AdvertisexError):
    """A streaming query stopped with an error."""


@dataclass(frozen=True)
class Lands:
    """Where a bronze query's records land: how ``advertisex reset`` finds where it stood."""

    table: Table
    source: str  # the feed's name in quarantine (contract.SOURCE_*)
    topic: str | None = None  # its Kafka topic; None for landing files


@dataclass(frozen=True)
class Stream:
    """One streaming query of a job.

    ``source`` and ``batch`` are factories, called each time the query starts: a restarted
    query gets a fresh source plan (starting where its :class:`Resume` says, which matters
    only on a new checkpoint) and a fresh batch function (which may keep state for the life
    of one query, such as the schema ids a bid stream has met).
    """

    job: str
    query: str
    source: Callable[[Resume], DataFrame]
    batch: Callable[[str], BatchFn]  # called with the query's txnAppId
    lands: Lands | None = None  # a bronze query's table, feed and topic

    @property
    def name(self) -> str:
        """``{job}.{query}``, the query's name in Spark and in the logs."""
        return f"{self.job}.{self.query}"


# --------------------------------------------------------------------------- sources


def kafka_source(spark: SparkSession, cfg: Config, topic: str, resume: Resume) -> DataFrame:
    """A Kafka topic as a stream of ``key``, ``value`` and the message's coordinates, from
    ``kafka.starting_offsets`` or, after a reset, from the offsets ``resume`` names."""
    starting = json.dumps(resume.kafka_offsets) if resume.kafka_offsets else cfg.kafka.starting_offsets
    timeout_ms = str(int(cfg.kafka.connect_timeout_seconds * 1000))
    return (
        spark.readStream.format("kafka")
        .options(**spark_options(cfg.kafka))
        .option("subscribe", topic)
        .option("startingOffsets", starting)
        .option("maxOffsetsPerTrigger", str(cfg.kafka.max_offsets_per_trigger))
        .option("failOnDataLoss", str(cfg.kafka.fail_on_data_loss).lower())
        .option("kafka.request.timeout.ms", timeout_ms)
        .option("kafka.default.api.timeout.ms", timeout_ms)
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


def file_source(spark: SparkSession, cfg: Config, path: str, glob: str, what: str, resume: Resume) -> DataFrame:
    """The lines of the files under ``path`` matching ``glob``, each file once by path (after
    a reset, not the files bronze held then: ``resume.files_done``).

    Raises:
        InputPathError: ``path`` does not exist (``what`` names its config key).
    """
    require_path(spark, path, what)
    source = (
        spark.readStream.format("text")
        .option("lineSep", "\n")  # JSON Lines and CSV records end at \n only (a CR is data)
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", glob)
        .option("maxFilesPerTrigger", str(cfg.streaming.max_files_per_trigger))
        # Spark ignores a file older than the newest one it has seen by more than maxFileAge
        # (7 days by default): a file delivered late, or copied with its old modification
        # time, would be skipped without a word. Every file counts, however old.
        .option("maxFileAge", FILE_AGE_UNLIMITED)
        # A file that cannot be read is moved aside while its batch runs (io/bad_files.py);
        # the batch's plan, fixed before, then skips it instead of failing.
        .option("ignoreMissingFiles", "true")
        .load(path)
    )
    lines = file_lines(source)
    if resume.files_done:
        # Whole files only: the lines of every other file stay together, as numbering needs.
        lines = lines.where(~file_name(F.col("file_path")).isin(*resume.files_done))
    return lines


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


def delta_source(spark: SparkSession, path: str, _resume: Resume, *, drop: tuple[str, ...] = ()) -> DataFrame:
    """A Delta table as a stream of its appended rows, without the columns in ``drop``; from
    the table's start, also after a reset (its reader inserts only the rows it lacks).

    ``foreachBatch`` hands over an already-planned batch (no column pruning below it), so
    columns a reader never uses are dropped here, at the source.
    """
    return spark.readStream.format("delta").option("maxFilesPerTrigger", "1000").load(path).drop(*drop)


# --------------------------------------------------------------------------- running

def start_stream(stream: Stream, cfg: Config, *, once: bool) -> StreamingQuery:
    """Start ``stream`` with its own checkpoint, locked for this process (and refused when the
    checkpoint was lost): ``availableNow`` with ``once``, else every
    ``streaming.trigger_interval_seconds``."""
    lock_checkpoint(stream, cfg)
    spark = SparkSession.active()
    resume = read_resume(spark, cfg, stream)
    refuse_lost_checkpoint(spark, cfg, stream, resume)
    writer = (
        stream.source(resume).writeStream.queryName(stream.name)
        .option("checkpointLocation", cfg.checkpoint_path(stream.job, stream.query))
        .foreachBatch(interruptible(stream.name, stream.batch(txn_app_id(cfg, stream.job, stream.query,
                                                                           resume.generation))))
    )
    if once:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{cfg.streaming.trigger_interval_seconds:g} seconds")
    return writer.start()


# The JVM exceptions Spark takes for an interruption (``StreamExecution.IO_EXCEPTION_NAMES``).
_INTERRUPTIONS = ("java.lang.InterruptedException", "java.io.InterruptedIOException",
                  "java.nio.channels.ClosedByInterruptException")


def interruptible(name: str, fn: BatchFn) -> BatchFn:
    """``fn``, the batch of query ``name``, whose interruption by its query's stop reaches
    Spark as a one-line error (and the log as a one-line warning).

    A query stopped mid-batch interrupts the batch's Spark calls. Spark tells that from a
    failure by matching the Python error's text against a pattern (``StreamExecution.
    PROXY_ERROR``: py4j's words, then the exception's class) that recurses once per
    character: over py4j's own error, which holds the whole JVM stack trace, it overflows
    the stack, and the stop is logged as a ``StackOverflowError`` and a thousand lines of
    trace. The same words in one line, without the chained traceback, match quietly.
    """

    def batch(df: DataFrame, batch_id: int) -> None:
        try:
            fn(df, batch_id)
        except Py4JJavaError as exc:
            cause = interruption(exc.java_exception)
            if cause is None:
                raise
            log.warning("%s: batch %d interrupted by the stop; it is replayed at the next start", name, batch_id)
            raise BatchInterruptedError(f"py4j.protocol.Py4JJavaError: An error occurred while calling batch "
                                        f"{batch_id}: {cause}") from None

    return batch


def interruption(java_exc: Any) -> str | None:
    """The interruption (its class's name in :data:`_INTERRUPTIONS`) in the chain of causes of
    the JVM exception ``java_exc``; None when there is none."""
    gateway = SparkContext._gateway
    while java_exc is not None:
        found = next((name for name in _INTERRUPTIONS if is_instance_of(gateway, java_exc, name)), None)
        if found:
            return found
        cause = java_exc.getCause()
        java_exc = None if cause is None or cause.equals(java_exc) else cause
    return None


def run_stream(stream: Stream, cfg: Config, *, once: bool) -> dict[str, Any]:
    """Run ``stream`` until it ends: with ``once`` after everything available now, else when
    stopped (Ctrl-C stops it cleanly: the current batch finishes or is replayed on restart).

    Returns:
        ``batches``; what its batches committed, each record once (not Spark's
        ``numInputRows``, which counts a record again whenever a batch scans its input
        again): ``records`` landed in bronze, valid or not, ``quarantined`` of them,
        ``rows_written`` to every table; and ``stream_seconds``.

    Raises:
        StreamFailedError: the query failed; one line naming it and the cause.
    """
    t0 = time.monotonic()
    batches = 0
    before = M.tallied(stream.name)
    try:
        for attempt in (1, 2):
            q = start_stream(stream, cfg, once=once)
            try:
                q.awaitTermination()
            except KeyboardInterrupt:
                log.warning("interrupted: stopping %s", stream.name)
            except Exception as exc:  # noqa: BLE001 - inspected below, re-raised as StreamFailedError
                log.debug("query %s ended with %s", stream.name, exc)
            finally:
                q.stop()
            batches += len(q.recentProgress)
            exc = q.exception()
            if exc is None:
                break
            if attempt == 1 and is_kafka_metrics_npe(exc):
                # SPARK-57438 (Spark 4.1.1): after a restart, the Kafka source's progress metrics
                # throw a NullPointerException once the replayed batch has been committed. The
                # batch is done (its commit is in the checkpoint), so starting again continues
                # from the next batch; the Delta writes of the replay were skipped by txnVersion.
                log.warning("%s: restarting after SPARK-57438 (Kafka metrics NPE on a replayed batch)",
                            stream.name)
                continue
            raise StreamFailedError(f"{stream.name} failed: {first_line(exc)}")
    finally:
        release_checkpoint(stream, cfg)
    after = M.tallied(stream.name)
    return {"batches": batches, **{k: after[k] - before[k] for k in M.TALLIED},
            "stream_seconds": round(time.monotonic() - t0, 2)}


def is_kafka_metrics_npe(exc: BaseException) -> bool:
    """Whether ``exc`` is SPARK-57438's NullPointerException (see :func:`run_stream`)."""
    text = str(getattr(exc, "desc", None) or exc)
    return 'return value of "scala.Option.get()" is null' in text and "IterableOps.map" in text


_PYTHON_ERROR = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception)): (.+)$")
# Spark's Kafka source, when messages it has to read are gone (failOnDataLoss): while reading a
# batch, or while planning one (the partition's earliest offset moved past the next one).
_KAFKA_UNREADABLE = re.compile(r"Could not read records in offset \[(\d+), (\d+)\) for topic partition (\S+)-(\d+)")
_KAFKA_SKIPPED = re.compile(r"Partition (\S+)-(\d+)'s offset was changed from (\d+) to (\d+)")


def first_line(exc: BaseException) -> str:
    """The line of a (JVM) exception's message that says what went wrong.

    py4j's own "An error occurred while calling o96.sql." is skipped for the JVM's message
    under it; an error raised by Python code inside a batch arrives as "An exception was
    raised by the Python Proxy" with the Python traceback: its exception line is the cause
    (or, when that is py4j's, the JVM's line under it). Kafka messages deleted before they
    were read are said in words (:func:`kafka_data_lost`).
    """
    text = str(getattr(exc, "desc", None) or exc)
    lost = kafka_data_lost(text)
    if lost:
        return lost
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if "raised by the Python Proxy" in text:
        found = [(i, m) for i, m in enumerate(map(_PYTHON_ERROR.match, lines)) if m]
        if found:
            i, m = found[-1]
            if m.group(1) == "Py4JJavaError" and i + 1 < len(lines):
                return lines[i + 1].removeprefix(": ")
            return f"{m.group(1)}: {m.group(2)}"
    if len(lines) > 1 and lines[0].startswith("An error occurred while calling"):
        lines = [lines[1].removeprefix(": ")]
    return lines[0] if lines else type(exc).__name__


def kafka_data_lost(text: str) -> str | None:
    """One line naming the topic, partition and offsets when ``text`` is Spark's Kafka source
    failing on messages deleted before they were read; None otherwise."""
    found = _KAFKA_UNREADABLE.search(text)
    if found:
        start, end, topic, partition = found.groups()
        what = (f"messages from offset {start} were deleted before they were read (the batch needed offsets "
                f"{start} to {int(end) - 1})")
    elif found := _KAFKA_SKIPPED.search(text):
        topic, partition, start, end = found.groups()
        what = f"offsets {start} to {int(end) - 1} were deleted before they were read"
    else:
        return None
    return (f"Kafka topic {topic} partition {partition}: {what}, by retention or a recreated topic; deliver them "
            f"again if the producer can, or go on without them with --set kafka.fail_on_data_loss=false "
            f"(docs/RUNBOOK.md)")
