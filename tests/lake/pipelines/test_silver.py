"""Job ``silver``: which stored clicks a batch of new impressions can change; one event per id."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyspark.sql.functions as F
import pytest

from advertisex import contract as C
from advertisex import tables
from advertisex.io import lake
from advertisex.pipelines import ingest_clicks, reference, silver
from support import read_table, write_file, write_references

CLICKS = "event_id string, event_date date, impression_id string, attribution_kind string"


@pytest.mark.parametrize(("small", "bound", "literal"), [(True, 100, True), (True, 100, False), (False, 100, False),
                                                    (False, 1, False)],
                         ids=["small-batch-literal-ids", "small-batch", "big-batch-broadcast-clicks", "big-batch-join"])
def test_named_click_dates_are_those_of_clicks_still_waiting_for_a_new_impression(spark, monkeypatch, small,
                                                                                  bound, literal):
    monkeypatch.setattr(lake, "SMALL_BATCH_ROWS", bound)
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
