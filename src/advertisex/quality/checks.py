"""Every data-quality check, declared once per table (docs/CONTRACT.md §6).

A check is one Great Expectations expectation with a severity: ``critical`` (the data is
wrong: a gold partition that fails one is not published, and ``pipeline --once`` exits 3)
or ``warning`` (implausible: reported and alerted, published anyway). Each check is
measured on a table partition by a :class:`Measure` — a count of offending rows, a share,
duplicates, a robust outlier fence, the volume against the previous days or the age of the
newest event — that :mod:`advertisex.quality.profile` computes for all checks of a table in
one Spark aggregation. The GX suite then expects each measure's column of that profile to
lie in the check's bounds (``expect_column_values_to_be_between``), one profile row per
partition, so a suite costs one pass over the data however many checks it has, where GX's
own Spark engine would run a job per metric.

The GX files under ``gx/`` (suites, validation definitions, checkpoints) are generated
from :data:`SUITES` (``python -m advertisex.quality.project``); a test keeps them current.

Outliers are looked for in silver's ``cost_micros`` and ``conversion_value`` (each event's
money against the partition's robust fence), not in gold's per-campaign sums, which differ
by campaign size by design; a campaign drifting from its own past is an anomaly rule's job.

Severities of the ratio checks follow the contract's definitions: every event counts on
its own UTC date (§3), so a click at 00:05 attributed to an impression at 23:55 counts on
a day its impression does not; ``clicks > impressions`` and ``ctr > 1`` (and likewise
``cvr > 1``: a conversion counts up to 7 days after its click) are possible in a correct
gold row and only ``warning``s, while ``ctr`` disagreeing with ``clicks / impressions``, a
negative count or a duplicate key is ``critical``. ``win_rate`` is wins over bids of the
same requests, and a request is won only when we bid, so ``win_rate > 1`` is ``critical``.
"""

from __future__ import annotations

from dataclasses import dataclass

from advertisex import contract as C
from advertisex import tables
from advertisex.tables import Table

CRITICAL, WARNING = "critical", "warning"
SEVERITIES = (CRITICAL, WARNING)

# Measure kinds.
COUNT = "count"              # rows matching ``predicate``
SHARE = "share"              # rows matching ``predicate`` / rows
DUPLICATES = "duplicates"    # rows - distinct ``columns``
UNKNOWN_CAMPAIGNS = "unknown_campaigns"  # share of rows whose campaign_id the dimension does not know
FENCE = "fence"              # ``quantile`` of ``columns[0]`` / the partition's fence (Q3 + ``k`` * IQR, on log(1 + x))
VOLUME = "volume"            # rows / median rows of the previous ``VOLUME_DAYS`` partitions
FRESHNESS = "freshness"      # hours from the newest ``columns[0]`` to the check (newest partition only)
GIVEN = "given"              # computed by the caller (reconciliation)

VOLUME_DAYS = 7
# Fewer values than this in a partition and its quartiles say too little to fence by.
FENCE_MIN_VALUES = 100


@dataclass(frozen=True)
class Measure:
    """How a check's observed value is computed on one partition (see the kinds above).

    ``predicate`` and the time expression in ``columns`` are Spark SQL over the table's
    columns; they are also what the sample rows of a failure are selected by.
    """

    kind: str
    predicate: str | None = None
    columns: tuple[str, ...] = ()
    quantile: float = 0.995
    k: float = 3.0

    def describe(self) -> str:
        """The measure in words (kept in the GX suite as the expectation's ``meta``)."""
        if self.kind == COUNT:
            return f"rows where {self.predicate}"
        if self.kind == SHARE:
            return f"share of rows where {self.predicate}"
        if self.kind == DUPLICATES:
            return f"rows minus distinct ({', '.join(self.columns)})"
        if self.kind == UNKNOWN_CAMPAIGNS:
            return "share of rows whose campaign_id is not in silver/dim_campaigns"
        if self.kind == FENCE:
            return (f"{self.quantile:.1%} quantile of {self.columns[0]} / the partition's fence (Q3 + {self.k:g} x IQR "
                    f"of log(1 + {self.columns[0]})): above 1 when more than {1 - self.quantile:.1%} of the values "
                    "are outliers")
        if self.kind == VOLUME:
            return f"rows / median rows of the previous {VOLUME_DAYS} days' partitions"
        if self.kind == FRESHNESS:
            return f"hours from the newest {self.columns[0]} to the check (the newest partition only)"
        return "computed by the caller"


@dataclass(frozen=True)
class Check:
    """One expectation: its name (the profile column, the ``expectation`` in
    ``quality/results`` and the alert's ``alertname``), severity, bounds and measure.

    ``max_param``: the upper bound comes from the run (a GX suite parameter), e.g. the
    configured freshness.
    """

    name: str
    severity: str
    description: str
    measure: Measure
    min_value: float | None = None
    max_value: float | None = None
    max_param: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.name}: severity must be one of {SEVERITIES}")

    def expected(self) -> str:
        """The bounds in words: ``= 0``, ``<= 0.05``, ``between 0.2 and 5``."""
        hi = f"quality.{self.max_param}" if self.max_param else self.max_value
        if self.min_value is not None and hi is not None:
            return "= 0" if self.min_value == hi == 0 else f"between {self.min_value:g} and {_num(hi)}"
        return f"<= {_num(hi)}" if hi is not None else f">= {self.min_value:g}"


def _num(value: float | str | None) -> str:
    return value if isinstance(value, str) else f"{value:g}"


@dataclass(frozen=True)
class Suite:
    """The checks of one table; ``name`` is the GX suite, asset, validation definition and
    checkpoint name. ``partition``: the column a partition is named by."""

    name: str
    table: str
    checks: tuple[Check, ...]
    partition: str = "event_date"


# --------------------------------------------------------------------------- check builders


def not_null(column: str) -> Check:
    """Critical: no row has a null ``column``."""
    return Check(f"{column}_not_null", CRITICAL, f"{column} is never null",
                 Measure(COUNT, f"{column} IS NULL"), min_value=0, max_value=0)


def unique(*columns: str) -> Check:
    """Critical: no two rows share ``columns`` (null keys are the not-null checks' business)."""
    return Check(f"{'_'.join(columns)}_unique", CRITICAL, f"one row per ({', '.join(columns)})",
                 Measure(DUPLICATES, columns=columns), min_value=0, max_value=0)


def in_set(column: str, values: tuple[str, ...], *, nulls_allowed: bool = True) -> Check:
    """Critical: ``column`` is one of ``values`` (or null, when ``nulls_allowed``)."""
    listed = ", ".join(f"'{v}'" for v in values)
    predicate = f"{column} NOT IN ({listed})" if nulls_allowed else f"({column} IS NULL OR {column} NOT IN ({listed}))"
    return Check(f"{column}_in_set", CRITICAL, f"{column} is one of {', '.join(values)}"
                 + ("" if nulls_allowed else " (never null)"), Measure(COUNT, predicate), min_value=0, max_value=0)


def rule(name: str, predicate: str, description: str, severity: str = CRITICAL) -> Check:
    """No row matches ``predicate``."""
    return Check(name, severity, description, Measure(COUNT, predicate), min_value=0, max_value=0)


def non_negative(name: str, *columns: str) -> Check:
    """Critical: none of ``columns`` is negative in any row."""
    return rule(name, " OR ".join(f"{c} < 0" for c in columns), f"{', '.join(columns)} are never negative")


def mostly(name: str, predicate: str, description: str, at_most: float, severity: str = WARNING) -> Check:
    """At most ``at_most`` of the rows match ``predicate`` (GX's ``mostly`` = 1 - ``at_most``)."""
    return Check(name, severity, description, Measure(SHARE, predicate), max_value=at_most)


def mostly_present(column: str, present: float) -> Check:
    """Warning: ``column`` is missing in at most ``1 - present`` of the rows."""
    return mostly(f"{column}_mostly_present", f"{column} IS NULL",
                  f"{column} is present in at least {present:.0%} of the rows", round(1 - present, 6))


def known_campaigns(at_most_unknown: float = 0.1) -> Check:
    """Warning: at most ``at_most_unknown`` of the rows name a campaign the dimension does not know
    (generated traffic has some on purpose, as real feeds do)."""
    return Check("campaign_id_known", WARNING,
                 f"at most {at_most_unknown:.0%} of the rows have a campaign_id silver/dim_campaigns does not know",
                 Measure(UNKNOWN_CAMPAIGNS), max_value=at_most_unknown)


def no_outliers(column: str, *, quantile: float = 0.995, k: float = 3.0) -> Check:
    """At most ``1 - quantile`` of the values above the partition's robust fence: Tukey's far
    fence (Q3 + ``k`` x IQR) of ``log(1 + value)`` (money is skewed multiplicatively)."""
    return Check(f"{column}_outliers", WARNING,
                 f"at most {1 - quantile:.1%} of {column} above the partition's robust fence "
                 f"(Q3 + {k:g} x IQR of log(1 + {column}))",
                 Measure(FENCE, columns=(column,), quantile=quantile, k=k), max_value=1)


def volume(low: float = 0.2, high: float = 5.0) -> Check:
    """Warning: the partition's rows within ``low``..``high`` times the previous days' median."""
    return Check("row_volume", WARNING,
                 f"rows between {low:g} and {high:g} times the median of the previous {VOLUME_DAYS} days",
                 Measure(VOLUME), min_value=low, max_value=high)


def freshness(time_expr: str) -> Check:
    """Warning: the newest ``time_expr`` at most ``quality.freshness_hours`` old (a suite parameter)."""
    return Check("fresh", WARNING, "the newest event is at most quality.freshness_hours old when checked",
                 Measure(FRESHNESS, columns=(time_expr,)), max_param="freshness_hours")


# --------------------------------------------------------------------------- the suites

DEVICE_TYPES = tuple(sorted({*C.DEVICE_TYPE_MAP.values(), C.DEVICE_TYPE_OTHER}))
CLICK_KINDS = (C.ATTRIBUTION_IMPRESSION_ID, C.ATTRIBUTION_LAST_IMPRESSION, C.ATTRIBUTION_NONE)
CONVERSION_KINDS = (C.ATTRIBUTION_POST_CLICK, C.ATTRIBUTION_POST_VIEW, C.ATTRIBUTION_NONE)
COUNTRY_FORMAT = rule("country_format", "country IS NOT NULL AND NOT country RLIKE '^[A-Z]{2}$'",
                      "country is null or two upper-case letters")
EVENT_DATE_OF_TIME = rule("event_date_of_event_time", "event_date <> to_date(event_time)",
                          "event_date is the UTC date of event_time")
CAMPAIGN_COUNTS = ("impressions", "clicks", "unattributed_clicks", "conversions", "view_through_conversions")


def _ratio(name: str, num: str, den: str) -> Check:
    """``name`` = ``num / den``, null exactly when ``den`` is 0 (docs/CONTRACT.md §3)."""
    return rule(f"{name}_consistent",
                f"({den} = 0 AND {name} IS NOT NULL) OR ({den} > 0 AND (abs({name} - {num} / {den}) > 1e-9 "
                f"OR {name} IS NULL))",
                f"{name} = {num} / {den}, null when {den} = 0")


def _campaign_gold(time_expr: str, *key: str) -> tuple[Check, ...]:
    return (
        *(not_null(c) for c in ("event_date", *key[1:], "campaign_id")),
        unique("event_date", *key[1:], "campaign_id"),
        non_negative("counts_non_negative", *CAMPAIGN_COUNTS),
        non_negative("money_non_negative", "spend_micros", "conversion_value"),
        _ratio("ctr", "clicks", "impressions"),
        _ratio("cvr", "conversions", "clicks"),
        mostly("ctr_at_most_1", "ctr > 1", "ctr <= 1 (clicks count on their own date, so a few rows may exceed it)",
               0.02),
        mostly("cvr_at_most_1", "cvr > 1", "cvr <= 1 (conversions count on their own date)", 0.05),
        mostly("clicks_at_most_impressions", "clicks > impressions",
               "clicks <= impressions (clicks of the previous day's impressions may exceed it)", 0.02),
        known_campaigns(),
        mostly_present("campaign_name", 0.8),
        volume(),
        freshness(time_expr),
    )


_SILVER_COMMON = ("event_time", "event_date", "user_id", "campaign_id")

SUITES: tuple[Suite, ...] = (
    Suite("silver_impressions", tables.SILVER_IMPRESSIONS.name, (
        *(not_null(c) for c in ("impression_id", *_SILVER_COMMON, "ad_creative_id", "website")),
        unique("impression_id"),
        in_set("device_type", DEVICE_TYPES),
        COUNTRY_FORMAT,
        EVENT_DATE_OF_TIME,
        non_negative("cost_micros_non_negative", "cost_micros"),
        known_campaigns(),
        mostly_present("device_type", 0.7),
        mostly_present("cost_micros", 0.8),
        no_outliers("cost_micros"),
        volume(),
        freshness("event_time"),
    )),
    Suite("silver_clicks", tables.SILVER_CLICKS.name, (
        *(not_null(c) for c in ("event_id", *_SILVER_COMMON, "ad_creative_id")),
        unique("event_id"),
        in_set("attribution_kind", CLICK_KINDS, nulls_allowed=False),
        EVENT_DATE_OF_TIME,
        rule("attributed_impression_matches_kind",
             f"(attribution_kind = '{C.ATTRIBUTION_NONE}') <> (attributed_impression_id IS NULL)",
             "an attributed click names its impression, an unattributed one none"),
        rule("attribution_lag_non_negative",
             f"attribution_kind = '{C.ATTRIBUTION_LAST_IMPRESSION}' AND attribution_lag_ms < 0",
             "a click attributed by time window follows its impression"),
        known_campaigns(),
        volume(),
        freshness("event_time"),
    )),
    Suite("silver_conversions", tables.SILVER_CONVERSIONS.name, (
        *(not_null(c) for c in ("event_id", *_SILVER_COMMON)),
        unique("event_id"),
        in_set("attribution_kind", CONVERSION_KINDS, nulls_allowed=False),
        EVENT_DATE_OF_TIME,
        non_negative("conversion_value_non_negative", "conversion_value"),
        rule("post_click_names_click",
             f"attribution_kind = '{C.ATTRIBUTION_POST_CLICK}' AND attributed_click_id IS NULL",
             "a post-click conversion names its click"),
        known_campaigns(),
        mostly_present("conversion_type", 0.8),
        no_outliers("conversion_value", quantile=0.99),
        volume(),
        freshness("event_time"),
    )),
    Suite("silver_bid_requests", tables.SILVER_BID_REQUESTS.name, (
        *(not_null(c) for c in ("bid_request_id", "event_time", "event_date", "user_id", "auction_id", "exchange",
                                "website", "ad_slot", "won")),
        unique("bid_request_id"),
        in_set("device_type", DEVICE_TYPES),
        COUNTRY_FORMAT,
        EVENT_DATE_OF_TIME,
        non_negative("prices_non_negative", "floor_price_micros", "bid_price_micros", "clearing_price_micros"),
        rule("won_only_with_a_bid", "won AND bid_price_micros IS NULL", "a request is won only when we bid"),
        known_campaigns(),
        mostly_present("device_type", 0.7),
        volume(),
        freshness("event_time"),
    )),
    Suite("gold_campaign_daily", tables.GOLD_CAMPAIGN_DAILY.name,
          _campaign_gold("timestampadd(DAY, 1, to_timestamp(event_date))", "event_date")),
    Suite("gold_campaign_hourly", tables.GOLD_CAMPAIGN_HOURLY.name, (
        *_campaign_gold("timestampadd(HOUR, event_hour + 1, to_timestamp(event_date))", "event_date", "event_hour"),
        rule("event_hour_in_range", "event_hour < 0 OR event_hour > 23", "event_hour is 0 to 23"),
    )),
    Suite("gold_bid_daily", tables.GOLD_BID_DAILY.name, (
        not_null("event_date"),
        not_null("exchange"),
        unique("event_date", "exchange"),
        non_negative("counts_non_negative", "bid_requests", "bids", "wins", "impressions_matched"),
        rule("bids_at_most_requests", "bids > bid_requests OR wins > bid_requests",
             "bids and wins <= bid_requests (one row per request)"),
        _ratio("win_rate", "wins", "bids"),
        rule("win_rate_at_most_1", "win_rate > 1", "win_rate <= 1 (a request is won only when we bid)"),
        rule("avg_clearing_price_non_negative", "avg_clearing_price_micros < 0", "avg_clearing_price_micros >= 0"),
        volume(),
        freshness("timestampadd(DAY, 1, to_timestamp(event_date))"),
    )),
)

# Reconciliation (docs/CONTRACT.md §6), per source and bronze batch: see quality/reconcile.py.
RECONCILIATION = Suite("reconciliation", "bronze", (
    Check("received_equals_silver_plus_quarantined", CRITICAL,
          "records received = records in silver (with their duplicates) + records quarantined",
          Measure(GIVEN), min_value=0, max_value=0),
    Check("quarantine_holds_the_invalid_records", CRITICAL,
          "quarantine holds exactly the batch's invalid records",
          Measure(GIVEN), min_value=0, max_value=0),
    Check("duplicates_agree_with_the_record_kept", WARNING,
          "each valid record whose id silver already holds from another record has that record's contents",
          Measure(GIVEN), min_value=0, max_value=0),
), partition="ingest_batch")

ALL_SUITES: tuple[Suite, ...] = (*SUITES, RECONCILIATION)


def suite_of(table: Table | str) -> Suite:
    """The suite of ``table`` (a :class:`~advertisex.tables.Table` or its name).

    Raises:
        KeyError: no suite covers that table.
    """
    name = getattr(table, "name", table)
    for suite in SUITES:
        if suite.table == name:
            return suite
    raise KeyError(f"no quality suite for table {name!r}")
