"""Change-driven re-attribution on real Delta silver tables: a late impression re-attributes
the clicks and conversions it can change, rewrites only the partitions where something
changed, marks only those dates for gold, and survives a crash between its two commits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality

from advertisex import contract as C
from advertisex import tables
from advertisex.io import lake
from advertisex.io.dirty_dates import (
    STAGE_ATTRIBUTION,
    STAGE_CONVERSION_ATTRIBUTION,
    STAGE_GOLD_BID,
    STAGE_GOLD_CAMPAIGN,
    take_dirty,
)
from advertisex.pipelines import reattribute as P
from advertisex.pipelines.reattribute import reattribute, record_dirty
from advertisex.transforms import keys

IMPRESSIONS = ("impression_id string, event_time timestamp, event_date date, user_id string, campaign_id string, "
               "bid_request_id string")
CLICKS = (
    "event_id string, event_time timestamp, event_date date, user_id string, campaign_id string, "
    "impression_id string, attributed_impression_id string, attribution_kind string, attribution_lag_ms long"
)
WAITING_CLICKS = "event_id string, event_date date, impression_id string, attribution_kind string"
CONVERSIONS = (
    "event_id string, event_time timestamp, event_date date, user_id string, campaign_id string, "
    "attributed_click_id string, attributed_impression_id string, attribution_kind string, attribution_lag_ms long"
)
D1, D2, D3 = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)
MIN, HOUR = 60_000, 3_600_000


def t(day: dt.date, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm)


IMPS = [("i1", t(D1, 10, 0), D1, "u1", "c1", None), ("i2", t(D1, 11, 0), D1, "u2", "c1", None)]
# k2 names an impression that has not arrived yet (i9).
NEW_CLICKS = [
    ("k1", t(D1, 10, 10), D1, "u1", "c1", None, None, None, None),
    ("k2", t(D1, 12, 0), D1, "u3", "c1", "i9", None, None, None),
    ("k3", t(D1, 11, 5), D1, "u2", "c1", None, None, None, None),
]
NEW_CONVERSIONS = [
    ("v1", t(D2, 9, 0), D2, "u1", "c1", None, None, None, None),
    ("v2", t(D3, 8, 0), D3, "u3", "c1", None, None, None, None),
    ("v3", t(D2, 10, 0), D2, "u4", "c2", None, None, None, None),
]
# The batch definition (docs/CONTRACT.md §3) on IMPS, worked out by hand.
CLICKS_BEFORE = [
    ("k1", t(D1, 10, 10), D1, "u1", "c1", None, "i1", C.ATTRIBUTION_LAST_IMPRESSION, 10 * MIN),
    ("k2", t(D1, 12, 0), D1, "u3", "c1", "i9", None, C.ATTRIBUTION_NONE, None),
    ("k3", t(D1, 11, 5), D1, "u2", "c1", None, "i2", C.ATTRIBUTION_LAST_IMPRESSION, 5 * MIN),
]
CONVERSIONS_BEFORE = [
    ("v1", t(D2, 9, 0), D2, "u1", "c1", "k1", "i1", C.ATTRIBUTION_POST_CLICK, 22 * HOUR + 50 * MIN),
    ("v2", t(D3, 8, 0), D3, "u3", "c1", None, None, C.ATTRIBUTION_NONE, None),
    ("v3", t(D2, 10, 0), D2, "u4", "c2", None, None, C.ATTRIBUTION_NONE, None),
]
# Late: i9 (named by k2, of another user) and i10 (nobody's). k2 becomes attributed by id,
# and so v2 (k2's user and campaign, 44 h after k2) becomes post-click; everything else stays.
LATE_IMPS = [("i9", t(D1, 11, 55), D1, "u8", "c1", None), ("i10", t(D1, 9, 0), D1, "u7", "c5", None)]
CLICKS_AFTER = [CLICKS_BEFORE[0], ("k2", t(D1, 12, 0), D1, "u3", "c1", "i9", "i9", C.ATTRIBUTION_IMPRESSION_ID,
                                   5 * MIN), CLICKS_BEFORE[2]]
CONVERSIONS_AFTER = [CONVERSIONS_BEFORE[0],
                     ("v2", t(D3, 8, 0), D3, "u3", "c1", "k2", "i9", C.ATTRIBUTION_POST_CLICK, 44 * HOUR),
                     CONVERSIONS_BEFORE[2]]


@pytest.mark.parametrize(("small", "bound", "literal"), [(True, 100, True), (True, 100, False), (False, 100, False),
                                                    (False, 1, False)],
                         ids=["few-literal-ids", "few", "many-broadcast-clicks", "many-join"])
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
    ], WAITING_CLICKS)
    ids = spark.createDataFrame([("i1",), ("i2",), ("i3",), ("i3",), ("i4",), (None,)], "impression_id string")
    values = [r.impression_id for r in ids.collect()] if literal else None
    assert P.named_click_dates(clicks, ids, small=small, id_values=values) == {d[0], d[1]}
    # No click waiting for its impression: no date, and many new impressions are not even read.
    none_waiting = clicks.where("event_id IN ('c3', 'c4', 'c6')")
    if not small:
        ids = ids.select(F.raise_error(F.lit("the batch was read")).cast("string").alias("impression_id"))
    assert P.named_click_dates(none_waiting, ids, small=small, id_values=values) == set()


def _write(spark, cfg, table: str, rows, schema: str, mode: str = "overwrite") -> None:
    spark.createDataFrame(rows, schema).write.format("delta").mode(mode).partitionBy("event_date").save(
        cfg.table_path(table))


def _assert_table(spark, cfg, table: str, rows, schema: str) -> None:
    got = spark.read.format("delta").load(cfg.table_path(table))
    assert_df_equality(got, spark.createDataFrame(rows, schema), ignore_row_order=True, ignore_column_order=True,
                       ignore_nullable=True)


def _files(cfg, table: str) -> dict[str, set[str]]:
    """The data files of each partition folder (a rewritten partition gets new files)."""
    root = Path(cfg.table_path(table))
    return {p.name: {f.name for f in p.glob("*.parquet")} for p in root.glob("event_date=*")}


def _first_load(spark, cfg) -> None:
    """Silver as the silver batches leave it: new rows not attributed yet, the clicks' and
    conversions' dates marked (re-attribution finds the impressions itself; this table,
    written without Delta's change data feed, is taken whole the first time)."""
    assert (cfg.attribution.click_window_minutes, cfg.attribution.conversion_window_days,
            cfg.attribution.view_through_window_hours) == (30, 7, 24)
    _write(spark, cfg, tables.SILVER_IMPRESSIONS, IMPS, IMPRESSIONS)
    _write(spark, cfg, tables.SILVER_CLICKS, NEW_CLICKS, CLICKS)
    _write(spark, cfg, tables.SILVER_CONVERSIONS, NEW_CONVERSIONS, CONVERSIONS)
    record_dirty(spark, cfg, [(STAGE_ATTRIBUTION, "clicks", D1), (STAGE_ATTRIBUTION, "conversions", D2),
                              (STAGE_ATTRIBUTION, "conversions", D3)])
    reattribute(spark, cfg)
    _assert_table(spark, cfg, tables.SILVER_CLICKS, CLICKS_BEFORE, CLICKS)
    _assert_table(spark, cfg, tables.SILVER_CONVERSIONS, CONVERSIONS_BEFORE, CONVERSIONS)
    gold = take_dirty(spark, cfg, [STAGE_GOLD_CAMPAIGN])
    assert set().union(*gold.dates.values()) == {D1, D2, D3}
    P.clear_dirty(spark, gold.files)  # as the gold job would


def _late_batch(spark, cfg) -> None:
    """What the impressions batch of the late file leaves: the rows (re-attribution finds them
    in silver's change data feed, with the click waiting for i9)."""
    _write(spark, cfg, tables.SILVER_IMPRESSIONS, LATE_IMPS, IMPRESSIONS, mode="append")


@pytest.fixture
def attribution_calls(monkeypatch) -> list[str]:
    """The names of the attribution transforms called (they still run)."""
    calls: list[str] = []
    for name in ("attribute_clicks", "attribute_conversions"):
        real = getattr(P.A, name)

        def record(*args, _name=name, _real=real, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(P.A, name, record)
    return calls


@pytest.mark.parametrize("literal_keys", [None, 0], ids=["keys-as-literals", "keys-joined"])
def test_late_impression_changes_only_what_it_can(spark, lake_cfg, attribution_calls, monkeypatch, literal_keys):
    cfg = lake_cfg
    if literal_keys is not None:
        monkeypatch.setattr(keys, "LITERAL_KEYS", literal_keys)
    _first_load(spark, cfg)
    clicks_files, conv_files = _files(cfg, tables.SILVER_CLICKS), _files(cfg, tables.SILVER_CONVERSIONS)

    _late_batch(spark, cfg)
    attribution_calls.clear()
    summary = reattribute(spark, cfg)
    assert attribution_calls == ["attribute_clicks", "attribute_conversions"]

    _assert_table(spark, cfg, tables.SILVER_CLICKS, CLICKS_AFTER, CLICKS)
    _assert_table(spark, cfg, tables.SILVER_CONVERSIONS, CONVERSIONS_AFTER, CONVERSIONS)
    # Rewritten: the clicks of D1 and the conversions of D3, where a row changed; not D2.
    assert _files(cfg, tables.SILVER_CLICKS)["event_date=2026-11-20"] != clicks_files["event_date=2026-11-20"]
    conv_after = _files(cfg, tables.SILVER_CONVERSIONS)
    assert conv_after["event_date=2026-11-21"] == conv_files["event_date=2026-11-21"]
    assert conv_after["event_date=2026-11-22"] != conv_files["event_date=2026-11-22"]
    # Gold recomputes D1 (new impressions, a changed click) and D3 (a changed conversion) only.
    gold = take_dirty(spark, cfg, [STAGE_GOLD_CAMPAIGN])
    assert set().union(*gold.dates.values()) == {D1, D3}
    assert summary["click_dates_changed"] == 1 and summary["conversion_dates_changed"] == 1
    # Everything handed over was consumed.
    assert take_dirty(spark, cfg, [STAGE_ATTRIBUTION, STAGE_CONVERSION_ATTRIBUTION]).files == []

    # Nothing new: nothing is re-attributed, nothing rewritten.
    versions = {tb: spark.sql(f"DESCRIBE HISTORY delta.`{cfg.table_path(tb)}` LIMIT 1").first().version
                for tb in (tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS)}
    assert reattribute(spark, cfg) == {"new_impressions": 0, "click_dates": 0, "conversion_dates": 0}
    for tb, v in versions.items():
        assert spark.sql(f"DESCRIBE HISTORY delta.`{cfg.table_path(tb)}` LIMIT 1").first().version == v


def test_late_impression_without_effect_rewrites_nothing(spark, lake_cfg, attribution_calls):
    """An impression no click or conversion can reach: no row is a candidate, so the
    attribution does not even run, and nothing is rewritten."""
    cfg = lake_cfg
    _first_load(spark, cfg)
    attribution_calls.clear()
    versions = {tb: spark.sql(f"DESCRIBE HISTORY delta.`{cfg.table_path(tb)}` LIMIT 1").first().version
                for tb in (tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS)}
    _write(spark, cfg, tables.SILVER_IMPRESSIONS, [LATE_IMPS[1]], IMPRESSIONS, mode="append")
    reattribute(spark, cfg)
    assert attribution_calls == []
    _assert_table(spark, cfg, tables.SILVER_CLICKS, CLICKS_BEFORE, CLICKS)
    _assert_table(spark, cfg, tables.SILVER_CONVERSIONS, CONVERSIONS_BEFORE, CONVERSIONS)
    for tb, v in versions.items():
        assert spark.sql(f"DESCRIBE HISTORY delta.`{cfg.table_path(tb)}` LIMIT 1").first().version == v
    assert set().union(*take_dirty(spark, cfg, [STAGE_GOLD_CAMPAIGN]).dates.values()) == {D1}


def test_late_impressions_too_many_to_hold_give_the_same_result(spark, lake_cfg, monkeypatch):
    """Without the new impressions' keys (more than SMALL_BATCH_ROWS of them) every row of
    the dates is re-attributed; the result, the rewritten dates and the gold dates are the
    same."""
    cfg = lake_cfg
    _first_load(spark, cfg)
    _late_batch(spark, cfg)
    monkeypatch.setattr(lake, "SMALL_BATCH_ROWS", 1)
    summary = reattribute(spark, cfg)
    _assert_table(spark, cfg, tables.SILVER_CLICKS, CLICKS_AFTER, CLICKS)
    _assert_table(spark, cfg, tables.SILVER_CONVERSIONS, CONVERSIONS_AFTER, CONVERSIONS)
    assert summary["click_dates_changed"] == 1 and summary["conversion_dates_changed"] == 1
    assert set().union(*take_dirty(spark, cfg, [STAGE_GOLD_CAMPAIGN]).dates.values()) == {D1, D3}


@pytest.mark.parametrize("crash_at", ["conversion_marks", "conversions_write"])
def test_crash_in_the_middle_is_repaired_by_the_rerun(spark, lake_cfg, monkeypatch, crash_at):
    """The run dies while handing the changed click on to the conversions, or after the
    clicks committed but before the conversions did. The rerun (which may find no click
    changed any more) still re-attributes the conversions the changed click reaches."""
    cfg = lake_cfg
    _first_load(spark, cfg)
    _late_batch(spark, cfg)
    real_replace, real_record = P.replace_partitions, P.record_dirty

    def replace(df, cfg_, table, dates, **kw):
        if crash_at == "conversions_write" and table == tables.SILVER_CONVERSIONS:
            raise RuntimeError("crash")
        return real_replace(df, cfg_, table, dates, **kw)

    def record(spark_, cfg_, rows, **kw):
        rows = list(rows)
        if crash_at == "conversion_marks" and any(r[0] == STAGE_CONVERSION_ATTRIBUTION for r in rows):
            raise RuntimeError("crash")
        return real_record(spark_, cfg_, rows, **kw)

    monkeypatch.setattr(P, "replace_partitions", replace)
    monkeypatch.setattr(P, "record_dirty", record)
    with pytest.raises(RuntimeError, match="crash"):
        reattribute(spark, cfg)
    _assert_table(spark, cfg, tables.SILVER_CONVERSIONS, CONVERSIONS_BEFORE, CONVERSIONS)

    monkeypatch.setattr(P, "replace_partitions", real_replace)
    monkeypatch.setattr(P, "record_dirty", real_record)
    reattribute(spark, cfg)
    _assert_table(spark, cfg, tables.SILVER_CLICKS, CLICKS_AFTER, CLICKS)
    _assert_table(spark, cfg, tables.SILVER_CONVERSIONS, CONVERSIONS_AFTER, CONVERSIONS)
    assert set().union(*take_dirty(spark, cfg, [STAGE_GOLD_CAMPAIGN]).dates.values()) == {D1, D3}
    assert take_dirty(spark, cfg, [STAGE_ATTRIBUTION, STAGE_CONVERSION_ATTRIBUTION]).files == []


def test_new_impressions_are_marked_once_from_the_change_feed(spark, lake_cfg):
    """Each impression silver inserts is marked once: its date and keys for re-attribution,
    its bid request's date (another day here) for bid_daily; a rerun finds nothing new, and
    a later commit brings only its own rows."""
    cfg = lake_cfg
    bids = "bid_request_id string, event_time timestamp, event_date date"
    _write(spark, cfg, tables.SILVER_BID_REQUESTS, [("b1", t(D1, 23, 59), D1), ("b2", t(D2, 9, 0), D2)], bids)
    spark.createDataFrame([("i1", t(D2, 0, 1), D2, "u1", "c1", "b1")], IMPRESSIONS).write.format("delta").options(
        **tables.SILVER_IMPRESSIONS.write_options).partitionBy("event_date").save(cfg.table_path(tables.SILVER_IMPRESSIONS))

    assert P.mark_new_impressions(spark, cfg) == {"new_impressions": 1}
    marks = take_dirty(spark, cfg, [STAGE_ATTRIBUTION, STAGE_GOLD_BID])
    assert marks.dates == {(STAGE_ATTRIBUTION, "impressions"): {D2}, (STAGE_GOLD_BID, "impressions"): {D1}}
    assert marks.keys[(STAGE_ATTRIBUTION, "impressions")] == {("i1", "u1", "c1")}
    P.clear_dirty(spark, marks.files)

    assert P.mark_new_impressions(spark, cfg) == {"new_impressions": 0}
    _write(spark, cfg, tables.SILVER_IMPRESSIONS, [("i2", t(D3, 1, 0), D3, "u2", "c2", "b2")], IMPRESSIONS,
           mode="append")
    assert P.mark_new_impressions(spark, cfg) == {"new_impressions": 1}
    marks = take_dirty(spark, cfg, [STAGE_ATTRIBUTION, STAGE_GOLD_BID])
    assert marks.dates == {(STAGE_ATTRIBUTION, "impressions"): {D3}, (STAGE_GOLD_BID, "impressions"): {D2}}
    assert marks.keys[(STAGE_ATTRIBUTION, "impressions")] == {("i2", "u2", "c2")}
