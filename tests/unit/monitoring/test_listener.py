"""The streaming-query listener: Spark's progress reports into metrics."""

from __future__ import annotations

import json
import time

from advertisex.monitoring import metrics as M
from advertisex.monitoring.export import watch
from advertisex.monitoring.listener import offsets_behind


def test_offsets_behind_sums_the_partitions_and_ignores_other_sources() -> None:
    latest = json.dumps({"t": {"0": 120, "1": 80}})
    assert offsets_behind(latest, json.dumps({"t": {"0": 100, "1": 80}})) == 20
    assert offsets_behind(latest, None) is None  # no batch yet: how far behind is not known
    assert offsets_behind(json.dumps({"logOffset": 3}), json.dumps({"logOffset": 2})) is None
    assert offsets_behind(None, None) is None
    assert offsets_behind("not json", "{}") is None


def _sample(name: str, query: str) -> float | None:
    return M.REGISTRY.get_sample_value(name, {"query": query})


def test_a_running_query_feeds_its_metrics(spark, lake_cfg) -> None:
    """A real query's progress: rows in, rates, batch durations; active while it runs."""
    assert lake_cfg.monitoring.enabled
    watch(spark, lake_cfg)
    watch(spark, lake_cfg)  # once per session: a second listener would count every batch twice
    before = _sample("advertisex_stream_input_rows_total", "test.rate") or 0
    seen: list[int] = []
    q = (spark.readStream.format("rate").option("rowsPerSecond", 50).load().writeStream.queryName("test.rate")
         .foreachBatch(lambda df, batch_id: seen.append(df.count())).trigger(processingTime="200 milliseconds")
         .start())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (sum(seen) < 20 or len(q.recentProgress) < 3):
            time.sleep(0.2)
        assert _sample("advertisex_query_active", "test.rate") == 1
    finally:
        q.stop()
    progress_rows = sum(p["numInputRows"] for p in q.recentProgress)

    def delivered() -> bool:  # the listener bus delivers the last reports after stop() returns
        counted = (_sample("advertisex_stream_input_rows_total", "test.rate") or 0) - before
        return counted == progress_rows and _sample("advertisex_query_active", "test.rate") == 0

    deadline = time.monotonic() + 30
    while not delivered() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert delivered() and progress_rows > 0
    assert _sample("advertisex_batch_duration_seconds_count", "test.rate") >= 1
