"""File-fed bronze jobs on real Delta tables: CSV clicks and JSON Lines backfill, exactly once by path."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chispa import assert_df_equality

from advertisex import contract as C
from advertisex.pipelines import bronze

ROOT = Path(__file__).resolve().parents[2]
HEADER = C.CLICK_CSV_HEADER


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")


def _bronze(spark, cfg, table: str):
    return spark.read.format("delta").load(cfg.table_path(table))


def _snapshot(spark, cfg, table: str):
    return _bronze(spark, cfg, table).drop("ingested_at")


def test_csv_ingest_once_by_path_rerun_and_new_file(spark, lake_cfg):
    landing = Path(lake_cfg.landing.clicks)
    _write(landing / "d1" / "a.csv", f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\ne2,click,bad,u1,c1,a1,,,\n")
    _write(
        landing / "d1" / "b.csv.gz",
        f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\ne3,conversion,1795176000000,u2,c2,,,buy,3.5\n",
    )
    _write(landing / "d1" / "ignored.txt", "not a csv file\n")

    first = bronze.run_ingest_clicks(spark, lake_cfg, once=True)
    # Spark counts the lines of each scan of the batch (the CSV header is looked up in a second scan).
    assert first["batches"] == 1 and first["input_rows"] > 0

    got = _bronze(spark, lake_cfg, C.BRONZE_CLICK_EVENTS).select(
        "event_id", "event_type", "event_date", "quarantine_reason", "origin"
    )
    a, b = (f"file:{landing / 'd1' / n}" for n in ("a.csv", "b.csv.gz"))
    import datetime as dt

    d = dt.date(2026, 11, 20)
    expected = spark.createDataFrame(
        [
            ("e1", "click", d, None, f"{a}:2"),
            ("e2", "click", None, C.REASON_BAD_EVENT_TIME, f"{a}:3"),
            ("e1", "click", d, None, f"{b}:2"),  # same event in two files: bronze keeps both, silver merges
            ("e3", "conversion", d, None, f"{b}:3"),
        ],
        "event_id string, event_type string, event_date date, quarantine_reason string, origin string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    quarantine = spark.read.format("delta").load(lake_cfg.table_path(C.QUARANTINE))
    assert_df_equality(
        quarantine.select("source", "reason", "raw", "origin"),
        spark.createDataFrame(
            [("click_events", "bad_event_time", "e2,click,bad,u1,c1,a1,,,", f"{a}:3")],
            "source string, reason string, raw string, origin string",
        ),
        ignore_nullable=True,
    )

    before = _snapshot(spark, lake_cfg, C.BRONZE_CLICK_EVENTS)
    before_rows = sorted(map(tuple, before.collect()))
    again = bronze.run_ingest_clicks(spark, lake_cfg, once=True)
    assert again["input_rows"] == 0
    assert sorted(map(tuple, _snapshot(spark, lake_cfg, C.BRONZE_CLICK_EVENTS).collect())) == before_rows

    _write(landing / "d2" / "c.csv", f"{HEADER}\ne4,click,2026-11-21T00:00:00Z,u1,c1,a1,,,\n")
    bronze.run_ingest_clicks(spark, lake_cfg, once=True)
    after = sorted(map(tuple, _snapshot(spark, lake_cfg, C.BRONZE_CLICK_EVENTS).collect()))
    added = [row for row in after if row not in before_rows]
    assert len(after) == 5
    assert [r[1] for r in added] == ["e4"]  # column 1 is event_id


def test_backfill_same_table_shape_and_replayed_batch_is_a_no_op(spark, lake_cfg):
    landing = Path(lake_cfg.landing.impressions)
    rec = (
        '{{"impression_id":"{i}","event_time":"2026-11-20T10:00:00Z","user_id":"u","campaign_id":"c",'
        '"ad_creative_id":"a","website":"w.com","cost_micros":{c}}}'
    )
    _write(landing / "h1.jsonl", "\n".join([rec.format(i="i1", c=5), "{oops", rec.format(i="i2", c=-1)]) + "\n")
    _write(landing / "h2.json.gz", rec.format(i="i3", c=7) + "\n")
    # Settings under which Spark packs small files into one task and splits h1.jsonl (~400 bytes)
    # into 64-byte blocks read by different tasks: line numbers must still be each file's own.
    packing = {"spark.sql.files.openCostInBytes": "1", "spark.sql.files.maxPartitionBytes": "64",
               "spark.sql.files.minPartitionNum": "1"}
    old = {k: spark.conf.get(k, None) for k in packing}
    for k, v in packing.items():
        spark.conf.set(k, v)
    try:
        assert spark.read.format("text").load(str(landing / "h1.jsonl")).rdd.getNumPartitions() > 1  # it is split
        bronze.run_backfill_impressions(spark, lake_cfg, once=True)
    finally:
        for k, v in old.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)
    got = _bronze(spark, lake_cfg, C.BRONZE_IMPRESSIONS)
    assert got.schema.simpleString() == bronze.T.conform(bronze.T.BRONZE_IMPRESSIONS_SCHEMA)(got).schema.simpleString()
    assert_df_equality(
        got.select("impression_id", "cost_micros", "quarantine_reason", "source_line"),
        spark.createDataFrame(
            [("i1", 5, None, 1), (None, None, "bad_json", 2), ("i2", -1, "negative_cost", 3), ("i3", 7, None, 1)],
            "impression_id string, cost_micros long, quarantine_reason string, source_line long",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )

    # Replaying batch 0 of the same query (as after a crash between commit and checkpoint) adds nothing.
    app_id = bronze.txn_app_id(lake_cfg, "backfill_impressions", "files")
    files = bronze.file_lines(spark.read.format("text").option("lineSep", "\n").load(str(landing / "h2.json.gz")))
    bronze.backfill_batch(lake_cfg, app_id)(files, 0)
    assert _bronze(spark, lake_cfg, C.BRONZE_IMPRESSIONS).count() == 4
    # A new batch id with the same content is written (proves the replay was skipped, not failed).
    bronze.backfill_batch(lake_cfg, app_id)(files, 99)
    assert _bronze(spark, lake_cfg, C.BRONZE_IMPRESSIONS).count() == 5


def test_origin_names_the_file_as_it_is_named(spark, lake_cfg):
    """Spark hands file paths over as URIs (a space as %20, [ as %5B); origin has the name
    itself, a name holding glob syntax is read as a name, and a literal %20 or + stays."""
    landing = Path(lake_cfg.landing.clicks)
    names = ["odd [1] name*.csv", "a%20b+c.csv", "c{d,e}.csv.gz", "odd 1 name.csv"]  # [1] would match the last
    for i, name in enumerate(names):
        _write(landing / name, f"{HEADER}\ne{i},click,2026-11-20T10:00:00Z,u1,c1,a1,,,\n")
    bronze.run_ingest_clicks(spark, lake_cfg, once=True)
    assert_df_equality(
        _bronze(spark, lake_cfg, C.BRONZE_CLICK_EVENTS).select("event_id", "origin", "source_file"),
        spark.createDataFrame(
            [(f"e{i}", f"file:{landing / name}:2", str(landing / name)) for i, name in enumerate(names)],
            "event_id string, origin string, source_file string",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_quarantine_commit_lost_in_a_crash_is_made_by_the_replay_once(spark, lake_cfg):
    """A crash after the bronze commit and before the quarantine commit: replaying the batch
    writes no bronze row and quarantines exactly the batch's bad rows; a batch without bad
    rows makes no quarantine commit."""
    import shutil

    from delta.tables import DeltaTable

    landing = Path(lake_cfg.landing.impressions)
    rec = ('{"impression_id":"k1","event_time":"2026-11-20T10:00:00Z","user_id":"u","campaign_id":"c",'
           '"ad_creative_id":"a","website":"w.com","cost_micros":5}')
    _write(landing / "bad.jsonl", rec + "\n{oops\n")
    _write(landing / "good.jsonl", rec.replace("k1", "k2") + "\n")
    app_id = bronze.txn_app_id(lake_cfg, "backfill_impressions", "files")

    def lines(name):
        return bronze.file_lines(spark.read.format("text").option("lineSep", "\n").load(str(landing / name)))

    quarantine = lake_cfg.table_path(C.QUARANTINE)
    bronze.backfill_batch(lake_cfg, app_id)(lines("bad.jsonl"), 0)
    shutil.rmtree(quarantine)  # the quarantine commit of batch 0 never happened
    for _ in range(2):
        bronze.backfill_batch(lake_cfg, app_id)(lines("bad.jsonl"), 0)
    assert _bronze(spark, lake_cfg, C.BRONZE_IMPRESSIONS).count() == 2
    assert_df_equality(
        spark.read.format("delta").load(quarantine).select("source", "reason", "raw", "origin"),
        spark.createDataFrame(
            [(C.SOURCE_IMPRESSIONS, C.REASON_BAD_JSON, "{oops", f"file:{landing / 'bad.jsonl'}:2")],
            "source string, reason string, raw string, origin string",
        ),
        ignore_nullable=True,
    )
    version = DeltaTable.forPath(spark, quarantine).history(1).first().version
    bronze.backfill_batch(lake_cfg, app_id)(lines("good.jsonl"), 1)
    assert _bronze(spark, lake_cfg, C.BRONZE_IMPRESSIONS).count() == 3
    assert DeltaTable.forPath(spark, quarantine).history(1).first().version == version


def test_missing_landing_path_is_one_line_error(lake_cfg):
    env = {**os.environ, "ADVERTISEX_HOME": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "advertisex.cli", "run", "ingest_clicks", "--once", "--config",
         str(ROOT / "conf" / "test.yaml"), "--set", "landing.clicks=/nonexistent/clicks",
         "--set", f"lake.root={lake_cfg.lake.root}", "--set", f"checkpoints.root={lake_cfg.checkpoints.root}"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "advertisex: error: landing.clicks path does not exist: /nonexistent/clicks"
    )


def test_sigkill_mid_run_then_restart_ingests_every_line_exactly_once(spark, lake_cfg, tmp_path):
    landing = Path(lake_cfg.landing.clicks)
    n_files, per_file = 12, 50
    for f in range(n_files):
        rows = [f"e{f}-{i},click,2026-11-20T10:{i % 60:02d}:00Z,u{i},c1,a1,,," for i in range(per_file)]
        _write(landing / f"f{f:02d}.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    args = [sys.executable, "-m", "advertisex.cli", "run", "ingest_clicks", "--once",
            "--config", str(ROOT / "conf" / "test.yaml"),
            "--set", f"lake.root={lake_cfg.lake.root}", "--set", f"checkpoints.root={lake_cfg.checkpoints.root}",
            "--set", f"landing.clicks={landing}", "--set", "streaming.max_files_per_trigger=1",
            "--set", f"streaming.txn_app_id={lake_cfg.streaming.txn_app_id}"]
    env = {**os.environ, "ADVERTISEX_HOME": str(ROOT)}
    log_path = tmp_path / "job.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    delta_log = Path(lake_cfg.table_path(C.BRONZE_CLICK_EVENTS)) / "_delta_log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        commits = list(delta_log.glob("*.json")) if delta_log.is_dir() else []
        if len(commits) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the job finished before it could be killed: " + log_path.read_text()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the driver JVM and python, mid-run
    proc.wait(timeout=30)
    partial = spark.read.format("delta").load(lake_cfg.table_path(C.BRONZE_CLICK_EVENTS)).count()
    assert 0 < partial < n_files * per_file

    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    table = spark.read.format("delta").load(lake_cfg.table_path(C.BRONZE_CLICK_EVENTS))
    expected = spark.createDataFrame(
        [(f"e{f}-{i}", f"file:{landing / f'f{f:02d}.csv'}:{i + 2}") for f in range(n_files) for i in range(per_file)],
        "event_id string, origin string",
    )
    assert_df_equality(table.select("event_id", "origin"), expected, ignore_row_order=True, ignore_nullable=True)
