"""Job ``ingest_clicks`` on real Delta tables: CSV files exactly once by path, origins, quarantine."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality

from advertisex import contract as C
from advertisex import tables
from advertisex.io.checkpoints import CheckpointInUseError, CheckpointLostError, txn_app_id
from advertisex.pipelines import ingest_clicks
from support import read_table, write_file

HEADER = C.CLICK_CSV_HEADER


def _snapshot(spark, cfg, table):
    return read_table(spark, cfg, table).drop("ingested_at")


def test_csv_ingest_once_by_path_rerun_and_new_file(spark, lake_cfg):
    landing = Path(lake_cfg.landing.clicks)
    write_file(landing / "d1" / "a.csv", f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\ne2,click,bad,u1,c1,a1,,,\n")
    write_file(
        landing / "d1" / "b.csv.gz",
        f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\ne3,conversion,1795176000000,u2,c2,,,buy,3.5\n",
    )
    write_file(landing / "d1" / "ignored.txt", "not a csv file\n")

    first = ingest_clicks.run(spark, lake_cfg, once=True)
    # Each record once (Spark's own progress counts the lines of every scan of the batch).
    assert (first["batches"], first["records"], first["quarantined"]) == (1, 4, 1)

    got = read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).select(
        "event_id", "event_type", "event_date", "quarantine_reason", "origin"
    )
    a, b = (f"file:{landing / 'd1' / n}" for n in ("a.csv", "b.csv.gz"))
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
    quarantine = spark.read.format("delta").load(lake_cfg.table_path(tables.QUARANTINE))
    assert_df_equality(
        quarantine.select("source", "reason", "raw", "origin"),
        spark.createDataFrame(
            [("click_events", "bad_event_time", "e2,click,bad,u1,c1,a1,,,", f"{a}:3")],
            "source string, reason string, raw string, origin string",
        ),
        ignore_nullable=True,
    )

    before = _snapshot(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS)
    before_rows = sorted(map(tuple, before.collect()))
    again = ingest_clicks.run(spark, lake_cfg, once=True)
    assert again["records"] == 0
    assert sorted(map(tuple, _snapshot(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).collect())) == before_rows

    write_file(landing / "d2" / "c.csv", f"{HEADER}\ne4,click,2026-11-21T00:00:00Z,u1,c1,a1,,,\n")
    ingest_clicks.run(spark, lake_cfg, once=True)
    after = sorted(map(tuple, _snapshot(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).collect()))
    added = [row for row in after if row not in before_rows]
    assert len(after) == 5
    assert [r[1] for r in added] == ["e4"]  # column 1 is event_id


def test_origin_names_the_file_as_it_is_named(spark, lake_cfg):
    """Spark hands file paths over as URIs (a space as %20, [ as %5B); origin has the name
    itself, a name holding glob syntax is read as a name, and a literal %20 or + stays."""
    landing = Path(lake_cfg.landing.clicks)
    names = ["odd [1] name*.csv", "a%20b+c.csv", "c{d,e}.csv.gz", "odd 1 name.csv"]  # [1] would match the last
    for i, name in enumerate(names):
        write_file(landing / name, f"{HEADER}\ne{i},click,2026-11-20T10:00:00Z,u1,c1,a1,,,\n")
    ingest_clicks.run(spark, lake_cfg, once=True)
    assert_df_equality(
        read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).select("event_id", "origin", "source_file"),
        spark.createDataFrame(
            [(f"e{i}", f"file:{landing / name}:2", str(landing / name)) for i, name in enumerate(names)],
            "event_id string, origin string, source_file string",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_a_second_copy_on_the_same_checkpoint_refuses_at_once_and_writes_nothing(spark, lake_cfg):
    """Another process runs the job (it holds the checkpoint's lock, as the running job does):
    this copy stops at once naming it, without touching the tables; once it is gone, it runs."""
    write_file(Path(lake_cfg.landing.clicks) / "a.csv", f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\n")
    (stream,) = ingest_clicks.streams(spark, lake_cfg)
    lock = lake_cfg.checkpoint_path(stream.job, stream.query) + ".lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, lock], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(CheckpointInUseError) as err:
            ingest_clicks.run(spark, lake_cfg, once=True)
        assert time.monotonic() - t0 < 10
        assert str(err.value) == (f"ingest_clicks.files is already running on checkpoint "
                                  f"{lake_cfg.checkpoint_path(stream.job, stream.query)} (process {holder.pid}); "
                                  "stop that one first")
        assert not Path(lake_cfg.table_path(tables.BRONZE_CLICK_EVENTS)).exists()
    finally:
        holder.kill()
        holder.wait()
    assert ingest_clicks.run(spark, lake_cfg, once=True)["batches"] == 1
    assert read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).count() == 1


def test_a_lost_checkpoint_is_refused_instead_of_skipping_new_files(spark, lake_cfg):
    """Without its checkpoint the job would number its batches from 0 again and Delta would
    skip them as written (a new file silently never lands): it refuses, naming the way on."""
    landing = Path(lake_cfg.landing.clicks)
    write_file(landing / "a.csv", f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\n")
    ingest_clicks.run(spark, lake_cfg, once=True)
    (stream,) = ingest_clicks.streams(spark, lake_cfg)
    checkpoint = lake_cfg.checkpoint_path(stream.job, stream.query)
    shutil.move(checkpoint, f"{checkpoint}.moved")
    write_file(landing / "b.csv", f"{HEADER}\ne2,click,2026-11-20T11:00:00Z,u1,c1,a1,i1,,\n")
    with pytest.raises(CheckpointLostError) as err:
        ingest_clicks.run(spark, lake_cfg, once=True)
    assert str(err.value).startswith(
        f"ingest_clicks.files: checkpoint {checkpoint} is missing or empty, but bronze/click_events holds its "
        f"batches 0 to 0 (txnAppId {txn_app_id(lake_cfg, stream.job, stream.query)})")
    assert read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).count() == 1
    # Moved back: the job goes on from where it stood.
    shutil.rmtree(checkpoint, ignore_errors=True)
    shutil.move(f"{checkpoint}.moved", checkpoint)
    assert ingest_clicks.run(spark, lake_cfg, once=True)["batches"] == 1
    assert {r.event_id for r in read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).collect()} == {"e1", "e2"}


def test_unreadable_files_are_quarantined_as_bad_file_and_the_feed_goes_on(spark, lake_cfg):
    """A corrupt and a truncated gzip fail no batch: each is one bad_file record naming the
    file (moved to _bad_files/), the good file of the same batch lands, and so does the next."""
    landing = Path(lake_cfg.landing.clicks)
    good = f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\n"
    write_file(landing / "a.csv", good)
    (landing / "d1").mkdir()
    (landing / "d1" / "garbage.csv.gz").write_bytes(b"\x1f\x8b\x08\x00 not deflate at all" * 5)
    cut = gzip.compress((good + "e2,click,2026-11-20T11:00:00Z,u1,c1,a1,i1,,\n" * 5000).encode())
    (landing / "cut.csv.gz").write_bytes(cut[: len(cut) // 2])
    ingest_clicks.run(spark, lake_cfg, once=True)

    bronze = _snapshot(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS)
    assert sorted((r.origin, r.event_id, r.quarantine_reason) for r in bronze.collect()) == [
        (f"file:{landing / 'a.csv'}:2", "e1", None),
        (f"file:{landing / 'cut.csv.gz'}", None, C.REASON_BAD_FILE),
        (f"file:{landing / 'd1' / 'garbage.csv.gz'}", None, C.REASON_BAD_FILE)]
    quarantined = read_table(spark, lake_cfg, tables.QUARANTINE).collect()
    assert sorted((r.reason, r.origin) for r in quarantined) == [
        (C.REASON_BAD_FILE, f"file:{landing / 'cut.csv.gz'}"), (C.REASON_BAD_FILE, f"file:{landing / 'd1' / 'garbage.csv.gz'}")]
    assert all(r.raw for r in quarantined)  # the cause, e.g. "java.io.EOFException: Unexpected end of input stream"
    assert sorted(p.name for p in (landing / "_bad_files").iterdir() if not p.name.endswith((".bad.json", ".crc"))) == [
        "cut.csv.gz", "d1%2Fgarbage.csv.gz"]
    # Nothing is stuck: the next file lands; a rerun changes nothing.
    write_file(landing / "b.csv", f"{HEADER}\ne3,click,2026-11-20T12:00:00Z,u1,c1,a1,i1,,\n")
    ingest_clicks.run(spark, lake_cfg, once=True)
    ingest_clicks.run(spark, lake_cfg, once=True)
    assert sorted(str(r.event_id) for r in read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).collect()) == [
        "None", "None", "e1", "e3"]


def test_a_batch_replayed_after_setting_a_file_aside_still_records_it(spark, lake_cfg):
    """A crash between setting a file aside and the batch's commit: the replay finds the file
    by its marker and writes its bad_file record with the batch."""
    from advertisex.io.bad_files import BadFile, set_aside

    landing = Path(lake_cfg.landing.clicks)
    write_file(landing / "a.csv", f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\n")
    (landing / "bad.csv.gz").write_bytes(b"\x1f\x8b not gzip")
    (stream,) = ingest_clicks.streams(spark, lake_cfg)
    app_id = txn_app_id(lake_cfg, stream.job, stream.query)
    set_aside(spark, str(landing), BadFile(f"file:{landing / 'bad.csv.gz'}", "java.io.IOException: crashed after"),
              app_id, 0)
    ingest_clicks.run(spark, lake_cfg, once=True)
    rows = read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).collect()
    assert sorted((r.quarantine_reason, r.origin, r.raw) for r in rows if r.quarantine_reason) == [
        (C.REASON_BAD_FILE, f"file:{landing / 'bad.csv.gz'}", "java.io.IOException: crashed after")]
    assert len(rows) == 2


def test_a_file_written_under_a_hidden_name_is_read_once_renamed(spark, lake_cfg):
    """The delivery docs/CONTRACT.md §1.2 asks of producers: write as ``.name`` (or without the
    ending), rename when complete; a file of an old modification time is read too."""
    landing = Path(lake_cfg.landing.clicks)
    half = f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,i1,,\ne2,cli"
    write_file(landing / ".a.csv", half)
    write_file(landing / "b.csv.part", half)
    assert ingest_clicks.run(spark, lake_cfg, once=True)["records"] == 0
    write_file(landing / ".a.csv", half + "ck,2026-11-20T11:00:00Z,u1,c1,a1,i1,,\n")
    (landing / ".a.csv").rename(landing / "a.csv")
    os.utime(landing / "a.csv", (0, 0))  # copied with its modification time of 1970
    ingest_clicks.run(spark, lake_cfg, once=True)
    assert sorted(r.event_id for r in read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).collect()) == ["e1", "e2"]


# What a running copy of the job does with the lock (advertisex.io.streaming.lock_checkpoint).
HOLD_LOCK = """
import fcntl, os, sys, time
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(fd, str(os.getpid()).encode())
print("locked", flush=True)
time.sleep(600)
"""


def test_a_quoted_field_over_several_lines_is_one_record_named_by_its_first_line(spark, lake_cfg):
    """RFC 4180: a line break inside quotes is data. The record lands whole, at its first line;
    the records after it keep their own line numbers."""
    landing = Path(lake_cfg.landing.clicks)
    write_file(landing / "a.csv", f'{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,"creative\r\nover ""two""\n'
                                  f'lines",,,\ne2,click,2026-11-20T11:00:00Z,u1,c1,a1,,,\n')
    ingest_clicks.run(spark, lake_cfg, once=True)
    got = sorted((r.event_id, r.ad_creative_id, r.origin, r.quarantine_reason)
                 for r in read_table(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS).collect())
    a = landing / "a.csv"
    assert got == [("e1", 'creative\r\nover "two"\nlines', f"file:{a}:2", None), ("e2", "a1", f"file:{a}:5", None)]
