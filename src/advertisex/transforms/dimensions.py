"""Reference data as SCD type 2 dimensions, and events enriched as of their event time.

Reference data (docs/CONTRACT.md §1.4) is kept as SCD type 2 dimensions: the reference CSV
columns plus ``valid_from`` (timestamp) and ``valid_to`` (timestamp, null = current).
:func:`scd2_apply` / :func:`scd2_changes` turn a new reference snapshot into the next
version of a dimension without losing history; :func:`enrich_campaign` and
:func:`enrich_user` add the attributes valid at each event's time. Pure DataFrame
functions (no I/O, no actions).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame
from pyspark.sql.types import TimestampType

from advertisex import contract as C
from advertisex.transforms import normalize as N

# The first version of a dimension row applies to every earlier event too (an event is
# usually older than the moment its reference row was first loaded, e.g. in a backfill).
DIM_BEGINNING = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

CAMPAIGN_ATTRIBUTES = ("advertiser_id", "campaign_name", "channel")
USER_ATTRIBUTES = ("age_band", "gender", "user_country", "segment")


def timestamp_lit(value: dt.datetime) -> Column:
    """A timestamp literal of ``value`` (a naive datetime is taken as UTC), session-zone free.

    Args:
        value: the instant.

    Returns:
        A timestamp Column.
    """
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    micros = (aware - epoch) // dt.timedelta(microseconds=1)
    return F.timestamp_micros(F.lit(micros))


def _latest_per_key(df: DataFrame, key: str) -> DataFrame:
    """One row per ``key``: the greatest row (all columns compared in order); deterministic."""
    others = [c for c in df.columns if c != key]
    if not others:
        return df.dropDuplicates([key])
    best = df.groupBy(key).agg(F.max(F.struct(*others)).alias("_row"))
    return best.select(key, *[F.col("_row").getField(c).alias(c) for c in others])


def reference_campaigns(df: DataFrame) -> DataFrame:
    """A campaigns reference CSV (§1.4, read as text) → typed, one row per campaign.

    Args:
        df: columns :data:`contract.CAMPAIGN_CSV_COLUMNS` (strings, or any type).

    Returns:
        ``campaign_id``, ``advertiser_id``, ``campaign_name``, ``channel`` (strings,
        trimmed, empty → null), ``daily_budget_micros`` (long), ``start_date``,
        ``end_date`` (date; unparseable → null). Rows without ``campaign_id`` are
        dropped; if an id repeats, one row survives deterministically.
    """
    text = {c: N.empty_to_null(N.strip(F.col(c).cast("string"))) for c in C.CAMPAIGN_CSV_COLUMNS}
    out = df.select(
        text["campaign_id"].alias("campaign_id"),
        text["advertiser_id"].alias("advertiser_id"),
        text["campaign_name"].alias("campaign_name"),
        text["channel"].alias("channel"),
        text["daily_budget_micros"].try_cast("long").alias("daily_budget_micros"),
        F.try_to_date(text["start_date"], "yyyy-MM-dd").alias("start_date"),
        F.try_to_date(text["end_date"], "yyyy-MM-dd").alias("end_date"),
    ).where(F.col("campaign_id").isNotNull())
    return _latest_per_key(out, "campaign_id")


def reference_users(df: DataFrame) -> DataFrame:
    """A users reference CSV (§1.4, read as text) → typed, one row per user.

    Args:
        df: columns :data:`contract.USER_CSV_COLUMNS` (strings, or any type).

    Returns:
        ``user_id`` (normalised like events), ``age_band``, ``gender`` (strings),
        ``country`` (§1.5 rule), ``signup_date`` (date), ``segment`` (string). Rows
        without ``user_id`` are dropped; if an id repeats after normalisation, one row
        survives deterministically.
    """
    text = {c: N.empty_to_null(N.strip(F.col(c).cast("string"))) for c in C.USER_CSV_COLUMNS}
    out = df.select(
        N.user_id(F.col("user_id").cast("string")).alias("user_id"),
        text["age_band"].alias("age_band"),
        text["gender"].alias("gender"),
        N.country(F.col("country").cast("string")).alias("country"),
        F.try_to_date(text["signup_date"], "yyyy-MM-dd").alias("signup_date"),
        text["segment"].alias("segment"),
    ).where(F.col("user_id").isNotNull())
    return _latest_per_key(out, "user_id")


class Scd2Changes(NamedTuple):
    """What a reference refresh does to an SCD-2 dimension."""

    to_close: DataFrame
    """Current rows that a new version replaces: the dimension columns, ``valid_to`` set."""
    to_insert: DataFrame
    """New versions: the dimension columns, ``valid_from`` set, ``valid_to`` null."""


# Long for its docstring, which lists the SCD-2 cases; the code is one join.
def scd2_changes(
    current_dim: DataFrame,
    new_snapshot: DataFrame,
    *,
    load_time: dt.datetime | Column,
    key: str | None = None,
) -> Scd2Changes:
    """Compare a reference snapshot with the current rows of an SCD-2 dimension.

    - a key not in the dimension at all → inserted with ``valid_from`` =
      :data:`DIM_BEGINNING` (its first version also describes earlier events);
    - a key whose current attributes differ (null-safe) → its current row closed at
      ``load_time`` and the new version inserted from ``load_time``;
    - a key whose only versions are closed (it had been re-keyed away) → inserted from
      ``load_time``;
    - unchanged keys, and keys missing from the snapshot, are left alone (a campaign
      dropped from the file keeps its last attributes for late events).

    The same snapshot applied twice changes nothing the second time.

    Args:
        current_dim: the dimension: snapshot columns + ``valid_from``, ``valid_to``
            (may be empty).
        new_snapshot: output of :func:`reference_campaigns` / :func:`reference_users`.
        key: the id column (``"campaign_id"`` or ``"user_id"``); default: the snapshot's
            first column.
        load_time: when the snapshot takes effect (a datetime, naive = UTC, or a
            timestamp Column).

    Returns:
        :class:`Scd2Changes` with ``to_close`` and ``to_insert`` in the dimension's columns.
    """
    key = key or new_snapshot.columns[0]
    attrs = [c for c in new_snapshot.columns if c != key]
    dim_cols = [key, *attrs, "valid_from", "valid_to"]
    t = load_time if isinstance(load_time, Column) else timestamp_lit(load_time)
    cur = current_dim.where(F.col("valid_to").isNull()).alias("cur")
    known = current_dim.select(key).distinct().alias("known")
    snap = new_snapshot.alias("new")

    same = F.lit(True)
    for a in attrs:
        same = same & F.col(f"cur.{a}").eqNullSafe(F.col(f"new.{a}"))

    joined = snap.join(cur, F.col(f"new.{key}") == F.col(f"cur.{key}"), "left").join(
        known, F.col(f"new.{key}") == F.col(f"known.{key}"), "left"
    )
    changed = joined.where(F.col(f"cur.{key}").isNotNull() & ~same)
    to_close = changed.select(
        F.col(f"cur.{key}").alias(key),
        *[F.col(f"cur.{a}").alias(a) for a in attrs],
        F.col("cur.valid_from").alias("valid_from"),
        t.alias("valid_to"),
    )
    inserted = joined.where(F.col(f"cur.{key}").isNull() | ~same)
    to_insert = inserted.select(
        F.col(f"new.{key}").alias(key),
        *[F.col(f"new.{a}").alias(a) for a in attrs],
        F.when(F.col(f"known.{key}").isNull(), timestamp_lit(DIM_BEGINNING))
        .otherwise(t)
        .alias("valid_from"),
        F.lit(None).cast(TimestampType()).alias("valid_to"),
    )
    return Scd2Changes(to_close.select(*dim_cols), to_insert.select(*dim_cols))


def scd2_apply(
    current_dim: DataFrame,
    new_snapshot: DataFrame,
    *,
    load_time: dt.datetime | Column,
    key: str | None = None,
) -> DataFrame:
    """The next full version of an SCD-2 dimension after a reference refresh.

    Args:
        current_dim: the dimension as it is (snapshot columns + ``valid_from``, ``valid_to``).
        new_snapshot: the new reference snapshot.
        key: the id column; default: the snapshot's first column.
        load_time: when the snapshot takes effect.

    Returns:
        Every row of ``current_dim`` (those replaced now closed at ``load_time``) plus the
        new versions, in the dimension's columns (see :func:`scd2_changes`).
    """
    key = key or new_snapshot.columns[0]
    changes = scd2_changes(current_dim, new_snapshot, key=key, load_time=load_time)
    dim_cols = changes.to_insert.columns
    closed = changes.to_close.select(key, "valid_from", F.col("valid_to").alias("_closed_at"))
    kept = (
        current_dim.select(*dim_cols)
        .join(closed, [key, "valid_from"], "left")
        .select(
            *[c for c in dim_cols if c != "valid_to"],
            F.when(F.col("valid_to").isNull(), F.col("_closed_at"))
            .otherwise(F.col("valid_to"))
            .alias("valid_to"),
        )
        .select(*dim_cols)
    )
    return kept.unionByName(changes.to_insert)


def scd2_initial(snapshot: DataFrame) -> DataFrame:
    """A first SCD-2 dimension from a snapshot: every row valid from :data:`DIM_BEGINNING`.

    Args:
        snapshot: output of :func:`reference_campaigns` / :func:`reference_users`.

    Returns:
        The snapshot columns plus ``valid_from`` and ``valid_to`` (null).
    """
    return snapshot.withColumn("valid_from", timestamp_lit(DIM_BEGINNING)).withColumn(
        "valid_to", F.lit(None).cast(TimestampType())
    )


def current_rows(dim: DataFrame) -> DataFrame:
    """The current version of each row of an SCD-2 dimension (``valid_to`` null).

    Args:
        dim: an SCD-2 dimension.

    Returns:
        Its rows with ``valid_to`` null, without ``valid_from``/``valid_to``.
    """
    return dim.where(F.col("valid_to").isNull()).drop("valid_from", "valid_to")


def _enrich_as_of(
    df: DataFrame, dim: DataFrame, *, key: str, attributes: dict[str, str]
) -> DataFrame:
    """Left join ``dim`` rows valid at ``df.event_time``; ``attributes`` maps dim → output name."""
    d = dim.select(
        F.col(key).alias("_dim_key"),
        F.col("valid_from").alias("_dim_from"),
        F.col("valid_to").alias("_dim_to"),
        *[F.col(src).alias(f"_dim_{dst}") for src, dst in attributes.items()],
    )
    cond = (
        (F.col(key) == F.col("_dim_key"))
        & (F.col("_dim_from") <= F.col("event_time"))
        & (F.col("_dim_to").isNull() | (F.col("event_time") < F.col("_dim_to")))
    )
    base = df.drop(*[dst for dst in attributes.values() if dst in df.columns])
    joined = base.join(d, cond, "left")
    return joined.select(
        *base.columns, *[F.col(f"_dim_{dst}").alias(dst) for dst in attributes.values()]
    )


def enrich_campaign(df: DataFrame, campaigns_dim: DataFrame) -> DataFrame:
    """Add the campaign attributes valid at each event's ``event_time``.

    The dimension's versions of one campaign must not overlap (SCD-2 invariant), so each
    event matches at most one version; unknown campaigns get nulls.

    Args:
        df: events with ``campaign_id`` and ``event_time``.
        campaigns_dim: SCD-2 campaigns: ``campaign_id``, ``advertiser_id``,
            ``campaign_name``, ``channel``, ..., ``valid_from``, ``valid_to``.

    Returns:
        ``df``'s columns plus ``advertiser_id``, ``campaign_name``, ``channel`` (strings;
        replaced if already present).
    """
    return _enrich_as_of(
        df, campaigns_dim, key="campaign_id", attributes={a: a for a in CAMPAIGN_ATTRIBUTES}
    )


def enrich_user(df: DataFrame, users_dim: DataFrame) -> DataFrame:
    """Add the user attributes valid at each event's ``event_time``.

    Args:
        df: events with (normalised) ``user_id`` and ``event_time``.
        users_dim: SCD-2 users: ``user_id``, ``age_band``, ``gender``, ``country``,
            ``signup_date``, ``segment``, ``valid_from``, ``valid_to``.

    Returns:
        ``df``'s columns plus ``age_band``, ``gender``, ``user_country`` (the reference
        ``country``) and ``segment`` (strings; replaced if already present).
    """
    return _enrich_as_of(
        df,
        users_dim,
        key="user_id",
        attributes={"age_band": "age_band", "gender": "gender", "country": "user_country", "segment": "segment"},
    )
