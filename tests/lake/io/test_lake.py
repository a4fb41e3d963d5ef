"""Lake table helpers on a real Delta table: inserts of new ids only, a replayed batch id skipped."""

from __future__ import annotations

import datetime as dt
import shutil

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from advertisex.io.lake import PROBE_BATCH_ROWS, SMALL_BATCH_ROWS, can_probe, insert_new, is_small, not_in, read_held
from advertisex.tables import Table
from support import broadcast_scans, executed_plan

SCHEMA = "event_id string, value long, event_date date"
D1, D2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


@pytest.mark.parametrize("probe", [False, True], ids=["anti-join", "probe"])
def test_insert_new_adds_new_ids_once_per_batch(spark, lake_cfg, probe):
    table = Table(f"silver/insert_test_{probe}", "silver", SCHEMA, "a test table")
    app = "test.silver.insert_test"

    def insert(rows, version):
        insert_new(spark.createDataFrame(rows, SCHEMA), lake_cfg, table, "event_id", app_id=app, version=version,
                   probe=probe)

    insert([("a", 1, D1), ("b", 2, D2)], 0)
    # The same batch id again (a restart replaying it), even with other rows: nothing is written.
    insert([("z", 9, D1)], 0)
    # A later batch repeating ids "a" (same date) and "b" (another date): only "c" is new.
    insert([("a", 10, D1), ("b", 20, D1), ("c", 3, D1)], 1)

    got = spark.read.format("delta").load(lake_cfg.table_path(table)).select("event_id", "value", "event_date")
    expected = spark.createDataFrame([("a", 1, D1), ("b", 2, D2), ("c", 3, D1)], SCHEMA)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert spark.sql(f"DESCRIBE DETAIL delta.`{lake_cfg.table_path(table)}`").first().partitionColumns == ["event_date"]


def test_is_small_and_can_probe_count_up_to_their_thresholds(spark):
    assert is_small(spark.range(SMALL_BATCH_ROWS))
    assert not is_small(spark.range(SMALL_BATCH_ROWS + 1))
    assert can_probe(spark.range(PROBE_BATCH_ROWS))
    assert not can_probe(spark.range(PROBE_BATCH_ROWS + 1))


@pytest.mark.parametrize("probe", [False, True], ids=["anti-join", "probe"])
def test_not_in_never_broadcasts_the_table(spark, tmp_path, probe):
    # A table of a few files on disk, as small as Spark broadcasts by its file size: its scan
    # must still not be broadcast (in memory a growing table's ids outgrow the driver; silver's
    # queries failed on it under sustained load). The probe broadcasts the batch's ids.
    path = str(tmp_path / "table")
    spark.createDataFrame([(f"e{i}", i, D1) for i in range(50)], SCHEMA).write.format("delta").save(path)
    existing = spark.read.format("delta").load(path).select("event_id")
    batch = spark.createDataFrame([("e1", 1, D1), ("new", 2, D2)], SCHEMA)
    new = not_in(batch, existing, "event_id", probe=probe)
    plan = executed_plan(new)
    assert [r.event_id for r in new.collect()] == ["new"]
    assert not broadcast_scans(plan), plan
    assert ("BroadcastExchange" in plan) == probe, plan
    # The check itself: Spark's own choice for such a table is to broadcast its scan.
    assert broadcast_scans(executed_plan(batch.join(existing, "event_id", "left_anti"))), "not a broadcast-sized table"


def test_insert_new_observes_the_rows_it_appends_and_nothing_on_a_replay(spark, lake_cfg):
    table = Table("silver/insert_observe_test", "silver", SCHEMA, "a test table")
    app = "test.silver.insert_observe_test"
    dates = (F.collect_set("event_date").alias("dates"), F.count(F.lit(1)).alias("rows"))
    first = insert_new(spark.createDataFrame([("a", 1, D1), ("b", 2, D2)], SCHEMA), lake_cfg, table, "event_id",
                       app_id=app, version=0, observe=dates)
    assert sorted(first["dates"]) == [D1, D2] and first["rows"] == 2
    # "a" is in silver already: only "c" (of D1) is appended, so D2 is not among the dates.
    later = spark.createDataFrame([("a", 10, D2), ("c", 3, D1)], SCHEMA)
    second = insert_new(later, lake_cfg, table, "event_id", app_id=app, version=1, observe=dates)
    assert second["dates"] == [D1] and second["rows"] == 1
    # A replay runs no plan, so nothing is observed (and nothing written).
    assert insert_new(later, lake_cfg, table, "event_id", app_id=app, version=1, observe=dates) is None
    assert insert_new(later, lake_cfg, table, "event_id", app_id=app, version=2) is None
    assert spark.read.format("delta").load(lake_cfg.table_path(table)).count() == 3


def test_read_held_keeps_a_table_in_memory_until_a_later_commit(spark, lake_cfg):
    table = Table("silver/held_test", "silver", SCHEMA, "a test table")
    path = lake_cfg.table_path(table)
    assert read_held(spark, lake_cfg, table) is None

    def write(rows):
        spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("append").save(path)

    write([("a", 1, D1)])
    first = read_held(spark, lake_cfg, table)
    assert [r.event_id for r in first.collect()] == ["a"]
    assert first.is_cached
    # No commit since: the same cached rows, no new read of the table.
    assert read_held(spark, lake_cfg, table) is first

    write([("b", 2, D1)])
    second = read_held(spark, lake_cfg, table)
    assert sorted(r.event_id for r in second.collect()) == ["a", "b"]
    assert not first.is_cached

    # A table made anew at the same path numbers its commits from 0 again: still told apart.
    shutil.rmtree(path)
    write([("c", 3, D2)])
    write([("d", 4, D2)])
    assert sorted(r.event_id for r in read_held(spark, lake_cfg, table).collect()) == ["c", "d"]
