"""The data contract (docs/CONTRACT.md) stated in code: inputs, reason codes, attribution kinds.

Parsers, transforms, the generator and the tests all read names from here, so a change
to the contract is a change in one place.
"""

from __future__ import annotations

from importlib import resources

# --------------------------------------------------------------------------- sources

SOURCE_IMPRESSIONS = "impressions"
SOURCE_CLICK_EVENTS = "click_events"
SOURCE_BID_REQUESTS = "bid_requests"
SOURCES = (SOURCE_IMPRESSIONS, SOURCE_CLICK_EVENTS, SOURCE_BID_REQUESTS)

# §1.1 impression JSON fields: name -> (JSON type, required)
IMPRESSION_FIELDS: dict[str, tuple[str, bool]] = {
    "impression_id": ("string", True),
    "event_time": ("string|number", True),
    "user_id": ("string", True),
    "campaign_id": ("string", True),
    "ad_creative_id": ("string", True),
    "website": ("string", True),
    "device_type": ("string", False),
    "country": ("string", False),
    "bid_request_id": ("string", False),
    "cost_micros": ("integer", False),
}
IMPRESSION_REQUIRED = tuple(k for k, (_, req) in IMPRESSION_FIELDS.items() if req)

# §1.2 click/conversion CSV header, exact and in order
CLICK_CSV_COLUMNS = (
    "event_id",
    "event_type",
    "event_time",
    "user_id",
    "campaign_id",
    "ad_creative_id",
    "impression_id",
    "conversion_type",
    "conversion_value",
)
CLICK_CSV_HEADER = ",".join(CLICK_CSV_COLUMNS)
EVENT_TYPE_CLICK = "click"
EVENT_TYPE_CONVERSION = "conversion"
EVENT_TYPES = (EVENT_TYPE_CLICK, EVENT_TYPE_CONVERSION)

# §1.4 reference CSV headers
CAMPAIGN_CSV_COLUMNS = (
    "campaign_id",
    "advertiser_id",
    "campaign_name",
    "channel",
    "daily_budget_micros",
    "start_date",
    "end_date",
)
USER_CSV_COLUMNS = ("user_id", "age_band", "gender", "country", "signup_date", "segment")

# §1.3 bid requests
BID_SUBJECT = "bid-requests-value"
CONFLUENT_MAGIC_BYTE = 0

# §1.5 device type mapping (lower-cased input -> canonical); other non-empty -> "other"
DEVICE_TYPE_MAP = {
    "phone": "mobile",
    "smartphone": "mobile",
    "mobile": "mobile",
    "pc": "desktop",
    "desktop": "desktop",
    "tablet": "tablet",
    "tv": "ctv",
    "ctv": "ctv",
    "connected_tv": "ctv",
}
DEVICE_TYPE_OTHER = "other"

# Whitespace around a value (docs/CONTRACT.md §1.5) is Java's regex class \s; a value of only
# these characters is empty. Other space-like characters (e.g. no-break space) are data.
WHITESPACE = " \t\n\x0b\f\r"

# §1.2 conversion_value: a decimal that silver's decimal(18,6) holds exactly (at most 12 digits
# before the point and 6 after, leading and trailing zeros aside); any other is bad_value.
CONVERSION_VALUE_PRECISION, CONVERSION_VALUE_SCALE = 18, 6

# §1.6 quarantine reason codes (short, stable; listed in the README and docs/CONTRACT.md)
REASON_BAD_JSON = "bad_json"                    # value is not a JSON object / not UTF-8
REASON_BAD_CSV = "bad_csv"                      # wrong number of columns, broken quoting, not UTF-8
REASON_BAD_HEADER = "bad_header"                # a CSV file whose header differs from §1.2
REASON_BAD_FILE = "bad_file"                    # a landing file that cannot be read (corrupt or cut gzip)
REASON_RECORD_TOO_LARGE = "record_too_large"    # a JSON line / message or CSV record over MAX_RECORD_BYTES
REASON_MISSING_FIELD = "missing_field"          # a required field absent, null or empty
REASON_BAD_TYPE = "bad_type"                    # a field of the wrong JSON type (e.g. cost_micros "x")
REASON_BAD_EVENT_TIME = "bad_event_time"        # event_time does not parse
REASON_FUTURE_EVENT_TIME = "future_event_time"  # event_time > processing time + 24 h
REASON_UNKNOWN_EVENT_TYPE = "unknown_event_type"
REASON_NEGATIVE_COST = "negative_cost"          # cost_micros < 0
REASON_COST_OUT_OF_RANGE = "cost_out_of_range"  # cost_micros > MAX_COST_MICROS
REASON_NEGATIVE_VALUE = "negative_value"        # conversion_value < 0
REASON_BAD_VALUE = "bad_value"                  # conversion_value not a decimal(18,6)
REASON_BAD_MAGIC_BYTE = "bad_magic_byte"        # Avro message not in the Confluent wire format
REASON_UNKNOWN_SCHEMA_ID = "unknown_schema_id"  # schema id not in the registry
REASON_BAD_AVRO = "bad_avro"                    # body does not decode with its writer schema

REASONS = (
    REASON_BAD_JSON,
    REASON_BAD_CSV,
    REASON_BAD_HEADER,
    REASON_BAD_FILE,
    REASON_RECORD_TOO_LARGE,
    REASON_MISSING_FIELD,
    REASON_BAD_TYPE,
    REASON_BAD_EVENT_TIME,
    REASON_FUTURE_EVENT_TIME,
    REASON_UNKNOWN_EVENT_TYPE,
    REASON_NEGATIVE_COST,
    REASON_COST_OUT_OF_RANGE,
    REASON_NEGATIVE_VALUE,
    REASON_BAD_VALUE,
    REASON_BAD_MAGIC_BYTE,
    REASON_UNKNOWN_SCHEMA_ID,
    REASON_BAD_AVRO,
)

FUTURE_TOLERANCE_HOURS = 24

# §1.6: a JSON impression (line or message) or a CSV record longer than this, in bytes, is not
# parsed (a runaway line must not take the job's memory); quarantine keeps its first
# RAW_KEPT_CHARS characters as raw, and its origin names the whole record.
MAX_RECORD_BYTES = 1 << 20
RAW_KEPT_CHARS = 1024
# §1.5: epoch milliseconds from 1970-01-01 to 9999-12-31T23:59:59.999Z (the last instant an
# ISO-8601 year of four digits names); a negative or larger number is bad_event_time.
MAX_EPOCH_MILLIS = 253_402_300_799_999
# §1.1: a price above a million currency units per impression is no price; below it, gold's
# 64-bit spend_micros holds the sum of over 9 million impressions per campaign and day.
MAX_COST_MICROS = 10**12

# Attribution kinds stored on silver rows (§3)
ATTRIBUTION_IMPRESSION_ID = "impression_id"   # click: named impression exists
ATTRIBUTION_LAST_IMPRESSION = "last_impression"  # click: latest impression in window
ATTRIBUTION_POST_CLICK = "post_click"
ATTRIBUTION_POST_VIEW = "post_view"
ATTRIBUTION_NONE = "unattributed"


def bid_schema_text(version: int) -> str:
    """The Avro schema (JSON text) of bid request ``version`` (1 or 2), as shipped in the package."""
    return (resources.files("advertisex") / "contracts" / f"bid_request.v{version}.avsc").read_text(
        encoding="utf-8"
    )
