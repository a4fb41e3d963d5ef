"""The command line as a user runs it: one readable line and the right exit code for each
predictable failure (docs/CONTRACT.md §4)."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from advertisex import tables
from support import run_cli


def test_missing_landing_path_is_one_line_error(lake_cfg):
    proc = run_cli("run", "ingest_clicks", "--once", "--set", "landing.clicks=/nonexistent/clicks",
                   "--set", f"lake.root={lake_cfg.lake.root}", "--set", f"checkpoints.root={lake_cfg.checkpoints.root}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "advertisex: error: landing.clicks path does not exist: /nonexistent/clicks"
    )


def test_unreachable_broker_fails_fast_naming_the_address(tmp_path):
    t0 = time.monotonic()
    proc = run_cli("run", "ingest_impressions", "--once", "--set", "kafka.bootstrap_servers=127.0.0.1:1",
                   "--set", "kafka.connect_timeout_seconds=3", "--set", f"lake.root={tmp_path}", timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("advertisex: error: Kafka broker not reachable at 127.0.0.1:1 within 3s")
    # Fails instead of retrying for minutes as Spark's Kafka source would (the bound is generous:
    # a JVM start on a busy machine plus the 3 s timeout).
    assert time.monotonic() - t0 < 90


def test_cli_exit_code_3_on_critical_failure(spark, lake_cfg):
    row = (dt.date(2026, 11, 20), "c1", "adv", "name", 10, 1, 0, 0, 0, 100, Decimal(0), 0.1, 0.0)
    spark.createDataFrame([row, row], tables.GOLD_CAMPAIGN_DAILY.schema).write.format("delta").partitionBy(
        "event_date").save(lake_cfg.table_path(tables.GOLD_CAMPAIGN_DAILY))  # a duplicate key: critical
    proc = run_cli("run", "quality", "--set", f"lake.root={lake_cfg.lake.root}")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("advertisex: error: 1 critical data-quality check(s)")
