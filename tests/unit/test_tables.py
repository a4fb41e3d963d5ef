"""The table registry: one declaration per table, read by the docs, the writers and the optimize plan."""

from __future__ import annotations

from advertisex import tables
from advertisex.tables import Table, ddl_columns
from support import ROOT


def test_docs_table_list_is_generated_from_the_registry() -> None:
    assert (ROOT / "docs" / "TABLES.md").read_text(encoding="utf-8") == tables.markdown(), (
        "docs/TABLES.md is stale: run `python -m advertisex.tables > docs/TABLES.md`"
    )


def test_ddl_columns_reads_top_level_names_only() -> None:
    assert ddl_columns("a decimal(28,6), b struct<c: int, d: array<string>>, e map<string,int>") == ("a", "b", "e")


def test_names_are_unique_and_z_order_columns_have_statistics() -> None:
    assert len({t.name for t in tables.TABLES}) == len(tables.TABLES)
    for t in tables.TABLES:
        assert set(t.zorder) <= set(t.columns), t.name
        if t.stats_columns:  # Delta Z-orders only columns it keeps statistics for
            assert set(t.zorder) <= set(t.stats_columns), t.name
            assert set(t.stats_columns) <= set(t.columns), t.name
        if t.partition_by:
            assert t.partition_by in t.columns, t.name


def test_conform_orders_casts_and_fills_columns(spark) -> None:
    t = Table("x/y", "silver", "a string, b bigint, c date", "a test table")
    df = spark.createDataFrame([(1, "7", "x")], "b int, a string, extra string")
    got = t.conform(df)
    assert got.schema.simpleString() == "struct<a:string,b:bigint,c:date>"
    assert got.collect()[0].asDict() == {"a": "7", "b": 1, "c": None}
    assert t.write_options == {}
    assert tables.SILVER_IMPRESSIONS.write_options == {
        "delta.dataSkippingStatsColumns": "event_time,campaign_id", "delta.enableChangeDataFeed": "true"}
