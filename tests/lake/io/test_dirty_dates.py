"""The dirty-date marks that hand changed event dates from silver batches to attribution and
gold: small JSON files on the lake's file system, recorded, taken and cleared."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from advertisex.io.dirty_dates import (
    DIRTY,
    LEGACY_DIRTY,
    STAGE_ATTRIBUTION,
    STAGE_GOLD_BID,
    STAGE_GOLD_CAMPAIGN,
    Marks,
    clear_dirty,
    record_dirty,
    take_dirty,
)

D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


def _local(uri: str) -> Path:
    """A ``file:/...`` path as Hadoop names it → a local path."""
    assert uri.startswith("file:/"), uri
    return Path(uri.removeprefix("file:"))


def test_record_take_clear_by_stage(spark, lake_cfg):
    record_dirty(spark, lake_cfg, [(STAGE_ATTRIBUTION, "impressions", D1), (STAGE_ATTRIBUTION, "impressions", D2),
                                   (STAGE_ATTRIBUTION, "clicks", D2), (STAGE_GOLD_BID, "impressions", D3)],
                 app_id="ax.silver.impressions", version=4)
    record_dirty(spark, lake_cfg, [(STAGE_ATTRIBUTION, "impressions", D3)])

    marks = take_dirty(spark, lake_cfg, [STAGE_ATTRIBUTION])
    assert marks.dates == {(STAGE_ATTRIBUTION, "impressions"): {D1, D2, D3}, (STAGE_ATTRIBUTION, "clicks"): {D2}}
    files = marks.files
    assert len(files) == 2 and all(_local(f).exists() for f in files)

    # A mark recorded after the take is not cleared with what was taken.
    record_dirty(spark, lake_cfg, [(STAGE_ATTRIBUTION, "clicks", D1)], app_id="ax.silver.click_events", version=0)
    clear_dirty(spark, files)
    assert len(files) == 2 and not any(_local(f).exists() for f in files)
    assert take_dirty(spark, lake_cfg, [STAGE_ATTRIBUTION]).dates == {(STAGE_ATTRIBUTION, "clicks"): {D1}}
    # Other stages are untouched.
    assert take_dirty(spark, lake_cfg, [STAGE_GOLD_CAMPAIGN, STAGE_GOLD_BID]).dates == {
        (STAGE_GOLD_BID, "impressions"): {D3}
    }


def test_a_replayed_batch_rewrites_its_own_marks(spark, lake_cfg):
    rows = [(STAGE_ATTRIBUTION, "impressions", D1)]
    record_dirty(spark, lake_cfg, rows, app_id="ax.silver.impressions", version=7)
    record_dirty(spark, lake_cfg, rows, app_id="ax.silver.impressions", version=7)
    marks = take_dirty(spark, lake_cfg, [STAGE_ATTRIBUTION])
    assert marks.dates == {(STAGE_ATTRIBUTION, "impressions"): {D1}}
    assert [Path(f).name for f in marks.files] == ["ax.silver.impressions.7.json"]
    folder = Path(lake_cfg.table_path(f"{DIRTY}/{STAGE_ATTRIBUTION}"))
    # No temporary file is left (Hadoop's local file system keeps a .crc checksum beside each file).
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".crc") == ["ax.silver.impressions.7.json"]


def test_nothing_recorded(spark, lake_cfg):
    assert take_dirty(spark, lake_cfg, [STAGE_ATTRIBUTION]) == Marks()
    record_dirty(spark, lake_cfg, [])
    assert take_dirty(spark, lake_cfg, [STAGE_ATTRIBUTION]) == Marks()


def test_keys_ride_with_their_dates_and_a_mark_without_keys_makes_them_unknown(spark, lake_cfg):
    imp = (STAGE_ATTRIBUTION, "impressions")
    record_dirty(spark, lake_cfg, [(*imp, D1), (STAGE_ATTRIBUTION, "clicks", D1), (STAGE_GOLD_BID, "impressions", D2)],
                 app_id="ax.silver.impressions", version=0, keys={imp: {("i1", "u1", "c1"), ("i2", None, "c2")}})
    record_dirty(spark, lake_cfg, [(*imp, D2)], app_id="ax.silver.impressions", version=1,
                 keys={imp: {("i3", "u3", "c3")}})
    marks = take_dirty(spark, lake_cfg, [STAGE_ATTRIBUTION])
    assert marks.keys_of(*imp) == {("i1", "u1", "c1"), ("i2", None, "c2"), ("i3", "u3", "c3")}
    assert marks.keys_of(STAGE_ATTRIBUTION, "clicks") is None  # dates recorded without keys
    assert marks.keys_of(STAGE_ATTRIBUTION, "conversions") == set()  # nothing recorded
    # A batch too big to list its keys: the impressions' keys are no longer known.
    record_dirty(spark, lake_cfg, [(*imp, D3)], app_id="ax.silver.impressions", version=2)
    marks = take_dirty(spark, lake_cfg, [STAGE_ATTRIBUTION])
    assert marks.keys_of(*imp) is None and marks.dates_of(*imp) == {D1, D2, D3}


def test_pending_rows_of_the_legacy_delta_table_are_moved_to_files(spark, lake_cfg):
    legacy = lake_cfg.table_path(LEGACY_DIRTY)
    spark.createDataFrame(
        [("t1", STAGE_ATTRIBUTION, "impressions", D1), ("t1", STAGE_GOLD_BID, "impressions", D2),
         ("t2", STAGE_GOLD_CAMPAIGN, "silver", D3)],
        "token string, stage string, source string, event_date date",
    ).write.format("delta").save(legacy)

    assert take_dirty(spark, lake_cfg, [STAGE_ATTRIBUTION]).dates == {(STAGE_ATTRIBUTION, "impressions"): {D1}}
    assert not Path(legacy).exists()
    assert take_dirty(spark, lake_cfg, [STAGE_GOLD_CAMPAIGN, STAGE_GOLD_BID]).dates == {
        (STAGE_GOLD_BID, "impressions"): {D2},
        (STAGE_GOLD_CAMPAIGN, "silver"): {D3},
    }
