"""Silver inserts on a real Delta table: new ids only, and a replayed batch id is skipped."""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from advertisex.pipelines.silver import SMALL_BATCH_ROWS, insert_new, is_small

SCHEMA = "event_id string, value long, event_date date"
D1, D2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


@pytest.mark.parametrize(("small", "literal"), [(False, False), (True, False), (True, True)],
                         ids=["anti-join", "small-batch-probe", "small-batch-literal-keys"])
def test_insert_new_adds_new_ids_once_per_batch(spark, lake_cfg, small, literal):
    table = f"silver/insert_test_{small}_{literal}"  # no data-skipping column list: any schema
    app = "test.silver.insert_test"

    def insert(rows, version):
        values = {r[0] for r in rows} if literal else None
        insert_new(spark.createDataFrame(rows, SCHEMA), lake_cfg, table, "event_id", app_id=app, version=version,
                   small=small, key_values=values)

    insert([("a", 1, D1), ("b", 2, D2)], 0)
    # The same batch id again (a restart replaying it), even with other rows: nothing is written.
    insert([("z", 9, D1)], 0)
    # A later batch repeating ids "a" (same date) and "b" (another date): only "c" is new.
    insert([("a", 10, D1), ("b", 20, D1), ("c", 3, D1)], 1)

    got = spark.read.format("delta").load(lake_cfg.table_path(table)).select("event_id", "value", "event_date")
    expected = spark.createDataFrame([("a", 1, D1), ("b", 2, D2), ("c", 3, D1)], SCHEMA)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert spark.sql(f"DESCRIBE DETAIL delta.`{lake_cfg.table_path(table)}`").first().partitionColumns == ["event_date"]


def test_is_small_counts_up_to_the_threshold(spark):
    assert is_small(spark.range(SMALL_BATCH_ROWS))
    assert not is_small(spark.range(SMALL_BATCH_ROWS + 1))


def test_insert_new_observes_the_rows_it_appends_and_nothing_on_a_replay(spark, lake_cfg):
    import pyspark.sql.functions as F

    table, app = "silver/insert_observe_test", "test.silver.insert_observe_test"
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


CLICKS = "event_id string, event_date date, impression_id string, attribution_kind string"


@pytest.mark.parametrize(("small", "bound", "literal"), [(True, 100, True), (True, 100, False), (False, 100, False),
                                                    (False, 1, False)],
                         ids=["small-batch-literal-ids", "small-batch", "big-batch-broadcast-clicks", "big-batch-join"])
def test_named_click_dates_are_those_of_clicks_still_waiting_for_a_new_impression(spark, monkeypatch, small,
                                                                                  bound, literal):
    from advertisex import contract as C
    from advertisex.pipelines import silver

    monkeypatch.setattr(silver, "SMALL_BATCH_ROWS", bound)
    d = [dt.date(2026, 11, day) for day in range(1, 8)]
    clicks = spark.createDataFrame([
        ("c1", d[0], "i1", C.ATTRIBUTION_NONE),              # named impression arrives now
        ("c2", d[1], "i2", C.ATTRIBUTION_LAST_IMPRESSION),   # idem, window-attributed meanwhile
        ("c3", d[2], "i3", None),                            # not attributed yet: its own batch marked d[2]
        ("c4", d[3], "i1", C.ATTRIBUTION_IMPRESSION_ID),     # has its named impression: cannot change
        ("c5", d[4], "i9", C.ATTRIBUTION_NONE),              # names an impression not in the batch
        ("c6", d[5], None, C.ATTRIBUTION_NONE),              # names none
    ], CLICKS)
    ids = spark.createDataFrame([("i1",), ("i2",), ("i3",), ("i3",), ("i4",), (None,)], "impression_id string")
    values = [r.impression_id for r in ids.collect()] if literal else None
    assert silver.named_click_dates(clicks, ids, small=small, id_values=values) == {d[0], d[1]}
    # No click waiting for its impression: no date, and a big batch is not even read.
    none_waiting = clicks.where("event_id IN ('c3', 'c4', 'c6')")
    if not small:
        ids = ids.select(F.raise_error(F.lit("the batch was read")).cast("string").alias("impression_id"))
    assert silver.named_click_dates(none_waiting, ids, small=small, id_values=values) == set()
