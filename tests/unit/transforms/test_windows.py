"""Judging a series date by date: medians of sorted arrays, and a fold that keeps what fired out of
later windows."""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F

from advertisex.transforms.windows import FIRED, OK, flag_columns, judge_in_order, median_sorted

D0 = dt.date(2026, 11, 1)


def test_units_are_judged_in_order_against_unflagged_earlier_days(spark) -> None:
    """A toy rule: a unit fires above twice the largest value of its window (the 2 days before)."""
    values = {"a": [10, 10, 30, 30, 30], "b": [10, 100, 30, 10, 10]}
    units = spark.createDataFrame(
        [(k, D0 + dt.timedelta(days=d), 0, float(v), None) for k, vs in values.items() for d, v in enumerate(vs)],
        "key string, event_date date, event_hour int, volume double, hits double")
    flagged = spark.createDataFrame([("b", D0 + dt.timedelta(days=1), 0)], "key string, event_date date, event_hour int")
    units = flag_columns(units, {D0 + dt.timedelta(days=d) for d in (2, 3, 4)}, flagged, ["key"])

    def judge(day, window):
        top = F.array_max(F.transform(window, lambda h: h["volume"]))
        return F.transform(day, lambda u: F.struct(
            u["key"].alias("key"), u["event_date"].alias("event_date"), u["volume"].alias("volume"),
            u["hits"].alias("hits"), u["skip"].alias("skip"), top.alias("top"),
            F.when(u["judge"], F.when(u["volume"] > 2 * top, FIRED).otherwise(OK)).alias("status")))

    out = judge_in_order(units, ["key"], 2, judge).collect()
    got = {(r.key, (r.event_date - D0).days): (r.top, r.status) for r in out}
    # Days 0 and 1 are history only (no verdict). a: day 2 fires and stays out of day 3's window, which fires too; day 4's window holds only
    # what fired: no window, no verdict but ok. (Counted in, day 2's 30 would have kept day 3 quiet.)
    assert [got[("a", d)] for d in range(5)] == [(None, None), (10.0, None), (10.0, FIRED), (10.0, FIRED),
                                                 (None, OK)]
    # b: day 1 (100) was flagged by an earlier run and is not judged again: it stays out, so day 2 fires.
    assert [got[("b", d)] for d in range(5)] == [(None, None), (10.0, None), (10.0, FIRED), (None, OK),
                                                 (10.0, OK)]


def test_median_of_a_sorted_array(spark) -> None:
    df = spark.createDataFrame([([1.0, 2.0, 9.0],), ([1.0, 2.0, 3.0, 9.0],), ([],)], "v array<double>")
    got = [r.m for r in df.select(median_sorted(F.col("v"), F.size("v")).alias("m")).collect()]
    assert got == [2.0, 2.5, None]
