"""Crash points: named places where a test can kill the process, to prove that a crash there
loses and doubles nothing (the rerun repairs it).

``ADVERTISEX_CRASH_AT=POINT[@JOB]`` kills the process the first time it reaches ``POINT``
(in job ``JOB`` only, if given): the Spark driver JVM, then Python, both with SIGKILL, so no
``finally``, no shutdown hook and no Spark clean-up runs, as when a machine dies. Unset, as
outside tests, a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "ADVERTISEX_CRASH_AT"

POINTS: dict[str, str] = {
    "bronze_commit": "a micro-batch's bronze append has committed; its quarantine rows and its checkpoint entry have not",
    "quarantine_write": "a micro-batch's quarantine append has committed; its checkpoint entry has not",
    "silver_insert": "a silver insert has committed; the batch's dirty-date marks and checkpoint entry have not",
    "reattribution": "re-attribution's click step has committed; the conversion step and the clearing of its marks "
                     "have not",
    "gold_replace_before": "gold is about to replace a table's partitions (its audit passed)",
    "gold_replace_after": "gold has replaced one table's partitions; the other tables' and the clearing of its marks "
                          "may not have",
    "reference_merge": "one SCD-2 dimension has committed; the other has not",
}


def crash_point(point: str, job: str) -> None:
    """Die here if ``ADVERTISEX_CRASH_AT`` names this point (and job)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    want, _, want_job = spec.partition("@")
    if want not in POINTS:
        raise ValueError(f"{ENV}={spec}: unknown point {want!r}; the points are {', '.join(POINTS)}")
    if want == point and want_job in ("", job):
        _die()


def _die() -> None:
    from pyspark import SparkContext

    gateway = getattr(SparkContext._active_spark_context, "_gateway", None)
    jvm = getattr(gateway, "proc", None)  # the driver JVM this Python process launched
    if jvm is not None:
        os.kill(jvm.pid, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
