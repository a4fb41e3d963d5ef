"""The command line as a user runs it: one readable line and the right exit code for each
predictable failure (docs/CONTRACT.md §4)."""

from __future__ import annotations

import datetime as dt
import re
import socket
import time
from pathlib import Path

import pytest

import advertisex
from advertisex import contract as C
from advertisex import tables
from advertisex.io.dirty_dates import STAGE_GOLD_CAMPAIGN, record_dirty
from advertisex.quality import checks as K
from support import run_cli, write_file
from support_quality import clean, frame


def test_missing_landing_path_is_one_line_error(lake_cfg):
    proc = run_cli("run", "ingest_clicks", "--once", "--set", "landing.clicks=/nonexistent/clicks",
                   "--set", f"lake.root={lake_cfg.lake.root}", "--set", f"checkpoints.root={lake_cfg.checkpoints.root}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "advertisex: error: landing.clicks path does not exist: /nonexistent/clicks"
    )


def test_reset_of_a_job_without_a_checkpoint_is_one_line_error():
    proc = run_cli("reset", "gold", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "advertisex: error: gold keeps no streaming checkpoint, so there is nothing to reset"]


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
    """``pipeline --once`` on a lake whose silver has an impression without campaign_id: gold
    withholds the day (its staged row has a null key), every other step runs, exit code 3."""
    day = dt.date(2026, 11, 20)
    suite = K.suite_of(tables.SILVER_IMPRESSIONS)
    rows = clean(suite, day)
    rows[0]["campaign_id"] = None
    frame(spark, suite, rows).write.format("delta").partitionBy("event_date").save(
        lake_cfg.table_path(tables.SILVER_IMPRESSIONS))
    for table in (tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS):
        table.empty(spark).write.format("delta").partitionBy("event_date").save(lake_cfg.table_path(table))
    write_file(Path(lake_cfg.reference.campaigns), ",".join(C.CAMPAIGN_CSV_COLUMNS) + "\n"
               + "c1,a1,Campaign 1,display,1000000,2026-11-01,2026-12-31\n")
    write_file(Path(lake_cfg.reference.users), ",".join(C.USER_CSV_COLUMNS) + "\nu1,25-34,f,FR,2026-01-01,x\n")
    record_dirty(spark, lake_cfg, [(STAGE_GOLD_CAMPAIGN, "impressions", day)])
    paths = [f"{key}={value}" for key, value in (
        ("lake.root", lake_cfg.lake.root), ("checkpoints.root", lake_cfg.checkpoints.root),
        ("landing.impressions", lake_cfg.landing.impressions), ("landing.clicks", lake_cfg.landing.clicks),
        ("reference.campaigns", lake_cfg.reference.campaigns), ("reference.users", lake_cfg.reference.users),
        ("quality.data_docs_dir", lake_cfg.quality.data_docs_dir),
        ("quality.validations_dir", lake_cfg.quality.validations_dir))]
    proc = run_cli("pipeline", "--once", "--set", "kafka.enabled=false", "--set", "alerting.alertmanager_url=null",
                   *[arg for p in paths for arg in ("--set", p)])
    assert proc.returncode == 3, proc.stderr[-3000:]
    # A quiet console: a line per job as it starts and ends, none of Spark's routine
    # warnings nor its log-level banner (the log4j2 profile the project ships).
    lines = proc.stderr.splitlines()
    assert not [ln for ln in lines if " WARN " in ln or "Setting default log level" in ln], proc.stderr[-3000:]
    assert any(re.search(r"\] gold +started$", ln) for ln in lines)
    assert any(re.search(r"\] silver +done +[\d.]+ s", ln) for ln in lines), proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("advertisex: error: ") and "critical data-quality check(s) failed" in last
    assert "campaign_id_not_null" in last
    gold = lake_cfg.table_path(tables.GOLD_CAMPAIGN_DAILY)
    assert not Path(gold).exists() or spark.read.format("delta").load(gold).where(f"event_date = '{day}'").count() == 0
    results = spark.read.format("delta").load(lake_cfg.table_path(tables.QUALITY_RESULTS))
    assert results.where("NOT success AND table = 'gold/campaign_daily' AND severity = 'critical'").count() > 0


def test_version():
    proc = run_cli("--version", timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"advertisex {advertisex.__version__}")


@pytest.mark.stack
def test_stack_status_exits_non_zero_while_a_service_is_down(stack_cfg):
    up = run_cli("stack", "status", "--set", "monitoring.enabled=false", timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    down = run_cli("stack", "status", "--set", "monitoring.enabled=false", "--set", "kafka.connect_timeout_seconds=2",
                   "--set", f"schema_registry.url=http://127.0.0.1:{port}", timeout=120)
    assert down.returncode == 1
    assert [ln.split()[0] for ln in down.stdout.splitlines() if "'state': 'down'" in ln] == ["schema_registry"]
