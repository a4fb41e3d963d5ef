"""Silver transforms: valid bronze rows → normalised, de-duplicated, enriched rows.

Pure DataFrame functions (no I/O, no actions). The silver pipeline composes them:

    bronze (quarantine_reason is null)
      → silver_impressions / silver_click_events → split_clicks_conversions / silver_bid_requests
      → dedupe(key)                     one row per event id (deterministic survivor;
                                        dedupe_few when nearly every id is unique)
      → enrich_campaign / enrich_user   SCD-2 dimension rows valid at the event time
      → attribution (see :mod:`advertisex.transforms.attribution`)

The reference dimensions and the enrichment are in :mod:`advertisex.transforms.dimensions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql.types import DecimalType, StructType

from advertisex import contract as C
from advertisex import tables
from advertisex.transforms import attribution as A
from advertisex.transforms import dimensions as D
from advertisex.transforms import normalize as N

Transform = Callable[[DataFrame], DataFrame]

CONVERSION_VALUE_TYPE = DecimalType(C.CONVERSION_VALUE_PRECISION, C.CONVERSION_VALUE_SCALE)

_ENRICHMENT = (*D.CAMPAIGN_ATTRIBUTES, *D.USER_ATTRIBUTES)

# What the transforms below return: the silver tables' columns (advertisex.tables) before
# enrichment (impressions, bid requests) and before attribution (clicks, conversions).
SILVER_IMPRESSION_COLUMNS = tuple(c for c in tables.SILVER_IMPRESSIONS.columns if c not in _ENRICHMENT)
SILVER_BID_REQUEST_COLUMNS = tuple(c for c in tables.SILVER_BID_REQUESTS.columns if c not in _ENRICHMENT)
SILVER_CLICK_COLUMNS = tuple(c for c in tables.SILVER_CLICKS.columns if c not in A.CLICK_ATTRIBUTION_COLUMNS)
SILVER_CONVERSION_COLUMNS = tuple(
    c for c in tables.SILVER_CONVERSIONS.columns if c not in A.CONVERSION_ATTRIBUTION_COLUMNS
)
# Clicks and conversions together, as the CSV feed brings them.
SILVER_CLICK_EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "event_time",
    "event_date",
    "user_id",
    "campaign_id",
    "ad_creative_id",
    "impression_id",
    "conversion_type",
    "conversion_value",
    "origin",
    "ingested_at",
)


# --------------------------------------------------------------------------- events


def silver_impressions(df: DataFrame) -> DataFrame:
    """Valid bronze impressions → normalised silver impressions (not yet de-duplicated).

    Args:
        df: bronze impression rows that passed validation: ``impression_id``, ``user_id``,
            ``campaign_id``, ``ad_creative_id``, ``website``, ``device_type``, ``country``,
            ``bid_request_id`` (raw strings), ``cost_micros`` (long), ``event_time``
            (timestamp), ``event_date`` (date), ``origin``, ``ingested_at``; other
            columns are ignored.

    Returns:
        :data:`SILVER_IMPRESSION_COLUMNS`: ids trimmed (empty → null), ``user_id``,
        ``website``, ``device_type`` and ``country`` normalised per §1.5, ``cost_micros``
        long, ``event_date`` recomputed as the UTC date of ``event_time``.
    """
    return df.select(
        N.clean_id(F.col("impression_id")).alias("impression_id"),
        F.col("event_time"),
        N.event_date(F.col("event_time")).alias("event_date"),
        N.user_id(F.col("user_id")).alias("user_id"),
        N.clean_id(F.col("campaign_id")).alias("campaign_id"),
        N.clean_id(F.col("ad_creative_id")).alias("ad_creative_id"),
        N.website(F.col("website")).alias("website"),
        N.device_type(F.col("device_type")).alias("device_type"),
        N.country(F.col("country")).alias("country"),
        N.clean_id(F.col("bid_request_id")).alias("bid_request_id"),
        F.col("cost_micros").cast("long").alias("cost_micros"),
        F.col("origin"),
        F.col("ingested_at"),
    )


def silver_click_events(df: DataFrame) -> DataFrame:
    """Valid bronze click events (clicks and conversions) → normalised rows.

    Args:
        df: bronze click_events rows that passed validation: ``event_id``, ``event_type``,
            ``user_id``, ``campaign_id``, ``ad_creative_id``, ``impression_id``,
            ``conversion_type``, ``conversion_value`` (CSV strings, empty = absent),
            ``event_time``, ``event_date``, ``origin``, ``ingested_at``.

    Returns:
        :data:`SILVER_CLICK_EVENT_COLUMNS`: ``event_type`` trimmed and lower-cased, empty
        strings → null, ``user_id`` normalised, ``conversion_type`` trimmed and
        lower-cased, ``conversion_value`` as ``decimal(18,6)`` (empty → 0; text that is not
        a decimal(18,6) → null, which bronze has already quarantined).
    """
    value_text = N.empty_to_null(N.strip(F.col("conversion_value").cast("string")))
    return df.select(
        N.clean_id(F.col("event_id")).alias("event_id"),
        F.lower(N.strip(F.col("event_type"))).alias("event_type"),
        F.col("event_time"),
        N.event_date(F.col("event_time")).alias("event_date"),
        N.user_id(F.col("user_id")).alias("user_id"),
        N.clean_id(F.col("campaign_id")).alias("campaign_id"),
        N.clean_id(F.col("ad_creative_id")).alias("ad_creative_id"),
        N.clean_id(F.col("impression_id")).alias("impression_id"),
        N.empty_to_null(F.lower(N.strip(F.col("conversion_type")))).alias("conversion_type"),
        F.when(value_text.isNull(), F.lit(0).cast(CONVERSION_VALUE_TYPE))
        .otherwise(value_text.try_cast(CONVERSION_VALUE_TYPE))
        .alias("conversion_value"),
        F.col("origin"),
        F.col("ingested_at"),
    )


def silver_clicks(events: DataFrame) -> DataFrame:
    """The clicks among :func:`silver_click_events` rows.

    Args:
        events: output of :func:`silver_click_events`.

    Returns:
        :data:`SILVER_CLICK_COLUMNS` of the rows with ``event_type = 'click'``.
    """
    return events.where(F.col("event_type") == C.EVENT_TYPE_CLICK).select(*SILVER_CLICK_COLUMNS)


def silver_conversions(events: DataFrame) -> DataFrame:
    """The conversions among :func:`silver_click_events` rows.

    Args:
        events: output of :func:`silver_click_events`.

    Returns:
        :data:`SILVER_CONVERSION_COLUMNS` of the rows with ``event_type = 'conversion'``.
    """
    return events.where(F.col("event_type") == C.EVENT_TYPE_CONVERSION).select(
        *SILVER_CONVERSION_COLUMNS
    )


def split_clicks_conversions(events: DataFrame) -> tuple[DataFrame, DataFrame]:
    """``(clicks, conversions)`` of :func:`silver_click_events` rows.

    Args:
        events: output of :func:`silver_click_events`.

    Returns:
        :func:`silver_clicks` and :func:`silver_conversions` of ``events``.
    """
    return silver_clicks(events), silver_conversions(events)


def _field_or_null(schema: StructType, struct: str, field: str, type_name: str) -> Column:
    """``struct.field``, or a typed null when the struct lacks it (rows read with schema v1)."""
    st = schema[struct].dataType
    if isinstance(st, StructType) and field in st.fieldNames():
        return F.col(struct).getField(field)
    return F.lit(None).cast(type_name)


def silver_bid_requests(df: DataFrame) -> DataFrame:
    """Bronze bid requests (nested, newest Avro schema) → flat silver rows.

    Args:
        df: ``bid_request_id``, ``event_time``, ``event_date``, ``schema_id``, ``user``
            struct, ``auction`` struct, ``targeting`` struct, ``origin``, ``ingested_at``.
            ``user.consent`` and ``auction.deal_id`` (schema v2) may be absent: they are
            null then.

    Returns:
        :data:`SILVER_BID_REQUEST_COLUMNS`; ``user_id``, ``country``, ``device_type`` and
        ``website`` normalised per §1.5; ``campaign_id`` trimmed (empty → null); then the
        fields a newer schema added (:func:`added_bid_columns`).
    """
    user, auction, targeting = F.col("user"), F.col("auction"), F.col("targeting")
    return df.select(
        N.clean_id(F.col("bid_request_id")).alias("bid_request_id"),
        F.col("event_time"),
        N.event_date(F.col("event_time")).alias("event_date"),
        N.user_id(user.getField("user_id")).alias("user_id"),
        user.getField("segments").alias("segments"),
        N.country(user.getField("country")).alias("country"),
        N.device_type(user.getField("device_type")).alias("device_type"),
        _field_or_null(df.schema, "user", "consent", "boolean").alias("consent"),
        auction.getField("auction_id").alias("auction_id"),
        auction.getField("exchange").alias("exchange"),
        auction.getField("floor_price_micros").cast("long").alias("floor_price_micros"),
        auction.getField("bid_price_micros").cast("long").alias("bid_price_micros"),
        auction.getField("won").alias("won"),
        auction.getField("clearing_price_micros").cast("long").alias("clearing_price_micros"),
        _field_or_null(df.schema, "auction", "deal_id", "string").alias("deal_id"),
        N.clean_id(targeting.getField("campaign_id")).alias("campaign_id"),
        N.website(targeting.getField("website")).alias("website"),
        targeting.getField("ad_slot").alias("ad_slot"),
        targeting.getField("keywords").alias("keywords"),
        F.col("schema_id").cast("int").alias("schema_id"),
        F.col("origin"),
        F.col("ingested_at"),
        *added_bid_columns(df.schema),
    )


def added_bid_columns(bronze: StructType) -> list[Column]:
    """What a newer bid-request schema added (docs/CONTRACT.md §1.3), flat and named after
    where it sits, so that it cannot take the name of a silver column (say, the campaign's
    ``channel``): a field added to ``user``, ``auction`` or ``targeting`` as
    ``{struct}_{field}``, a top-level one as ``request_{field}``."""
    declared = tables.BRONZE_BID_REQUESTS.struct()
    out = [F.col(f.name).alias(f"request_{f.name}") for f in bronze.fields if f.name not in declared.fieldNames()]
    for struct in ("user", "auction", "targeting"):
        known = declared[struct].dataType.fieldNames()
        out += [F.col(struct).getField(f.name).alias(f"{struct}_{f.name}")
                for f in bronze[struct].dataType.fields if f.name not in known]
    return out


def arrival_order() -> list[Column]:
    """The order records arrived in: ingested first, then by ``origin`` with its final number
    compared as a number — line 9 of a file before line 10, offset 9 before offset 10 — so
    of two copies of an id, the earlier line or offset wins (not the one whose text sorts first)."""
    origin = F.col("origin")
    return [F.col("ingested_at"), F.regexp_extract(origin, r"^(.*?)[0-9]*$", 1),
            F.regexp_extract(origin, r"([0-9]+)$", 1).try_cast("long")]


def dedupe(key: str | Sequence[str], order_by: Sequence[Column] | None = None) -> Transform:
    """One row per ``key``: the first by ``order_by`` (ascending, nulls last; default
    :func:`arrival_order`).

    With the default order the survivor is the copy that arrived first — deterministic, so
    re-running changes nothing, and the same copy the contract's truth counts when copies of
    one id differ. Rows whose key is null are kept as they are (they cannot be duplicates
    of anything).

    Args:
        key: the event id column(s), e.g. ``"impression_id"``.
        order_by: columns ranking the copies of one key.

    Returns:
        A transform for ``df.transform(...)`` keeping the input columns.
    """
    keys = [key] if isinstance(key, str) else list(key)

    def _dedupe(df: DataFrame) -> DataFrame:
        w = Window.partitionBy(*keys).orderBy(*[c.asc_nulls_last() for c in (order_by or arrival_order())])
        has_null_key = F.lit(False)
        for k in keys:
            has_null_key = has_null_key | F.col(k).isNull()
        ranked = df.withColumn("_dedupe_rank", F.row_number().over(w))
        return ranked.where((F.col("_dedupe_rank") == 1) | has_null_key).drop("_dedupe_rank")

    return _dedupe


def copies(df: DataFrame, key: str) -> DataFrame:
    """One row per value of ``key`` in ``df`` (null too) with its number of rows, ``_copies``."""
    return df.groupBy(key).agg(F.count(F.lit(1)).alias("_copies"))


def counted_keys(counted: DataFrame, key: str) -> DataFrame:
    """The keys of :func:`copies`, one row each.

    The filter on ``_copies`` is always true. It keeps the count in the plan, so Spark runs
    one aggregation for these keys and for :func:`dedupe_few`'s repeated ones. Selected
    alone, the keys would let the optimizer drop the count and aggregate a second time.
    """
    return counted.where(F.col("_copies") > 0).select(key)


def dedupe_few(key: str, counted: DataFrame, order_by: Sequence[Column] | None = None) -> Transform:
    """:func:`dedupe` for rows whose keys are nearly all unique, as in a streaming batch.

    The keys that occur more than once are taken from ``counted`` and broadcast. Only their
    rows are shuffled and ranked; the others pass through where they are. :func:`dedupe`
    shuffles and sorts every row, wide ones included. When no key repeats, the broadcast is
    empty, and Spark's adaptive execution drops the ranked branch before it reads anything.
    The survivors are the same as :func:`dedupe` keeps.

    Args:
        key: the event id column.
        counted: :func:`copies` of the same rows. The caller can use its keys too
            (:func:`counted_keys`), e.g. for a probe, and the aggregation runs once.
        order_by: as for :func:`dedupe`.

    Returns:
        A transform for ``df.transform(...)`` keeping the input columns.
    """
    repeated = F.broadcast(counted.where(F.col("_copies") > 1).select(key))

    def _dedupe(df: DataFrame) -> DataFrame:
        once = df.join(repeated, key, "left_anti")  # a null key never matches: kept, as dedupe keeps it
        return once.unionByName(df.join(repeated, key, "left_semi").transform(dedupe(key, order_by)))

    return _dedupe
