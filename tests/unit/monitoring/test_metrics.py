"""Recording writes: rows by table, freshness from the newest event time, event lag by query."""

from __future__ import annotations

import datetime as dt
import time

from advertisex.monitoring import metrics as M


def test_freshness_follows_the_newest_event_time_never_an_older_one() -> None:
    now = dt.datetime.now(dt.UTC)
    M.record_write("test/fresh", 5, now - dt.timedelta(minutes=10), query="test.q")
    M.record_write("test/fresh", 3, now - dt.timedelta(hours=5))  # an older batch: freshness stays
    freshness = M.REGISTRY.get_sample_value("advertisex_table_freshness_seconds", {"table": "test/fresh"})
    assert 600 <= freshness < 600 + 60
    assert M.REGISTRY.get_sample_value("advertisex_rows_written_total", {"table": "test/fresh"}) == 8
    lag = M.REGISTRY.get_sample_value("advertisex_event_lag_seconds", {"query": "test.q"})
    assert 600 <= lag < 660
    assert M.newest_of("test/fresh") == (now - dt.timedelta(minutes=10)).timestamp()
    time.sleep(1.1)
    assert M.REGISTRY.get_sample_value("advertisex_table_freshness_seconds", {"table": "test/fresh"}) > freshness
    M.record_write("test/none", 0, None)
    assert M.newest_of("test/none") is None
