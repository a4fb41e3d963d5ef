"""Bronze parsing and validation: raw records in, typed rows with a quarantine reason out.

Every function here is a pure DataFrame transform. A row's ``quarantine_reason`` is null
when the record is valid per docs/CONTRACT.md §1.6, else the first reason code that applies
(:mod:`advertisex.contract`), checked in this order: unparseable record, missing required
field, wrong type, unparseable ``event_time``, ``event_time`` more than 24 h after the
processing time, unknown ``event_type``, negative amount.

Bronze keeps every record (valid or not) as received; the pipeline copies the rows with
a reason into the quarantine table. Silver reads only rows whose reason is null.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection, Mapping, Sequence

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame
from pyspark.sql.types import ArrayType, DataType, MapType, StringType, StructType

from advertisex import contract as C
from advertisex.transforms.lines import capped, file_name, file_origin
from advertisex.transforms.normalize import event_time as parse_event_time
from advertisex.transforms.normalize import strip

IMPRESSION_STRING_FIELDS = (
    "impression_id",
    "user_id",
    "campaign_id",
    "ad_creative_id",
    "website",
    "device_type",
    "country",
    "bid_request_id",
)
JSON_MAP = MapType(StringType(), StringType())
# RFC 8259 JSON: NaN, Infinity and -Infinity are not JSON values (Spark accepts them by default).
_STRICT_JSON = {"allowNonNumericNumbers": "false"}
# from_json hands a text field over as text whatever its JSON type: a number, boolean, array or
# object where a string is expected arrives as its JSON text. Texts that could be such a token
# (event_time: anything but a string or an integer) are looked at again, typed.
_COULD_BE_NON_STRING = r"^(?:[\[{]|true$|false$|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$)"
_COULD_BE_NON_TIME = r"^(?:[\[{]|true$|false$|-?[0-9]+[.eE])"
_INTEGER_VARIANT = r"^(?:BIGINT|INT|SMALLINT|TINYINT|DECIMAL\([0-9]+,0\))$"
IMPRESSION_JSON_SCHEMA = (
    ", ".join(f"{name} string" for name in ("event_time", *IMPRESSION_STRING_FIELDS))
    + ", cost_micros long, _corrupt string"
)


def _blank(col: Column) -> Column:
    """True when a required text field is absent, null or only whitespace (which silver strips:
    a tab-only id would otherwise pass here and be nulled there)."""
    return col.isNull() | (strip(col) == "")


def _first_reason(*checks: tuple[Column, str]) -> Column:
    """``CASE WHEN c1 THEN r1 WHEN c2 THEN r2 ... END`` (null when no check fires)."""
    expr = None
    for cond, reason in checks:
        expr = F.when(cond, F.lit(reason)) if expr is None else expr.when(cond, F.lit(reason))
    return expr


def _future(ts: Column, now: Column) -> Column:
    return ts > now + F.expr(f"INTERVAL {C.FUTURE_TOLERANCE_HOURS} HOURS")


def with_event_time(df: DataFrame, text: Column) -> DataFrame:
    """``df`` plus ``event_time`` (UTC timestamp parsed from ``text``) and ``event_date``.

    ``text`` becomes a column of its own first, so it is evaluated once: the time rules use
    their input several times, and inlined there a regex over the whole raw record ran once
    per use. ``event_date`` comes from the parsed column, so the parse runs once per record.
    """
    out = df.withColumn("_event_time_text", text)
    out = out.withColumn("event_time", parse_event_time(F.col("_event_time_text")))
    return out.withColumn("event_date", F.to_date(F.col("event_time"))).drop("_event_time_text")


# --------------------------------------------------------------------------- impressions


def parse_impressions(df: DataFrame) -> DataFrame:
    """JSON impressions → bronze impression rows.

    Args:
        df: ``raw`` (the JSON text), ``ingested_at`` (timestamp) and any origin columns,
            which are passed through.

    Returns:
        The input columns plus the contract fields (as received, text), ``cost_micros``
        (long), ``event_time_raw``, ``event_time`` (UTC timestamp), ``event_date`` and
        ``quarantine_reason``.
    """
    # One typed parse per record. Text fields are read as strings (a JSON number becomes
    # its text); cost_micros must be a JSON integer. In PERMISSIVE mode a record that is not
    # valid JSON, or whose cost_micros is not an integer, gets _corrupt set (the other fields
    # are still filled); only then is the record parsed again, as a map, to tell the two apart.
    p = F.from_json(F.col("raw"), IMPRESSION_JSON_SCHEMA, {"columnNameOfCorruptRecord": "_corrupt", **_STRICT_JSON})
    out = capped(df, "raw").withColumn("_p", p)
    out = out.select(
        "*",
        *[F.col(f"_p.{name}").alias(name) for name in IMPRESSION_STRING_FIELDS],
        F.col("_p.event_time").alias("event_time_raw"),
        F.col("_p.cost_micros").alias("cost_micros"),
    )
    corrupt = F.col("_p").isNull() | F.col("_p._corrupt").isNotNull()
    # Spark keeps a message's or a line's bytes as they came: text that is not UTF-8 is no JSON.
    not_json_object = F.when(~F.is_valid_utf8(F.col("raw")) | F.col("_p").isNull(), F.lit(True)).when(
        F.col("_p._corrupt").isNotNull(), F.from_json(F.col("raw"), JSON_MAP, _STRICT_JSON).isNull()
    ).otherwise(F.lit(False))
    # §1.5: epoch millis are a JSON number; a JSON *string* of digits is not a valid event_time.
    digits_as_string = F.when(
        F.col("event_time_raw").rlike(r"^\d+$"), F.col("raw").rlike(r'"event_time"\s*:\s*"')
    ).otherwise(F.lit(False))
    out = with_event_time(out, F.when(~digits_as_string, F.col("event_time_raw")))
    wrong_type = _wrong_json_type()
    missing = None
    for name in C.IMPRESSION_REQUIRED:
        source = F.col("event_time_raw") if name == "event_time" else F.col(name)
        missing = _blank(source) if missing is None else (missing | _blank(source))
    reason = _first_reason(
        (F.col("_too_large"), C.REASON_RECORD_TOO_LARGE),
        (not_json_object, C.REASON_BAD_JSON),
        (missing, C.REASON_MISSING_FIELD),
        (corrupt | wrong_type, C.REASON_BAD_TYPE),
        (F.col("event_time").isNull(), C.REASON_BAD_EVENT_TIME),
        (_future(F.col("event_time"), F.col("ingested_at")), C.REASON_FUTURE_EVENT_TIME),
        (F.col("cost_micros") < 0, C.REASON_NEGATIVE_COST),
        (F.col("cost_micros") > C.MAX_COST_MICROS, C.REASON_COST_OUT_OF_RANGE),
    )
    return out.withColumn("quarantine_reason", reason).drop("_p", "_too_large")


def _wrong_json_type() -> Column:
    """True when a text field of ``raw`` holds another JSON type (``event_time``: other than a
    string or an integer). Only records with a text that could be such a token are parsed
    again (as a variant, typed); a string field holding ``"[]"`` is a string."""
    could_be = F.col("event_time_raw").rlike(_COULD_BE_NON_TIME)
    for name in IMPRESSION_STRING_FIELDS:
        could_be = could_be | F.col(name).rlike(_COULD_BE_NON_STRING)
    doc = F.try_parse_json(F.col("raw"))

    def type_of(name: str) -> Column:
        return F.coalesce(F.schema_of_variant(F.variant_get(doc, f"$.{name}", "variant")), F.lit("VOID"))

    time_type = type_of("event_time")
    wrong = ~time_type.isin("STRING", "VOID") & ~time_type.rlike(_INTEGER_VARIANT)
    for name in IMPRESSION_STRING_FIELDS:
        wrong = wrong | ~type_of(name).isin("STRING", "VOID")
    return F.when(could_be, wrong).otherwise(F.lit(False))


def with_bad_files(parsed: DataFrame, files: Sequence[tuple[str, str]]) -> DataFrame:
    """``parsed`` plus one bronze record per unreadable landing file (``(path as Spark names it,
    cause)``): ``raw`` the cause, ``origin`` ``file:<path>`` (no line: the whole file), reason
    ``bad_file``. Unchanged without such files."""
    if not files:
        return parsed
    df = parsed.sparkSession.createDataFrame(list(files), "source_file string, raw string")
    rows = with_ingested_at(df.select(
        "raw",
        F.concat(F.lit("file:"), file_name(F.col("source_file"))).alias("origin"),
        F.lit(C.REASON_BAD_FILE).alias("quarantine_reason"),
    ))
    return parsed.unionByName(rows, allowMissingColumns=True)


def with_ingested_at(df: DataFrame) -> DataFrame:
    """``df`` plus ``ingested_at``: now, one value for the whole batch.

    Joined from a one-row table rather than taken from ``current_timestamp()``: Spark writes
    a timestamp literal into the code it generates, so each micro-batch of a stream would
    generate and compile its stages anew, and the JVM's JIT start over on them. A joined
    value is data: every batch runs the code compiled for the first.
    """
    now = df.sparkSession.createDataFrame([(dt.datetime.now(dt.UTC),)], "ingested_at timestamp")
    return df.crossJoin(F.broadcast(now))


def kafka_origin() -> Column:
    """``kafka:<topic>/<partition>/<offset>`` (docs/CONTRACT.md §2)."""
    return F.concat(
        F.lit("kafka:"),
        F.col("kafka_topic"),
        F.lit("/"),
        F.col("kafka_partition").cast("string"),
        F.lit("/"),
        F.col("kafka_offset").cast("string"),
    )


# --------------------------------------------------------------------------- clicks CSV

_CSV_SCHEMA = ", ".join(f"{c} string" for c in C.CLICK_CSV_COLUMNS) + ", _corrupt string"
_CSV_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": "_corrupt",
    "quote": '"',
    "escape": '"',  # RFC 4180: a quote inside a quoted field is doubled
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
}
_INT_DIGITS = C.CONVERSION_VALUE_PRECISION - C.CONVERSION_VALUE_SCALE
# A decimal silver's conversion_value type holds exactly: a wider one would be nulled, a
# longer fraction rounded, between bronze and silver.
_DECIMAL = (rf"^\s*[+-]?0*(\d{{1,{_INT_DIGITS}}}(\.\d{{0,{C.CONVERSION_VALUE_SCALE}}}0*)?"
            rf"|\.\d{{1,{C.CONVERSION_VALUE_SCALE}}}0*)\s*$")


def parse_click_events(df: DataFrame) -> DataFrame:
    """CSV lines (from :func:`records_of_lines` with the header kept) → bronze click-event rows.

    Returns:
        ``raw`` (the line), the nine CSV columns as text, ``event_time_raw``,
        ``event_time``, ``event_date``, ``quarantine_reason``, ``origin`` and the input
        columns. A file whose header is not exactly docs/CONTRACT.md §1.2's has every line
        quarantined as ``bad_header``.
    """
    parsed = F.from_csv(F.col("line"), _CSV_SCHEMA, _CSV_OPTIONS)
    out = capped(df, "line").withColumn("_p", parsed).select(
        F.col("line").alias("raw"),
        *[F.col("_p").getField(c).alias(c) for c in C.CLICK_CSV_COLUMNS],
        F.col("_p").getField("_corrupt").alias("_corrupt"),
        "_too_large",
        "source_file",
        "source_line",
        "header",
        "ingested_at",
    )
    out = out.withColumn("event_time_raw", F.col("event_time"))
    out = with_event_time(out, F.col("event_time_raw"))
    etype = F.lower(F.trim(F.col("event_type")))
    is_click = etype == C.EVENT_TYPE_CLICK
    value = F.col("conversion_value")
    value_given = ~_blank(value)
    missing = (
        _blank(F.col("event_id"))
        | _blank(F.col("event_type"))
        | _blank(F.col("event_time_raw"))
        | _blank(F.col("user_id"))
        | _blank(F.col("campaign_id"))
        | (is_click & _blank(F.col("ad_creative_id")))
    )
    reason = _first_reason(
        (F.col("_too_large"), C.REASON_RECORD_TOO_LARGE),
        (F.col("header") != C.CLICK_CSV_HEADER, C.REASON_BAD_HEADER),
        (F.col("_corrupt").isNotNull() | ~F.is_valid_utf8(F.col("raw")), C.REASON_BAD_CSV),
        (missing, C.REASON_MISSING_FIELD),
        (~etype.isin(*C.EVENT_TYPES), C.REASON_UNKNOWN_EVENT_TYPE),
        (F.col("event_time").isNull(), C.REASON_BAD_EVENT_TIME),
        (_future(F.col("event_time"), F.col("ingested_at")), C.REASON_FUTURE_EVENT_TIME),
        (value_given & ~value.rlike(_DECIMAL), C.REASON_BAD_VALUE),
        (value_given & (F.trim(value).try_cast("decimal(38,10)") < 0), C.REASON_NEGATIVE_VALUE),
    )
    return (
        out.withColumn("quarantine_reason", reason)
        .withColumn("origin", file_origin())
        .drop("_corrupt", "header", "_too_large")
    )


# --------------------------------------------------------------------------- bid requests (Avro)


def confluent_header(value: Column) -> tuple[Column, Column]:
    """(magic byte, schema id) of a Confluent wire-format message; null when too short.

    The id is a signed big-endian 32-bit int, as Confluent's serializers write and read it:
    bytes ``80 00 00 00`` are -2147483648 (an unknown id), not an overflow that fails the batch.
    """
    long_enough = F.length(value) >= 5
    magic = F.when(long_enough, F.conv(F.hex(F.substring(value, 1, 1)), 16, 10).cast("int"))
    unsigned = F.conv(F.hex(F.substring(value, 2, 4)), 16, 10).cast("long")
    schema_id = F.when(long_enough, F.when(unsigned >= 2**31, unsigned - 2**32).otherwise(unsigned).cast("int"))
    return magic, schema_id


def with_confluent_header(df: DataFrame) -> DataFrame:
    """Add ``magic_byte`` and ``schema_id`` read from bytes 0 and 1-4 of ``value``."""
    magic, schema_id = confluent_header(F.col("value"))
    return df.withColumn("magic_byte", magic).withColumn("schema_id", schema_id)


def well_framed() -> Column:
    """Whether a message (with :func:`with_confluent_header`'s columns) opens with the
    Confluent magic byte and a schema id: only then does its id mean anything."""
    return (F.col("magic_byte") == C.CONFLUENT_MAGIC_BYTE) & F.col("schema_id").isNotNull()


# Long for its docstring, which pins how ids are classified; the code is one expression per rule.
# The bid request's top-level fields of the contract (§1.3); a newer schema may add more.
BID_FIELDS = ("bid_request_id", "event_time", "user", "auction", "targeting")


def added_bid_fields(reader_schema: str) -> list[str]:
    """The top-level fields of ``reader_schema`` (Avro JSON) beyond the contract's: each lands
    as a bronze column of its own."""
    return [f["name"] for f in json.loads(reader_schema)["fields"] if f["name"] not in BID_FIELDS]


def narrowed(held: DataType, new: DataType, path: str = "") -> list[str]:
    """Where ``new`` does not extend ``held``: each field ``held`` has that ``new`` lacks or
    types otherwise, as a phrase naming its dotted path. Added fields are fine; nullability
    is not compared (Avro's optional fields are nullable, a table's columns always are)."""
    if isinstance(held, StructType) and isinstance(new, StructType):
        out: list[str] = []
        for f in held.fields:
            at = f"{path}.{f.name}" if path else f.name
            if f.name not in new.fieldNames():
                out.append(f"{at} is gone")
            else:
                out += narrowed(f.dataType, new[f.name].dataType, at)
        return out
    if isinstance(held, ArrayType) and isinstance(new, ArrayType):
        return narrowed(held.elementType, new.elementType, f"{path}[]")
    return [] if held == new else [f"{path} was {held.simpleString()}, is {new.simpleString()}"]


def decode_bid_requests(
    df: DataFrame,
    *,
    writer_schemas: Mapping[int, str],
    reader_schema: str,
    unknown_ids: Collection[int] | None = None,
) -> DataFrame:
    """Decode each message with its own writer schema, read into ``reader_schema``.

    Args:
        df: ``value`` (binary, Confluent wire format), ``magic_byte``, ``schema_id``
            (:func:`with_confluent_header`), ``ingested_at`` and origin columns.
        writer_schemas: schema id → Avro schema JSON, for ids the registry knows.
        reader_schema: the newest schema of the subject (JSON); every message is read
            into its shape (Avro schema resolution fills fields added since with defaults).
        unknown_ids: ids the registry does not know. ``None``: every id absent from
            ``writer_schemas`` is unknown (the caller looked up all the batch's ids).
            Given, an id in neither is *unclassified*: evaluating the result for a
            well-framed message with such an id fails the query with
            ``UNCLASSIFIED_SCHEMA_ID`` and the id (:func:`unclassified_schema_id` reads
            it back), so nothing computed from it is committed.

    Returns:
        The input columns plus ``raw`` (base64 of the message), the bid request fields
        (``bid_request_id``, ``event_time``, ``user``, ``auction``, ``targeting``, then any
        top-level field a newer schema added), ``event_date`` and ``quarantine_reason``.
    """
    from pyspark.sql.avro.functions import from_avro

    body = F.expr("substring(value, 6)")
    options = {"mode": "PERMISSIVE", "avroSchema": reader_schema}
    decoded = None
    for schema_id, writer in sorted(writer_schemas.items()):
        branch = from_avro(body, writer, options)
        cond = F.col("schema_id") == F.lit(schema_id)
        decoded = F.when(cond, branch) if decoded is None else decoded.when(cond, branch)
    if decoded is None:
        # No known schema in this batch: decode nothing, but keep the reader's shape.
        decoded = F.when(F.lit(False), from_avro(body, reader_schema, options))
    known = F.col("schema_id").isin(*writer_schemas) if writer_schemas else F.lit(False)
    valid_frame = well_framed()
    out = df.withColumn("_d", F.when(valid_frame & known, decoded)).withColumn(
        "raw", F.base64(F.col("value"))
    )
    out = out.select(
        "*",
        F.col("_d.bid_request_id").alias("bid_request_id"),
        F.col("_d.event_time").alias("event_time"),
        F.col("_d.user").alias("user"),
        F.col("_d.auction").alias("auction"),
        F.col("_d.targeting").alias("targeting"),
        *(F.col(f"_d.{name}").alias(name) for name in added_bid_fields(reader_schema)),
    ).withColumn("event_date", F.to_date("event_time"))
    reason = _first_reason(
        (~valid_frame | F.col("magic_byte").isNull(), C.REASON_BAD_MAGIC_BYTE),
        (~known, C.REASON_UNKNOWN_SCHEMA_ID),
        # PERMISSIVE from_avro yields a struct of nulls for a body it cannot decode; every
        # decodable message has its non-nullable fields set.
        (F.col("_d").isNull() | F.col("_d.bid_request_id").isNull() | F.col("_d.event_time").isNull(),
         C.REASON_BAD_AVRO),
        (_blank(F.col("bid_request_id")), C.REASON_MISSING_FIELD),
        (_future(F.col("event_time"), F.col("ingested_at")), C.REASON_FUTURE_EVENT_TIME),
    )
    if unknown_ids is not None:
        classified = set(writer_schemas) | set(unknown_ids)
        unclassified = valid_frame & ~F.col("schema_id").isin(*classified) if classified else valid_frame
        reason = F.when(
            unclassified, F.raise_error(F.concat(F.lit(UNCLASSIFIED_SCHEMA_ID), F.col("schema_id").cast("string")))
        ).otherwise(reason)
    return out.withColumn("quarantine_reason", reason).drop("_d")


UNCLASSIFIED_SCHEMA_ID = "advertisex: unclassified schema id "
_UNCLASSIFIED_RE = re.compile(re.escape(UNCLASSIFIED_SCHEMA_ID) + r"(-?\d+)")


def unclassified_schema_id(exc: BaseException) -> int | None:
    """The schema id a failed query reported as unclassified (:func:`decode_bid_requests`), else None."""
    match = _UNCLASSIFIED_RE.search(str(getattr(exc, "desc", None) or exc))
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- quarantine


def to_quarantine(df: DataFrame, *, source: str) -> DataFrame:
    """Rows with a reason → quarantine rows (docs/CONTRACT.md §2) with ``ingest_date`` for partitioning."""
    return df.where(F.col("quarantine_reason").isNotNull()).select(
        F.lit(source).alias("source"),
        F.col("quarantine_reason").alias("reason"),
        F.col("raw").cast("string").alias("raw"),
        F.col("origin"),
        F.col("ingested_at"),
        F.to_date("ingested_at").alias("ingest_date"),
    )
