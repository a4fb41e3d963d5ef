"""Judging a series date by date against a rolling window of its own past, built-in functions only.

The anomaly rules (:mod:`advertisex.transforms.anomalies`) compare each unit (an hour of a
series) with the units of the days before it, leaving out those flagged as anomalies, by an
earlier run or earlier in the same evaluation. Whether a unit enters later windows depends
on its own verdict, so the dates of a series are judged in order: each group's dates are
collected into one array and folded with ``aggregate``, whose state holds the window's
history and the verdicts so far. A Python UDF would say the same in a loop; the built-in
higher-order functions keep it in the JVM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

FIRED, OK = "fired", "ok"  # a unit's verdicts; a fired one stays out of later windows

Judge = Callable[[Column, Column], Column]


def median_sorted(values: Column, n: Column) -> Column:
    """The median of a sorted array.

    Args:
        values: a sorted array column.
        n: its size.

    Returns:
        The middle value, or the mean of the two middle ones (double); null when empty.
    """
    lo = F.element_at(values, F.greatest(F.floor((n + 1) / 2).cast("int"), F.lit(1)))
    hi = F.element_at(values, F.greatest(F.floor(n / 2).cast("int") + 1, F.lit(1)))
    return F.when(n > 0, (lo + hi) / 2.0)


def let(value: Column, body: Callable[[Column], Column]) -> Column:
    """``body(value)`` with ``value`` computed once, where ``body`` refers to it several times
    (an expression is otherwise repeated, and evaluated, wherever it is used).

    Args:
        value: the expression to compute once.
        body: what to make of it.

    Returns:
        ``body`` applied to ``value`` (a one-element ``transform``).
    """
    return F.element_at(F.transform(F.array(value), body), 1)


def in_dates(dates: Collection[dt.date]) -> Column:
    """``event_date`` is one of ``dates`` (false for none)."""
    return F.col("event_date").isin(sorted(dates)) if dates else F.lit(False)


def flag_columns(units: DataFrame, dates: Collection[dt.date], flagged: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Mark the units to judge and those to leave out of every window.

    Args:
        units: ``keys``, ``event_date``, ``event_hour`` and the unit's figures.
        dates: the dates to judge.
        flagged: units flagged by an earlier run (``keys``, ``event_date``, ``event_hour``).
        keys: the series' key columns.

    Returns:
        ``units`` with ``judge`` (its date is to be judged) and ``skip`` (flagged before and not
        judged again now: it stays out of the windows; one judged again counts as its verdict now says).
    """
    on = [*keys, "event_date", "event_hour"]
    marks = flagged.select(*on).distinct().withColumn("_flagged", F.lit(True))
    return units.join(marks, on, "left").select(
        *units.columns, in_dates(dates).alias("judge"),
        (F.coalesce("_flagged", F.lit(False)) & ~in_dates(dates)).alias("skip"))


def judge_in_order(units: DataFrame, keys: Sequence[str], days: int, judge: Judge) -> DataFrame:
    """Judge every unit of each ``keys`` group date by date, oldest first, against the units of
    the ``days`` dates before it that are neither ``skip`` nor fired (module docstring).

    Args:
        units: ``keys``, ``event_date``, and per unit ``volume``, ``hits`` (doubles), ``judge``,
            ``skip`` and whatever ``judge`` reads.
        keys: the group (a series, or a series and an hour).
        days: how many dates before a unit's date its window holds.
        judge: ``judge(day_units, window)``: the array of a date's units (structs of every
            column of ``units``) judged against the window (an array of ``event_date``,
            ``volume``, ``hits``): structs that keep ``event_date``, ``volume``, ``hits`` and
            ``skip`` and add a ``status`` (null for a unit not judged).

    Returns:
        The judged units, one row each (the struct fields ``judge`` returns).
    """
    per_date = units.groupBy(*keys, "event_date").agg(F.collect_list(F.struct(*units.columns)).alias("units"))
    per_group = per_date.groupBy(*keys).agg(
        F.array_sort(F.collect_list(F.struct("event_date", "units"))).alias("dates"))

    def history(units: Column) -> Column:
        return F.transform(units, lambda u: F.struct(u["event_date"].alias("event_date"),
                                                     u["volume"].alias("volume"), u["hits"].alias("hits")))

    def step(acc: Column, day: Column) -> Column:
        window = F.filter(acc["history"], lambda h: (h["event_date"] < day["event_date"])
                          & (h["event_date"] >= F.date_sub(day["event_date"], days)))

        def append(judged: Column) -> Column:
            kept = F.filter(judged, lambda u: ~u["skip"] & (F.coalesce(u["status"], F.lit(OK)) != FIRED))
            return F.struct(F.concat(acc["history"], history(kept)).alias("history"),
                            F.concat(acc["out"], judged).alias("out"))

        return let(let(window, lambda w: judge(day["units"], w)), append)

    # Typed empty arrays to start from: a first element's shape, filtered to nothing.
    first = F.element_at("dates", 1)["units"]
    nothing = F.filter(history(first), lambda _: F.lit(False))
    start = F.struct(nothing.alias("history"), F.filter(judge(first, nothing), lambda _: F.lit(False)).alias("out"))
    return per_group.select(F.explode(F.aggregate("dates", start, step)["out"]).alias("u")).select("u.*")
