"""Filters on a few known keys, as literals: a scan then skips what a join would shuffle.

Incremental steps (silver inserts, re-attribution) often know the handful of ids or
``(user_id, campaign_id)`` pairs a new batch can touch. Up to :data:`LITERAL_KEYS` of
them are matched as literals in the scan's filter; more are better joined from a
broadcast table by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from functools import reduce
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column

# Up to this many keys are matched as literals; more are joined from a broadcast table
# (a Spark job to build it).
LITERAL_KEYS = 1000

PairKeys = Collection[tuple[str | None, str | None]]
IdKeys = Collection[str | None]


def in_keys(columns: Sequence[str], keys: Collection[tuple[Any, ...]]) -> Column:
    """``columns`` equal one of ``keys`` (literal tuples), as an equi-join on them would
    match: a key or a row with a null part matches nothing."""
    keys = [k for k in keys if all(v is not None for v in k)]
    if not keys:
        return F.lit(False)
    if len(columns) == 1:
        return F.coalesce(F.col(columns[0]).isin([k[0] for k in keys]), F.lit(False))
    # Struct equality treats nulls as equal: rows with a null part are left out explicitly.
    not_null = reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in columns])
    row = F.struct(*[F.col(c) for c in columns])
    literals = [F.struct(*[F.lit(v).alias(c) for v, c in zip(k, columns, strict=True)]) for k in keys]
    return not_null & row.isin(literals)


def in_ids(column: str, values: IdKeys) -> Column:
    """:func:`in_keys` on one column."""
    return in_keys((column,), [(v,) for v in values])


def few_enough(values: Collection[Any] | None) -> bool:
    """Whether ``values`` (keys the caller holds) are few enough to be matched as literals."""
    return values is not None and len(values) <= LITERAL_KEYS


def dates_in(column: str, dates: Iterable[dt.date]) -> str:
    """SQL predicate ``column IN (DATE'…', …)`` (``false`` for no dates)."""
    items = sorted(set(dates))
    if not items:
        return "false"
    return f"{column} IN ({', '.join(f'DATE{d.isoformat()!r}' for d in items)})"
