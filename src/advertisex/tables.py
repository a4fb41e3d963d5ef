"""Every lake table, declared once: name, layer, columns, partitioning, statistics, Z-order.

The writers conform their rows to :attr:`Table.schema`, the catalog registers
:attr:`Table.sql_name`, the ``optimize`` job Z-orders by :attr:`Table.zorder`, every
write sets :attr:`Table.stats_columns` as the table's Delta statistics columns, and
docs/TABLES.md is generated from this module (``python -m advertisex.tables``; a test
keeps it current). docs/CONTRACT.md §2 (docs/CONTRACT.md) pins the public ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

BRONZE, SILVER, GOLD, QUARANTINE_LAYER, QUALITY, INTERNAL = (
    "bronze", "silver", "gold", "quarantine", "quality", "internal")


def ddl_columns(ddl: str) -> tuple[str, ...]:
    """The top-level column names of a DDL schema (``"a decimal(9,2), b struct<c: int, d: int>"``
    → ``("a", "b")``), read without a Spark session."""
    return tuple(item.split()[0] for item in _ddl_items(ddl))


@dataclass(frozen=True)
class Table:
    """One Delta table under ``lake.root``.

    ``name``: its path under ``lake.root`` (``gold/campaign_daily``). ``schema``: the
    columns in order, as Spark DDL. ``stats_columns``: the columns Delta keeps min/max
    statistics for (``delta.dataSkippingStatsColumns``; empty: Delta's default, the first
    32). ``zorder``: the columns ``optimize`` clusters each partition by (they need
    statistics). ``catalog``: registered by name in Spark SQL. ``change_feed``: Delta records
    its change data feed (a step after its writer reads the rows each commit inserted).
    """

    name: str
    layer: str
    schema: str
    description: str
    partition_by: str | None = "event_date"
    stats_columns: tuple[str, ...] = ()
    zorder: tuple[str, ...] = ()
    catalog: bool = True
    evolves: bool = False  # takes the columns a newer bid-request schema adds (Delta's mergeSchema)
    change_feed: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return ddl_columns(self.schema)

    @property
    def sql_name(self) -> str:
        """``gold/campaign_daily`` → ``gold.campaign_daily``; ``quarantine`` stays ``quarantine``."""
        return self.name.replace("/", ".")

    def struct(self, *columns: str) -> StructType:
        """The declared schema (or just ``columns`` of it) as a Spark ``StructType``."""
        from pyspark.sql.types import StructType

        schema = StructType.fromDDL(self.schema)
        return StructType([schema[c] for c in columns]) if columns else schema

    def conform(self, df: DataFrame) -> DataFrame:
        """``df``'s columns as declared: in order, cast, null for absent ones (a writer's last
        step); a table that ``evolves`` keeps the undeclared ones after them."""
        import pyspark.sql.functions as F

        have = set(df.columns)
        declared = self.struct().fields
        added = [c for c in df.columns if c not in self.columns] if self.evolves else []
        return df.select(*[
            (F.col(f.name) if f.name in have else F.lit(None)).cast(f.dataType).alias(f.name) for f in declared
        ], *added)

    def empty(self, spark: SparkSession, *columns: str) -> DataFrame:
        """No rows, in the declared shape (or just ``columns`` of it): what a reader of a table
        that does not exist yet works with instead."""
        return spark.createDataFrame([], self.struct(*columns))

    @property
    def write_options(self) -> dict[str, str]:
        """Writer options that set the table's Delta properties when a write creates it, and
        let a table that ``evolves`` add the columns a write brings.

        Delta applies ``delta.*`` writer options as table properties on creation and
        ignores them on later writes, so every writer can pass them.
        """
        out = {"mergeSchema": "true"} if self.evolves else {}
        if self.stats_columns:
            out["delta.dataSkippingStatsColumns"] = ",".join(self.stats_columns)
        if self.change_feed:
            out["delta.enableChangeDataFeed"] = "true"
        return out


# --------------------------------------------------------------------------- shapes shared by tables

_ORIGIN = "origin string, ingested_at timestamp"
_CAMPAIGN_ATTRIBUTES = "advertiser_id string, campaign_name string, channel string"
_USER_ATTRIBUTES = "age_band string, gender string, user_country string, segment string"
_CLICK_EVENT = (
    "event_id string, event_time timestamp, event_date date, user_id string, campaign_id string, "
    "ad_creative_id string, impression_id string"
)
_CAMPAIGN_COUNTS = (
    "campaign_id string, advertiser_id string, campaign_name string, impressions bigint, clicks bigint, "
    "unattributed_clicks bigint, conversions bigint, view_through_conversions bigint, spend_micros bigint, "
    "conversion_value decimal(28,6), ctr double, cvr double"
)
_BID_USER = "struct<user_id: string, segments: array<string>, country: string, device_type: string, consent: boolean>"
_BID_AUCTION = (
    "struct<auction_id: string, exchange: string, floor_price_micros: bigint, bid_price_micros: bigint, "
    "won: boolean, clearing_price_micros: bigint, deal_id: string>"
)
_BID_TARGETING = "struct<campaign_id: string, website: string, ad_slot: string, keywords: array<string>>"

# Statistics: what the pipeline and analysts filter by literally (time, batch tag,
# quarantine flag) and the Z-order columns, which Delta requires statistics on. Long text
# (bronze ``raw``) and random ids (every file spans their whole range, so min/max skips
# no file) are left out: their statistics cost write time and skip nothing.

# --------------------------------------------------------------------------- bronze

BRONZE_IMPRESSIONS = Table(
    "bronze/impressions", BRONZE,
    "raw string, impression_id string, event_time_raw string, user_id string, campaign_id string, "
    "ad_creative_id string, website string, device_type string, country string, bid_request_id string, "
    "cost_micros bigint, event_time timestamp, event_date date, quarantine_reason string, origin string, "
    "kafka_key string, kafka_topic string, kafka_partition int, kafka_offset bigint, kafka_timestamp timestamp, "
    "source_file string, source_line bigint, ingested_at timestamp, ingest_batch string",
    "every impression received (Kafka and files), as received, with its origin",
    stats_columns=("ingest_batch", "quarantine_reason", "event_time", "campaign_id"),
)
BRONZE_CLICK_EVENTS = Table(
    "bronze/click_events", BRONZE,
    "raw string, event_id string, event_type string, user_id string, campaign_id string, ad_creative_id string, "
    "impression_id string, conversion_type string, conversion_value string, event_time_raw string, "
    "event_time timestamp, event_date date, quarantine_reason string, origin string, source_file string, "
    "source_line bigint, ingested_at timestamp, ingest_batch string",
    "every click/conversion CSV row received, as received, with its file and line",
    stats_columns=("ingest_batch", "quarantine_reason", "event_time", "campaign_id"),
)
BRONZE_BID_REQUESTS = Table(
    "bronze/bid_requests", BRONZE,
    f"raw string, magic_byte int, schema_id int, bid_request_id string, event_time timestamp, user {_BID_USER}, "
    f"auction {_BID_AUCTION}, targeting {_BID_TARGETING}, event_date date, quarantine_reason string, "
    "origin string, kafka_topic string, kafka_partition int, kafka_offset bigint, kafka_timestamp timestamp, "
    "ingested_at timestamp, ingest_batch string",
    "every bid request received, decoded with its writer schema into the newest (structs as registered)",
    stats_columns=("ingest_batch", "quarantine_reason", "event_time"),
    evolves=True,
)
QUARANTINE = Table(
    "quarantine", QUARANTINE_LAYER,
    "source string, reason string, raw string, origin string, ingested_at timestamp, ingest_date date",
    "every malformed record, with its source, reason code and origin",
    partition_by="ingest_date",
    stats_columns=("source", "reason", "ingested_at"),
)

# --------------------------------------------------------------------------- silver

SILVER_IMPRESSIONS = Table(
    "silver/impressions", SILVER,
    "impression_id string, event_time timestamp, event_date date, user_id string, campaign_id string, "
    "ad_creative_id string, website string, device_type string, country string, bid_request_id string, "
    f"cost_micros bigint, {_ORIGIN}, {_CAMPAIGN_ATTRIBUTES}, {_USER_ATTRIBUTES}",
    "valid impressions, normalised, one per impression_id, with campaign and user attributes",
    stats_columns=("event_time", "campaign_id"),
    zorder=("campaign_id",),
    change_feed=True,
)
SILVER_CLICKS = Table(
    "silver/clicks", SILVER,
    f"{_CLICK_EVENT}, {_ORIGIN}, attributed_impression_id string, attribution_kind string, "
    "attribution_lag_ms bigint",
    "valid clicks, one per event_id, with their attribution",
    stats_columns=("event_time", "campaign_id"),
    zorder=("campaign_id",),
)
SILVER_CONVERSIONS = Table(
    "silver/conversions", SILVER,
    f"{_CLICK_EVENT}, conversion_type string, conversion_value decimal(18,6), {_ORIGIN}, "
    "attributed_click_id string, attributed_impression_id string, attribution_kind string, "
    "attribution_lag_ms bigint",
    "valid conversions, one per event_id, with their attribution",
    stats_columns=("event_time", "campaign_id"),
    zorder=("campaign_id",),
)
SILVER_BID_REQUESTS = Table(
    "silver/bid_requests", SILVER,
    "bid_request_id string, event_time timestamp, event_date date, user_id string, segments array<string>, "
    "country string, device_type string, consent boolean, auction_id string, exchange string, "
    "floor_price_micros bigint, bid_price_micros bigint, won boolean, clearing_price_micros bigint, "
    "deal_id string, campaign_id string, website string, ad_slot string, keywords array<string>, "
    f"schema_id int, {_ORIGIN}, {_CAMPAIGN_ATTRIBUTES}, {_USER_ATTRIBUTES}",
    "valid bid requests, flattened and normalised, one per bid_request_id, with campaign and user attributes",
    stats_columns=("event_time", "exchange", "campaign_id"),
    zorder=("exchange",),
    evolves=True,
)
DIM_CAMPAIGNS = Table(
    "silver/dim_campaigns", SILVER,
    "campaign_id string, advertiser_id string, campaign_name string, channel string, daily_budget_micros bigint, "
    "start_date date, end_date date, valid_from timestamp, valid_to timestamp",
    "campaigns reference, SCD type 2 (valid_to null: current)",
    partition_by=None,
)
DIM_USERS = Table(
    "silver/dim_users", SILVER,
    "user_id string, age_band string, gender string, country string, signup_date date, segment string, "
    "valid_from timestamp, valid_to timestamp",
    "users reference, SCD type 2 (valid_to null: current)",
    partition_by=None,
)

# --------------------------------------------------------------------------- gold

GOLD_CAMPAIGN_DAILY = Table(
    "gold/campaign_daily", GOLD,
    f"event_date date, {_CAMPAIGN_COUNTS}",
    "docs/CONTRACT.md §3 campaign metrics per day",
    zorder=("campaign_id",),
)
GOLD_CAMPAIGN_HOURLY = Table(
    "gold/campaign_hourly", GOLD,
    f"event_date date, event_hour int, {_CAMPAIGN_COUNTS}",
    "the same metrics per UTC hour",
    zorder=("campaign_id",),
)
GOLD_BID_DAILY = Table(
    "gold/bid_daily", GOLD,
    "event_date date, exchange string, bid_requests bigint, bids bigint, wins bigint, win_rate double, "
    "avg_clearing_price_micros double, impressions_matched bigint",
    "docs/CONTRACT.md §3 bidding metrics per day and exchange",
)

# --------------------------------------------------------------------------- the pipeline's own

QUALITY_RESULTS = Table(
    "quality/results", QUALITY,
    "run_id string, checked_at timestamp, suite string, table string, partition string, expectation string, "
    "expectation_type string, severity string, success boolean, observed_value double, expected string, "
    "note string, sample_rows array<string>, table_version bigint",
    "docs/CONTRACT.md §6: one row per expectation, table partition (or ingestion batch) and validation run; "
    "failed ones with a few sample rows",
    partition_by=None,
    stats_columns=("checked_at", "table", "severity"),
)
# Where results were kept before quality/results (no longer read or written).
LEGACY_QUALITY_RESULTS = "_pipeline/quality_results"

ANOMALIES = Table(
    "quality/anomalies", QUALITY,
    "rule string, severity string, table string, event_date date, event_hour int, campaign_id string, "
    "source string, expected double, observed double, score double, summary string, first_seen timestamp, "
    "last_seen timestamp, status string, run_id string, resolved_at timestamp",
    "docs/CONTRACT.md §6 anomaly findings: what was expected and what was seen; open or resolved, never deleted",
    partition_by=None,
)

TABLES: tuple[Table, ...] = (
    BRONZE_IMPRESSIONS, BRONZE_CLICK_EVENTS, BRONZE_BID_REQUESTS,
    SILVER_IMPRESSIONS, SILVER_CLICKS, SILVER_CONVERSIONS, SILVER_BID_REQUESTS, DIM_CAMPAIGNS, DIM_USERS,
    GOLD_CAMPAIGN_DAILY, GOLD_CAMPAIGN_HOURLY, GOLD_BID_DAILY,
    QUARANTINE, QUALITY_RESULTS, ANOMALIES,
)


def markdown() -> str:
    """docs/TABLES.md: every table with its layer, partitioning, statistics, Z-order and columns."""
    out = [
        "# Lake tables",
        "",
        "Generated from `src/advertisex/tables.py` by `python -m advertisex.tables > docs/TABLES.md`;",
        "a test keeps it current. docs/CONTRACT.md §2 and §3 pin the public ones.",
        "",
        "| table | SQL name | layer | partitioned by | statistics columns | Z-order | what |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in TABLES:
        sql = f"`{t.sql_name}`" if t.catalog else "—"
        stats = ", ".join(t.stats_columns) or "Delta's default"
        out.append(f"| `{t.name}` | {sql} | {t.layer} | {t.partition_by or '—'} | {stats} | "
                   f"{', '.join(t.zorder) or '—'} | {t.description} |")
    for t in TABLES:
        out += ["", f"## `{t.name}`", "", "```", *(f"{c.strip()}" for c in _ddl_items(t.schema)), "```"]
    return "\n".join(out) + "\n"


def _ddl_items(ddl: str) -> list[str]:
    """The top-level ``name type`` items of a DDL schema."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(ddl + ","):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(ddl[start:i])
            start = i + 1
    return items


if __name__ == "__main__":
    print(markdown(), end="")
