"""``advertisex reset JOB`` on real Delta tables: a lost checkpoint, started anew after what
the lake holds — nothing read twice, nothing skipped, the old checkpoint kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from advertisex import contract as C
from advertisex import tables
from advertisex.io.checkpoints import CheckpointLostError, txn_app_id
from advertisex.pipelines import ingest_clicks, reference, reset, silver
from advertisex.pipelines.runner import get_job
from support import read_table, write_file, write_references

HEADER = C.CLICK_CSV_HEADER


def _rows(spark, cfg, table, *columns):
    return sorted(tuple(r) for r in read_table(spark, cfg, table).select(*columns).collect())


def test_reset_goes_on_after_the_files_bronze_holds_and_completes_a_half_written_batch(spark, lake_cfg):
    """The checkpoint is lost, and a crash had kept the last batch's bad row from quarantine:
    the job refuses, naming the reset; after it, the new file lands, the old ones are not read
    again, the bad row is quarantined once, and silver (reset too) holds each id once."""
    landing = Path(lake_cfg.landing.clicks)
    write_references(lake_cfg)
    reference.run(spark, lake_cfg)
    write_file(landing / "a.csv", f"{HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c1,a1,,,\ne2,click,bad,u1,c1,a1,,,\n")
    ingest_clicks.run(spark, lake_cfg, once=True)
    silver.run(spark, lake_cfg)
    # The crash: bronze committed the batch, quarantine did not; then the checkpoint went.
    shutil.rmtree(lake_cfg.table_path(tables.QUARANTINE))
    (stream,) = ingest_clicks.streams(spark, lake_cfg)
    checkpoint = lake_cfg.checkpoint_path(stream.job, stream.query)
    shutil.rmtree(checkpoint)
    write_file(landing / "b.csv", f"{HEADER}\ne3,click,2026-11-20T11:00:00Z,u1,c1,a1,,,\n")
    with pytest.raises(CheckpointLostError, match="run `advertisex reset ingest_clicks`"):
        ingest_clicks.run(spark, lake_cfg, once=True)

    done = reset.run(spark, lake_cfg, get_job("ingest_clicks"))
    assert done == {"files": {"txn_app_id": txn_app_id(lake_cfg, "ingest_clicks", "files", 1),
                              "old_checkpoint": "none", "starts_at": "every file but the 1 that bronze holds"}}
    assert ingest_clicks.run(spark, lake_cfg, once=True)["batches"] == 1
    assert _rows(spark, lake_cfg, tables.BRONZE_CLICK_EVENTS, "event_id", "quarantine_reason") == [
        ("e1", None), ("e2", C.REASON_BAD_EVENT_TIME), ("e3", None)]
    assert _rows(spark, lake_cfg, tables.QUARANTINE, "reason", "origin") == [
        (C.REASON_BAD_EVENT_TIME, f"file:{landing / 'a.csv'}:3")]
    assert ingest_clicks.run(spark, lake_cfg, once=True)["records"] == 0  # the new checkpoint goes on

    # Silver, reset while its checkpoint is there: kept aside, bronze read from the start again.
    silver_checkpoint = lake_cfg.checkpoint_path(silver.JOB, "click_events")
    assert reset.run(spark, lake_cfg, get_job("silver"))["click_events"]["old_checkpoint"] == (
        f"{silver_checkpoint}.before-reset-1")
    assert Path(f"{silver_checkpoint}.before-reset-1", "offsets").is_dir()
    silver.run(spark, lake_cfg)
    assert _rows(spark, lake_cfg, tables.SILVER_CLICKS, "event_id") == [("e1",), ("e3",)]


def test_a_job_without_a_checkpoint_has_nothing_to_reset(spark, lake_cfg):
    with pytest.raises(reset.NothingToResetError, match="^gold keeps no streaming checkpoint"):
        reset.run(spark, lake_cfg, get_job("gold"))
