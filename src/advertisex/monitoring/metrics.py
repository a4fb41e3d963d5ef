"""Every metric the pipeline exports, declared once (docs/CONTRACT.md §5).

One :class:`~prometheus_client.CollectorRegistry` per process (:data:`REGISTRY`): the
always-on pipeline serves it at ``monitoring.metrics_port``; a ``--once`` run or a single
job pushes it to the Pushgateway at its end. The rules in ``monitoring/rules/``, the
Grafana dashboard and the console templates query these names; a test checks that
every expression they use returns data from a running pipeline.

Counters count each record once: they are incremented only by a write that committed
rows (a batch replayed after a crash writes nothing, so it counts nothing).
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds: from a sub-second micro-batch to a refresh of many days.
DURATION_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)

RECORDS_INGESTED = Counter(
    "advertisex_records_ingested", "Records landed in bronze, valid or not, by source.",
    ["source"], registry=REGISTRY)
RECORDS_QUARANTINED = Counter(
    "advertisex_records_quarantined", "Records quarantined, by source and reason code.",
    ["source", "reason"], registry=REGISTRY)
ROWS_WRITTEN = Counter(
    "advertisex_rows_written", "Rows a micro-batch or a refresh committed, by table.",
    ["table"], registry=REGISTRY)
STREAM_INPUT_ROWS = Counter(
    "advertisex_stream_input_rows", "Rows a streaming query read from its source (Spark's progress).",
    ["query"], registry=REGISTRY)
STREAM_INPUT_RATE = Gauge(
    "advertisex_stream_input_rows_per_second", "Rows per second arriving at a streaming query's source.",
    ["query"], registry=REGISTRY)
STREAM_PROCESSED_RATE = Gauge(
    "advertisex_stream_processed_rows_per_second", "Rows per second a streaming query processed.",
    ["query"], registry=REGISTRY)
BATCH_DURATION = Histogram(
    "advertisex_batch_duration_seconds", "Duration of a streaming query's micro-batch (trigger execution).",
    ["query"], buckets=DURATION_BUCKETS, registry=REGISTRY)
EVENT_LAG = Gauge(
    "advertisex_event_lag_seconds",
    "Processing time minus the newest event time of a streaming query's last batch.",
    ["query"], registry=REGISTRY)
KAFKA_OFFSETS_BEHIND = Gauge(
    "advertisex_kafka_offsets_behind_latest",
    "Offsets between a Kafka query's last batch and the topic's latest offsets, summed over partitions.",
    ["query"], registry=REGISTRY)
QUERY_ACTIVE = Gauge(
    "advertisex_query_active", "1 while a streaming query runs, 0 once it stopped or failed.",
    ["query"], registry=REGISTRY)
QUERY_RESTARTS = Counter(
    "advertisex_query_restarts", "Restarts of a streaming query after it failed.",
    ["query"], registry=REGISTRY)
TABLE_FRESHNESS = Gauge(
    "advertisex_table_freshness_seconds", "Now minus the newest event time committed to the table.",
    ["table"], registry=REGISTRY)
LAST_SUCCESS = Gauge(
    "advertisex_last_success_timestamp_seconds", "When the job (or refresh step) last ended successfully.",
    ["job"], registry=REGISTRY)
GOLD_REFRESH_DURATION = Histogram(
    "advertisex_gold_refresh_duration_seconds",
    "Duration of one refresh: re-attribution, gold, quality and anomaly checks.",
    buckets=DURATION_BUCKETS, registry=REGISTRY)
QUALITY_FAILURES = Gauge(
    "advertisex_quality_failures", "Failed expectations of the table's last validation, by severity.",
    ["table", "severity"], registry=REGISTRY)
ANOMALIES_OPEN = Gauge(
    "advertisex_anomalies_open", "Anomalies found and not cleared, by rule and severity.",
    ["rule", "severity"], registry=REGISTRY)


# --------------------------------------------------------------------------- recording

_newest: dict[str, float] = {}  # table → newest event time committed, epoch seconds
_lock = threading.Lock()
# What each streaming query (``job.query``) committed in this process, for the jobs'
# summaries; kept with or without monitoring, and counted like the counters (a replay adds
# nothing), so a summary counts each record once.
_tally: collections.Counter[tuple[str, str]] = collections.Counter()
TALLIED = ("records", "quarantined", "rows_written")


def tally(query: str, **figures: int) -> None:
    """Add ``figures`` (of :data:`TALLIED`) to what ``query`` committed in this process."""
    with _lock:
        for name, value in figures.items():
            _tally[(query, name)] += value


def tallied(query: str) -> dict[str, int]:
    """Everything ``query`` committed in this process so far, by figure."""
    with _lock:
        return {name: _tally[(query, name)] for name in TALLIED}


def _freshness(table: str) -> Callable[[], float]:
    return lambda: time.time() - _newest[table]


def note_newest(table: str, newest: dt.datetime | None) -> None:
    """``newest`` (an event time) was committed to ``table``: its freshness counts from the
    newest event time it holds, so an older batch never makes it look fresher."""
    if newest is None:
        return
    ts = newest.timestamp()
    with _lock:
        first = table not in _newest
        if first or ts > _newest[table]:
            _newest[table] = ts
    if first:
        TABLE_FRESHNESS.labels(table=table).set_function(_freshness(table))


def newest_of(table: str) -> float | None:
    """The newest event time committed to ``table`` this run knows of (epoch seconds)."""
    with _lock:
        return _newest.get(table)


def record_write(table: str, rows: int, newest: dt.datetime | None, *, query: str | None = None) -> None:
    """A write committed ``rows`` rows to ``table``, ``newest`` the newest event time among
    them; ``query`` (``job.query``) when a streaming batch wrote them, for its event lag."""
    ROWS_WRITTEN.labels(table=table).inc(rows)
    note_newest(table, newest)
    if query and newest is not None:
        EVENT_LAG.labels(query=query).set(max(0.0, time.time() - newest.timestamp()))
