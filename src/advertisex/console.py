"""What the command line shows while it works: how much it says (``--quiet``, ``--verbose``),
one line per job as it starts and ends, and the run's results for schedulers (``--output json``).

Progress and job lines go to stderr, results to stdout, so ``--output json`` prints JSON only.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from advertisex.errors import BatchInterruptedError
from advertisex.monitoring.metrics import TALLIED

QUIET, NORMAL, VERBOSE = "quiet", "normal", "verbose"
SPARK_LEVEL = {QUIET: "ERROR", NORMAL: "ERROR", VERBOSE: "WARN"}
PYTHON_LEVEL = {QUIET: logging.ERROR, NORMAL: logging.WARNING, VERBOSE: logging.INFO}


def configure_logging(verbosity: str) -> None:
    """Python's own log lines at the level ``verbosity`` asks for (the JVM's: ``spark.log_level``)."""
    logging.basicConfig(level=PYTHON_LEVEL[verbosity], format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines are Spark's gateway chatter
    logging.getLogger("py4j.clientserver").addFilter(_no_interrupted_batches)


def _no_interrupted_batches(record: logging.LogRecord) -> bool:
    """py4j logs each error a batch raises with its traceback; a batch interrupted by its
    query's stop is no error (it is replayed), and the batch's own warning says so."""
    return not (record.exc_info and isinstance(record.exc_info[1], BatchInterruptedError))


def progress_bar(verbosity: str) -> bool:
    """Spark's stage progress bar on long work, when a person watches a terminal."""
    return verbosity != QUIET and sys.stderr.isatty()


def figures(summary: Any) -> dict[str, int]:
    """The records a job committed (``records``, ``quarantined``, ``rows_written``), summed over
    its streams wherever they sit in its summary."""
    out = dict.fromkeys(TALLIED, 0)
    if isinstance(summary, Mapping):
        for key, value in summary.items():
            if key in TALLIED and isinstance(value, int):
                out[key] += value
            else:
                for k, v in figures(value).items():
                    out[k] += v
    return out


def job_line(name: str, summary: Mapping[str, Any]) -> str:
    """One line for a job that ended: its seconds, then what it committed, or else its first
    plain figures (gold's dates, a skip's reason)."""
    if "skipped" in summary:
        return f"{name:<22} skipped ({summary['skipped']})"
    parts = [f"{summary.get('seconds', 0):.1f} s"] if "seconds" in summary else []
    tallied = figures(summary)
    if any(k in TALLIED for k in _keys(summary)):  # a job with streams, even one that committed nothing
        parts += [f"{tallied['records']:,} records in" if tallied["records"] else None,
                  f"{tallied['quarantined']:,} quarantined" if tallied["records"] else None,
                  f"{tallied['rows_written']:,} rows written"]
    else:
        parts += [f"{k} {v}" for k, v in summary.items()
                  if k != "seconds" and isinstance(v, int | float | str) and len(str(v)) <= 40][:3]
    return f"{name:<22} done   " + ", ".join(p for p in parts if p)


def _keys(summary: Any) -> set[str]:
    if not isinstance(summary, Mapping):
        return set()
    return set(summary).union(*(_keys(v) for v in summary.values()))


class JobLines:
    """``run_pipeline``'s ``on_job``: a line on stderr when a job starts and when it ends
    (nothing with ``--quiet``)."""

    def __init__(self, verbosity: str) -> None:
        self.enabled = verbosity != QUIET
        self.t0 = time.monotonic()

    def __call__(self, name: str, summary: Mapping[str, Any] | None) -> None:
        if not self.enabled:
            return
        elapsed = f"[{time.monotonic() - self.t0:6.1f} s]"
        text = f"{name:<22} started" if summary is None else job_line(name, summary)
        print(f"{elapsed} {text}", file=sys.stderr, flush=True)


def print_summary(title: str, summary: Mapping[str, Any]) -> None:
    """A job's whole summary, indented, on stdout."""
    print(f"== {title}")
    for key, value in summary.items():
        if isinstance(value, Mapping):
            print_summary(f"{title} / {key}", value)
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            print(f"   {key:<28} {shown}")


def print_json(command: str, started: float, results: Mapping[str, Any], *, code: int = 0,
               error: str | None = None) -> None:
    """The run's results as one JSON document on stdout, for schedulers."""
    doc = {"command": command, "status": "succeeded" if code == 0 else "failed", "exit_code": code,
           "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
           "seconds": round(time.time() - started, 2), "error": error, "jobs": dict(results)}
    print(json.dumps(doc, default=str, indent=2))
