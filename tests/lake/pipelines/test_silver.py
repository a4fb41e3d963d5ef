"""Job ``silver``: one event per id."""

from __future__ import annotations

from pathlib import Path

from advertisex import contract as C
from advertisex import tables
from advertisex.pipelines import ingest_clicks, reference, silver
from support import read_table, write_file, write_references

CLICKS = "event_id string, event_date date, impression_id string, attribution_kind string"


def test_an_event_id_counts_once_whatever_its_type_across_batches(spark, lake_cfg):
    """An id stored as a click and received again, in a later file, as a conversion is the same
    event (docs/CONTRACT.md §1.2): silver keeps the click, as it does within one batch."""
    write_references(lake_cfg)
    reference.run(spark, lake_cfg)
    landing = Path(lake_cfg.landing.clicks)
    write_file(landing / "a.csv", f"{C.CLICK_CSV_HEADER}\ne1,click,2026-11-20T10:00:00Z,u1,c0,a1,,,\n")
    ingest_clicks.run(spark, lake_cfg, once=True)
    silver.run(spark, lake_cfg)
    write_file(landing / "b.csv", f"{C.CLICK_CSV_HEADER}\ne1,conversion,2026-11-20T11:00:00Z,u1,c0,,,buy,5\n"
                                  "e2,conversion,2026-11-20T11:00:00Z,u1,c0,,,buy,7\n")
    ingest_clicks.run(spark, lake_cfg, once=True)
    silver.run(spark, lake_cfg)
    assert [r.event_id for r in read_table(spark, lake_cfg, tables.SILVER_CLICKS).collect()] == ["e1"]
    assert [r.event_id for r in read_table(spark, lake_cfg, tables.SILVER_CONVERSIONS).collect()] == ["e2"]
