"""Job ``ingest_clicks`` as a user runs it, killed mid-run; restarted, every line lands once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from chispa import assert_df_equality

from advertisex import contract as C
from advertisex import tables
from advertisex.pipelines import ingest_clicks
from support import cli, cli_env, write_file

HEADER = C.CLICK_CSV_HEADER


def test_sigkill_mid_run_then_restart_ingests_every_line_exactly_once(spark, lake_cfg, tmp_path):
    landing = Path(lake_cfg.landing.clicks)
    n_files, per_file = 12, 50
    for f in range(n_files):
        rows = [f"e{f}-{i},click,2026-11-20T10:{i % 60:02d}:00Z,u{i},c1,a1,,," for i in range(per_file)]
        write_file(landing / f"f{f:02d}.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    args = [*cli("run", "ingest_clicks", "--once"),
            "--set", f"lake.root={lake_cfg.lake.root}", "--set", f"checkpoints.root={lake_cfg.checkpoints.root}",
            "--set", f"landing.clicks={landing}", "--set", "streaming.max_files_per_trigger=1",
            "--set", f"streaming.txn_app_id={lake_cfg.streaming.txn_app_id}"]
    env = cli_env()
    log_path = tmp_path / "job.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    delta_log = Path(lake_cfg.table_path(tables.BRONZE_CLICK_EVENTS)) / "_delta_log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        commits = list(delta_log.glob("*.json")) if delta_log.is_dir() else []
        if len(commits) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the job finished before it could be killed: " + log_path.read_text()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the driver JVM and python, mid-run
    proc.wait(timeout=30)
    partial = spark.read.format("delta").load(lake_cfg.table_path(tables.BRONZE_CLICK_EVENTS)).count()
    assert 0 < partial < n_files * per_file

    # The restart (here in the test's own driver, on the same checkpoint, which the killed
    # process no longer locks) replays the half-written batch with the files its log recorded,
    # then takes the rest in full-size batches.
    ingest_clicks.run(spark, lake_cfg, once=True)
    table = spark.read.format("delta").load(lake_cfg.table_path(tables.BRONZE_CLICK_EVENTS))
    expected = spark.createDataFrame(
        [(f"e{f}-{i}", f"file:{landing / f'f{f:02d}.csv'}:{i + 2}") for f in range(n_files) for i in range(per_file)],
        "event_id string, origin string",
    )
    assert_df_equality(table.select("event_id", "origin"), expected, ignore_row_order=True, ignore_nullable=True)
