"""Silver inserts on a real Delta table: new ids only, and a replayed batch id is skipped."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from advertisex.pipelines.silver import SMALL_BATCH_ROWS, insert_new, is_small

SCHEMA = "event_id string, value long, event_date date"
D1, D2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


@pytest.mark.parametrize("small", [False, True], ids=["anti-join", "small-batch-probe"])
def test_insert_new_adds_new_ids_once_per_batch(spark, lake_cfg, small):
    table = f"silver/insert_test_{small}"  # no data-skipping column list: any schema
    app = "test.silver.insert_test"
    insert_new(spark.createDataFrame([("a", 1, D1), ("b", 2, D2)], SCHEMA), lake_cfg, table, "event_id",
               app_id=app, version=0, small=small)
    # The same batch id again (a restart replaying it), even with other rows: nothing is written.
    insert_new(spark.createDataFrame([("z", 9, D1)], SCHEMA), lake_cfg, table, "event_id", app_id=app, version=0,
               small=small)
    # A later batch repeating ids "a" (same date) and "b" (another date): only "c" is new.
    insert_new(spark.createDataFrame([("a", 10, D1), ("b", 20, D1), ("c", 3, D1)], SCHEMA), lake_cfg, table,
               "event_id", app_id=app, version=1, small=small)

    got = spark.read.format("delta").load(lake_cfg.table_path(table)).select("event_id", "value", "event_date")
    expected = spark.createDataFrame([("a", 1, D1), ("b", 2, D2), ("c", 3, D1)], SCHEMA)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert spark.sql(f"DESCRIBE DETAIL delta.`{lake_cfg.table_path(table)}`").first().partitionColumns == ["event_date"]


def test_is_small_counts_up_to_the_threshold(spark):
    assert is_small(spark.range(SMALL_BATCH_ROWS))
    assert not is_small(spark.range(SMALL_BATCH_ROWS + 1))
