"""Streaming-query metrics from Spark's own progress reports.

Spark calls the listener after every micro-batch of every query of the session (from its
listener bus, on a thread of its own): it only turns the report into metric values and
returns, so it never holds up a query.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from pyspark.sql.streaming import StreamingQueryListener

from advertisex.monitoring import metrics as M

log = logging.getLogger(__name__)


def offsets_behind(latest: str | None, end: str | None) -> int | None:
    """Offsets between a Kafka source's batch end and the topic's latest offsets, summed
    over partitions; None when the source reports no Kafka offsets (a file or Delta source).

    Args:
        latest: the source's ``latestOffset`` JSON (``{"topic": {"0": 120, "1": 80}}``).
        end: the source's ``endOffset`` JSON, the same shape.
    """
    try:
        latest_map, end_map = json.loads(latest or "null"), json.loads(end or "null")
    except ValueError:
        return None
    if not isinstance(latest_map, Mapping) or not isinstance(end_map, Mapping):
        return None
    behind = 0
    for topic, partitions in latest_map.items():
        if not isinstance(partitions, Mapping):
            return None  # not a Kafka offset (e.g. a file source's {"logOffset": 3})
        done = end_map.get(topic, {}) if isinstance(end_map.get(topic), Mapping) else {}
        for partition, offset in partitions.items():
            behind += max(0, int(offset) - int(done.get(partition, offset)))
    return behind


class MetricsListener(StreamingQueryListener):
    """Feeds the per-query metrics of :mod:`advertisex.monitoring.metrics`."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # a termination event carries the query's id only

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - Spark's name
        if event.name:
            self._names[str(event.id)] = event.name
            M.QUERY_ACTIVE.labels(query=event.name).set(1)

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802 - Spark's name
        try:
            self._progress(event.progress)
        except Exception:  # noqa: BLE001 - a metric must never fail a query; the report is logged
            log.exception("could not read a streaming progress report into metrics")

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802 - Spark's name
        return

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802 - Spark's name
        name = self._names.pop(str(event.id), None)
        if name:
            M.QUERY_ACTIVE.labels(query=name).set(0)

    @staticmethod
    def _progress(p: Any) -> None:
        query = p.name
        if not query:
            return
        M.STREAM_INPUT_ROWS.labels(query=query).inc(p.numInputRows)
        M.STREAM_INPUT_RATE.labels(query=query).set(_number(p.inputRowsPerSecond))
        M.STREAM_PROCESSED_RATE.labels(query=query).set(_number(p.processedRowsPerSecond))
        total_ms = (p.durationMs or {}).get("triggerExecution")
        if total_ms is not None and p.numInputRows > 0:
            M.BATCH_DURATION.labels(query=query).observe(total_ms / 1000)
        behind = [offsets_behind(s.latestOffset, s.endOffset) for s in p.sources]
        known = [b for b in behind if b is not None]
        if known:
            M.KAFKA_OFFSETS_BEHIND.labels(query=query).set(sum(known))


def _number(value: Any) -> float:
    """A progress rate as a number (Spark reports NaN before a query's first full batch)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if out != out else out  # NaN → 0
