"""A table's partitions profiled for its suite in one Spark pass (docs/CONTRACT.md §6).

:func:`profile` runs one aggregation grouped by partition over the partitions to check
(every :class:`~advertisex.quality.checks.Measure` of the suite is a column of it but the
duplicates, counted in a pass of their own) and one small count over
the previous days' partitions for the volume checks, and hands back a pandas frame with one row per
partition and one column per check: what the GX suite validates. A value that cannot be measured (no history yet, no spread to fence with, not
the newest partition) is null, which GX's range expectations pass over, and its note says
why. :meth:`Profile.samples` fetches a few offending rows of a failed check, only then.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex.quality import checks as K
from advertisex.transforms import dates as DT
from advertisex.transforms.keys import dates_in

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

SAMPLE_ROWS = 3
PARTITION = "partition"  # the profile's partition column (ISO date or batch tag)
NULL_PARTITION = "null"  # rows whose event_date is null (Delta's null partition)


@dataclass
class Profile:
    """One suite's measures, one row per partition (see the module docstring).

    ``values``: ``{partition: {check: value}}``; ``rows``: rows per partition; ``notes``:
    ``{(check, partition): why}`` for the values that are null or need words; ``data``: the
    rows profiled (for samples); ``fences``: the outlier fences, for samples;
    ``given_samples``: sample rows a caller measured itself (reconciliation).
    """

    suite: K.Suite
    values: dict[str, dict[str, float | None]]
    rows: dict[str, int]
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    data: DataFrame | None = None
    fences: dict[tuple[str, str], float] = field(default_factory=dict)
    known_campaigns: Sequence[str] | None = None
    given_samples: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def partitions(self) -> list[str]:
        return sorted(self.values)

    def frame(self) -> pd.DataFrame:
        """The profile as GX validates it: ``partition`` plus one float column per check."""
        import pandas as pd

        names = [c.name for c in self.suite.checks]
        data = {PARTITION: self.partitions}
        for name in names:
            data[name] = [_float(self.values[p].get(name)) for p in self.partitions]
        return pd.DataFrame(data, columns=[PARTITION, *names])

    def samples(self, check: K.Check, partition: str) -> list[str]:
        """driver-side: up to :data:`SAMPLE_ROWS` offending rows of ``check`` in ``partition``, as JSON."""
        if (check.name, partition) in self.given_samples:
            return self.given_samples[(check.name, partition)][:SAMPLE_ROWS]
        if self.data is None:
            return []
        column = F.col(self.suite.partition)
        rows = self.data.where(column.isNull() if partition == NULL_PARTITION else column == F.lit(partition))
        m = check.measure
        if m.kind in (K.COUNT, K.SHARE):
            rows = rows.where(F.expr(m.predicate))
        elif m.kind == K.DUPLICATES:
            rows = rows.where(_key_present(m.columns)).groupBy(*m.columns).count().where("count > 1")
        elif m.kind == K.UNKNOWN_CAMPAIGNS and self.known_campaigns is not None:
            rows = rows.where(_unknown_campaign(self.known_campaigns))
        elif m.kind == K.FENCE and (check.name, partition) in self.fences:
            rows = rows.where(F.col(m.columns[0]) > F.lit(self.fences[(check.name, partition)]))
        else:
            return []
        return rows.limit(SAMPLE_ROWS).toJSON().collect()  # driver-side: a few rows of a failed check


def _label(day: dt.date | None) -> str:
    return NULL_PARTITION if day is None else day.isoformat()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _unknown_campaign(known: Sequence[str]) -> Column:
    return F.col("campaign_id").isNotNull() & ~F.col("campaign_id").isin(list(known))


def _aggregates(suite: K.Suite, known: Sequence[str] | None) -> list[Column]:
    """The one pass: every measure of ``suite`` as aggregate columns."""
    out = [F.count(F.lit(1)).alias("_rows")]
    for check in suite.checks:
        m, name = check.measure, check.name
        if m.kind in (K.COUNT, K.SHARE):
            out.append(F.count_if(F.expr(m.predicate)).alias(name))
        elif m.kind == K.UNKNOWN_CAMPAIGNS and known is not None:
            out.append(F.count_if(_unknown_campaign(known)).alias(name))
        elif m.kind == K.FENCE:
            # On log(1 + x): money is skewed multiplicatively, so a fence on the raw values flags
            # the ordinary tail of a day's purchases.
            logged = F.log1p(F.greatest(F.col(m.columns[0]).cast("double"), F.lit(0.0)))
            out.append(F.percentile_approx(logged, [0.25, 0.75, m.quantile], 1000).alias(name))
            out.append(F.count(m.columns[0]).alias(f"_n_{name}"))
        elif m.kind == K.FRESHNESS:
            # Epoch seconds: a collected timestamp would come back in the driver's local zone.
            out.append(F.max(F.unix_seconds(F.expr(m.columns[0]))).alias(name))
    return out


def profile(df: DataFrame, suite: K.Suite, partitions: Iterable[dt.date | None], *,
            history: DataFrame | None = None, known_campaigns: Sequence[str] | None = None,
            now: dt.datetime | None = None, freshness_hours: float | None = None) -> Profile:
    """driver-side: ``suite``'s measures on the ``partitions`` (event dates) of ``df``.

    Args:
        df: the rows to check (a table, or a staged gold result), partitioned by ``event_date``.
        suite: the table's suite.
        partitions: the dates to check (a date without rows is profiled as empty); None
            stands for the rows whose ``event_date`` is null (partition ``"null"``).
        history: where the previous days' row counts come from (the published table);
            default ``df``. A later date there means the newest partition is not checked.
        known_campaigns: the campaign ids the dimension knows (None: not measurable).
        now: the time freshness is measured at (default: now).
        freshness_hours: the configured bound; None: freshness is not checked.

    Returns:
        The profile; ``data`` is ``df`` restricted to ``partitions``.
    """
    wanted = set(partitions)
    dates = sorted(d for d in wanted if d is not None)
    where = dates_in("event_date", dates) + (" OR event_date IS NULL" if None in wanted else "")
    data = df.where(where)
    aggregated = data.groupBy("event_date").agg(*_aggregates(suite, known_campaigns))
    got = [r.asDict() for r in aggregated.collect()]  # driver-side: a row per date
    for check in suite.checks:
        if check.measure.kind == K.DUPLICATES:
            dupes = _duplicates(data, check.measure.columns)
            for r in got:
                r[check.name] = dupes.get(r["event_date"], 0)
    # A partition asked for that has no rows (emptied) is profiled too: its counts are 0, its
    # volume says so, and what was open on it can close.
    got += [_empty(suite, d) for d in wanted - {r["event_date"] for r in got}]
    now = now or dt.datetime.now(dt.UTC)
    prof = Profile(suite, {}, {}, data=data, known_campaigns=known_campaigns)
    days = [r["event_date"] for r in got if r["event_date"] is not None]
    counts, later = _history(history if history is not None else df, days)
    for r in got:
        p = _label(r["event_date"])
        prof.rows[p] = rows = int(r["_rows"])
        if r["event_date"] is not None:
            counts.setdefault(r["event_date"], rows)
        prof.values[p] = {}
        for check in suite.checks:
            prof.values[p][check.name] = _finish(prof, check, p, r, rows)
    for r in got:
        p = _label(r["event_date"])
        if r["event_date"] is None:
            for check in suite.checks:
                if check.measure.kind in (K.VOLUME, K.FRESHNESS):
                    prof.notes[(check.name, p)] = "not checked: rows without an event_date"
            continue
        newest = r["event_date"] == max(days) and not later
        for check in suite.checks:
            if check.measure.kind == K.VOLUME:
                prof.values[p][check.name] = _volume(prof, check.name, p, r["event_date"], counts)
            elif check.measure.kind == K.FRESHNESS:
                prof.values[p][check.name] = _freshness(prof, check.name, p, r[check.name], now, freshness_hours,
                                                        newest)
    return prof


def _empty(suite: K.Suite, day: dt.date | None) -> dict[str, Any]:
    """The aggregated row of a partition without rows."""
    row: dict[str, Any] = {"event_date": day, "_rows": 0}
    for check in suite.checks:
        row[check.name] = 0 if check.measure.kind in (K.COUNT, K.SHARE, K.DUPLICATES, K.UNKNOWN_CAMPAIGNS) else None
        row[f"_n_{check.name}"] = 0
    return row


def _finish(prof: Profile, check: K.Check, p: str, r: Any, rows: int) -> float | None:
    """A measure's value from the aggregated row (volume and freshness come after)."""
    m, name = check.measure, check.name
    if m.kind in (K.COUNT, K.DUPLICATES):
        prof.notes[(name, p)] = f"{r[name]:,} of {rows:,} rows"
        return float(r[name])
    if rows == 0 and m.kind in (K.SHARE, K.UNKNOWN_CAMPAIGNS):
        prof.notes[(name, p)] = "not measured: the partition has no rows"
        return None
    if m.kind == K.SHARE or (m.kind == K.UNKNOWN_CAMPAIGNS and prof.known_campaigns is not None):
        prof.notes[(name, p)] = f"{r[name]:,} of {rows:,} rows"
        return r[name] / rows
    if m.kind == K.UNKNOWN_CAMPAIGNS:
        prof.notes[(name, p)] = "cannot run: silver/dim_campaigns does not exist yet"
    elif m.kind == K.FENCE:
        values = r[f"_n_{name}"]
        if values < K.FENCE_MIN_VALUES:
            prof.notes[(name, p)] = (f"cannot run: {values:,} {m.columns[0]} values, a robust fence needs "
                                     f"{K.FENCE_MIN_VALUES:,}")
            return None
        q1, q3, qq = (math.expm1(v) for v in r[name])
        fence = math.expm1(math.log1p(q3) + m.k * (math.log1p(q3) - math.log1p(q1)))
        if fence <= 0:
            prof.notes[(name, p)] = f"cannot run: {m.columns[0]} is 0 in most rows (no fence)"
            return None
        prof.fences[(name, p)] = fence
        prof.notes[(name, p)] = (f"{m.quantile:.1%} quantile {qq:,.2f}, fence {fence:,.2f} "
                                 f"(quartiles {q1:,.2f} and {q3:,.2f})")
        return qq / fence
    return None


def _key_present(key: Sequence[str]) -> str:
    return " AND ".join(f"{c} IS NOT NULL" for c in key)


def _duplicates(data: DataFrame, key: Sequence[str]) -> dict[dt.date | None, int]:
    """driver-side: rows beyond the first of each ``key`` per date (dates with none left out);
    a key with a null part is left out (null ids are the not-null checks' business).

    A pass of its own over the key columns: as a ``count(DISTINCT)`` in the main aggregation,
    Spark would aggregate per key first and carry every other measure's buffer (a quantile
    sketch per id, for a suite with an outlier fence) through that step. It groups a 64-bit
    hash of the key, not the key (a third cheaper on a day of string ids): a repeated key
    repeats its hash, so where no hash repeats no key does; only where one does (a duplicate,
    or two keys sharing a hash) are the keys themselves grouped.
    """
    keyed = data.where(_key_present(key))

    def extra(*group: Column | str) -> dict[dt.date | None, int]:
        repeated = keyed.groupBy("event_date", *group).count().where("count > 1")
        got = repeated.groupBy("event_date").agg(F.sum(F.col("count") - 1).alias("extra")).collect()  # driver-side: per date
        return {r.event_date: int(r.extra) for r in got}

    by_hash = extra(F.xxhash64(*key))
    return extra(*key) if by_hash else by_hash


def _history(history: DataFrame, dates: Sequence[dt.date]) -> tuple[dict[dt.date, int], bool]:
    """driver-side: rows per date of the previous :data:`~advertisex.quality.checks.VOLUME_DAYS`
    days of ``dates`` (from ``history``), and whether ``history`` holds a date after them all."""
    if not dates:
        return {}, False
    wanted = DT.spread(dates, back=K.VOLUME_DAYS) - set(dates)
    last = max(dates)
    got = history.where(f"{dates_in('event_date', wanted)} OR event_date > DATE'{last.isoformat()}'").groupBy(
        "event_date").count().collect()  # driver-side: a count per date
    return {r.event_date: int(r["count"]) for r in got if r.event_date <= last}, any(r.event_date > last for r in got)


def _volume(prof: Profile, name: str, p: str, day: dt.date, counts: dict[dt.date, int]) -> float | None:
    before = [counts[d] for d in DT.spread([day], back=K.VOLUME_DAYS) - {day} if d in counts]
    if not before:
        prof.notes[(name, p)] = "cannot run: no history yet (no rows in the previous days)"
        return None
    base = statistics.median(before)
    prof.notes[(name, p)] = f"{prof.rows[p]:,} rows, median of the previous {len(before)} days {base:,.0f}"
    return prof.rows[p] / base


def _freshness(prof: Profile, name: str, p: str, newest: int | None, now: dt.datetime,
               bound: float | None, is_newest: bool) -> float | None:
    if bound is None:
        prof.notes[(name, p)] = "not checked: quality.freshness_hours is null"
        return None
    if newest is None:
        prof.notes[(name, p)] = "not measured: the partition has no rows"
        return None
    if not is_newest:
        prof.notes[(name, p)] = "not checked: not the table's newest partition"
        return None
    stamp = dt.datetime.fromtimestamp(newest, dt.UTC)
    hours = (now - stamp).total_seconds() / 3600
    prof.notes[(name, p)] = f"newest event {stamp:%Y-%m-%d %H:%M} UTC, {hours:,.1f} h before the check"
    return hours
