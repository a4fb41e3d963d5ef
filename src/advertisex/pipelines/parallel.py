"""Independent steps of a job or of the pipeline, run at once in one Spark session.

Small Spark work is mostly driver-side latency (planning, Delta log reads, commits, a
streaming query's bookkeeping), so two independent steps overlap well even on two cores,
and a big step's tasks share the executors' cores with the other's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

from pyspark import inheritable_thread_target

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_concurrently(spark: SparkSession, *steps: Callable[[], T], stop: threading.Event | None = None) -> list[T]:
    """Run independent ``steps`` (e.g. writes to different tables) at once and wait for all of
    them; returns their results in order. The first failure (in the order of ``steps``) is
    raised after every step has ended, so no step is left half done behind the error.

    Each step runs in a thread that inherits the caller's Spark local properties (job group,
    description) and the session's tags. Ctrl-C sets ``stop`` (for steps that check it
    between their parts) and stops the session's streaming queries, so steps waiting for
    one return; it is raised once every step has ended.
    """
    if len(steps) <= 1:
        return [step() for step in steps]
    pool = ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="advertisex-step")
    try:
        futures = [pool.submit(inheritable_thread_target(spark)(step)) for step in steps]
        # Waiting in short slices lets the main thread see Ctrl-C while the steps run.
        while wait(futures, timeout=0.5).not_done:
            pass
    except KeyboardInterrupt:
        if stop is not None:
            stop.set()
        log.warning("interrupted: stopping %d streaming queries", len(spark.streams.active))
        for query in spark.streams.active:
            query.stop()
        raise
    finally:
        pool.shutdown(wait=True)
    return [future.result() for future in futures]
