"""Job ``backfill_impressions`` on real Delta tables: the bronze shape, line numbers, replayed batches."""

from __future__ import annotations

from pathlib import Path

from chispa import assert_df_equality

from advertisex import contract as C
from advertisex import tables
from advertisex.io.checkpoints import txn_app_id
from advertisex.io.streaming import file_lines
from advertisex.pipelines import backfill_impressions
from support import read_table, write_file


def test_backfill_same_table_shape_and_replayed_batch_is_a_no_op(spark, lake_cfg):
    landing = Path(lake_cfg.landing.impressions)
    rec = (
        '{{"impression_id":"{i}","event_time":"2026-11-20T10:00:00Z","user_id":"u","campaign_id":"c",'
        '"ad_creative_id":"a","website":"w.com","cost_micros":{c}}}'
    )
    write_file(landing / "h1.jsonl", "\n".join([rec.format(i="i1", c=5), "{oops", rec.format(i="i2", c=-1)]) + "\n")
    write_file(landing / "h2.json.gz", rec.format(i="i3", c=7) + "\n")
    # Settings under which Spark packs small files into one task and splits h1.jsonl (~400 bytes)
    # into 64-byte blocks read by different tasks: line numbers must still be each file's own.
    packing = {"spark.sql.files.openCostInBytes": "1", "spark.sql.files.maxPartitionBytes": "64",
               "spark.sql.files.minPartitionNum": "1"}
    old = {k: spark.conf.get(k, None) for k in packing}
    for k, v in packing.items():
        spark.conf.set(k, v)
    try:
        assert spark.read.format("text").load(str(landing / "h1.jsonl")).rdd.getNumPartitions() > 1  # it is split
        backfill_impressions.run(spark, lake_cfg, once=True)
    finally:
        for k, v in old.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)
    got = read_table(spark, lake_cfg, tables.BRONZE_IMPRESSIONS)
    assert got.schema.simpleString() == tables.BRONZE_IMPRESSIONS.conform(got).schema.simpleString()
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
    app_id = txn_app_id(lake_cfg, "backfill_impressions", "files")
    files = file_lines(spark.read.format("text").option("lineSep", "\n").load(str(landing / "h2.json.gz")))
    backfill_impressions.batch(lake_cfg, app_id)(files, 0)
    assert read_table(spark, lake_cfg, tables.BRONZE_IMPRESSIONS).count() == 4
    # A new batch id with the same content is written (proves the replay was skipped, not failed).
    backfill_impressions.batch(lake_cfg, app_id)(files, 99)
    assert read_table(spark, lake_cfg, tables.BRONZE_IMPRESSIONS).count() == 5


def test_quarantine_commit_lost_in_a_crash_is_made_by_the_replay_once(spark, lake_cfg):
    """A crash after the bronze commit and before the quarantine commit: replaying the batch
    writes no bronze row and quarantines exactly the batch's bad rows; a batch without bad
    rows makes no quarantine commit."""
    import shutil

    from delta.tables import DeltaTable

    landing = Path(lake_cfg.landing.impressions)
    rec = ('{"impression_id":"k1","event_time":"2026-11-20T10:00:00Z","user_id":"u","campaign_id":"c",'
           '"ad_creative_id":"a","website":"w.com","cost_micros":5}')
    write_file(landing / "bad.jsonl", rec + "\n{oops\n")
    write_file(landing / "good.jsonl", rec.replace("k1", "k2") + "\n")
    app_id = txn_app_id(lake_cfg, "backfill_impressions", "files")

    def lines(name):
        return file_lines(spark.read.format("text").option("lineSep", "\n").load(str(landing / name)))

    quarantine = lake_cfg.table_path(tables.QUARANTINE)
    backfill_impressions.batch(lake_cfg, app_id)(lines("bad.jsonl"), 0)
    shutil.rmtree(quarantine)  # the quarantine commit of batch 0 never happened
    for _ in range(2):
        backfill_impressions.batch(lake_cfg, app_id)(lines("bad.jsonl"), 0)
    assert read_table(spark, lake_cfg, tables.BRONZE_IMPRESSIONS).count() == 2
    assert_df_equality(
        spark.read.format("delta").load(quarantine).select("source", "reason", "raw", "origin"),
        spark.createDataFrame(
            [(C.SOURCE_IMPRESSIONS, C.REASON_BAD_JSON, "{oops", f"file:{landing / 'bad.jsonl'}:2")],
            "source string, reason string, raw string, origin string",
        ),
        ignore_nullable=True,
    )
    version = DeltaTable.forPath(spark, quarantine).history(1).first().version
    backfill_impressions.batch(lake_cfg, app_id)(lines("good.jsonl"), 1)
    assert read_table(spark, lake_cfg, tables.BRONZE_IMPRESSIONS).count() == 3
    assert DeltaTable.forPath(spark, quarantine).history(1).first().version == version
