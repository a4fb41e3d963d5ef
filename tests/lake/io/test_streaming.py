"""The streaming runner against a real query: a stop in the middle of a batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyspark.sql.functions as F

from advertisex.io.streaming import Stream, start_stream


@contextmanager
def jvm_stderr(spark) -> Iterator[list[str]]:
    """What the JVM prints to its ``System.err`` while inside (a thread's uncaught error goes
    there; log4j's console keeps the stream it was configured with)."""
    jvm = spark.sparkContext._jvm
    buffer = jvm.java.io.ByteArrayOutputStream()
    before = jvm.java.lang.System.err
    jvm.java.lang.System.setErr(jvm.java.io.PrintStream(buffer, True))
    printed: list[str] = []
    try:
        yield printed
    finally:
        jvm.java.lang.System.setErr(before)
        printed.append(buffer.toString())


def test_a_stop_in_the_middle_of_a_batch_ends_the_query_without_a_trace(spark, lake_cfg, caplog) -> None:
    busy = threading.Event()

    def long_batch(_df, _batch_id: int) -> None:
        busy.set()
        spark.range(0, 10**12, numPartitions=2).agg(F.sum(F.sqrt("id"))).collect()  # hours: stopped before

    stream = Stream("test", "long", source=lambda _resume: spark.readStream.format("rate").load(),
                    batch=lambda _txn: long_batch)
    query = start_stream(stream, lake_cfg, once=False)
    try:
        assert busy.wait(120), "the first batch never started"
    finally:
        with jvm_stderr(spark) as printed:
            query.stop()  # interrupts the batch, and returns when the query's thread has ended
    assert query.exception() is None
    # Without the one-line error, Spark's test of whether the stop interrupted the batch
    # overflowed the stack: "Exception in thread ... java.lang.StackOverflowError", then its trace.
    assert "Exception" not in printed[0] and "\tat " not in printed[0], printed[0][:2000]
    assert "test.long: batch 0 interrupted by the stop; it is replayed at the next start" in caplog.messages
