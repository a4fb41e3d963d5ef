"""Bronze parsing and validation on small in-memory inputs: every reason code of docs/CONTRACT.md §1.6."""

from __future__ import annotations

import datetime as dt
import json

import pyspark.sql.functions as F
from chispa import assert_df_equality

from advertisex import contract as C
from advertisex.transforms import bronze as T
from advertisex.transforms import lines as L

NOW = dt.datetime(2026, 11, 20, 12, 0, 0)


def _impressions(spark, raws):
    df = spark.createDataFrame([(r, f"o{i}") for i, r in enumerate(raws)], "raw string, origin string")
    return df.withColumn("ingested_at", F.lit(NOW))


def test_impression_reasons(spark):
    ok = '{"impression_id":"i1","event_time":"2026-11-20T13:04:05.120+01:00","user_id":" U-1 ","campaign_id":"c1",'
    ok += '"ad_creative_id":"a1","website":"x.com","cost_micros":15,"extra":{"k":1}}'
    raws = [
        ok,
        "{not json",
        "[1,2]",
        '{"impression_id":"i2","event_time":1795176000000,"user_id":"u","campaign_id":"c","ad_creative_id":"a"}',
        '{"impression_id":"i3","event_time":"2026-11-20T10:00:00","user_id":"u","campaign_id":"c",'
        '"ad_creative_id":"a","website":"w","cost_micros":"12"}',
        '{"impression_id":"i4","event_time":"yesterday","user_id":"u","campaign_id":"c","ad_creative_id":"a",'
        '"website":"w"}',
        '{"impression_id":"i5","event_time":"2026-11-21T12:00:01Z","user_id":"u","campaign_id":"c",'
        '"ad_creative_id":"a","website":"w"}',
        '{"impression_id":"i6","event_time":"2026-11-21T12:00:00Z","user_id":"u","campaign_id":"c",'
        '"ad_creative_id":"a","website":"w","cost_micros":-1}',
        '{"impression_id":"i7","event_time":1795176000000,"user_id":"  ","campaign_id":"c","ad_creative_id":"a",'
        '"website":"w","cost_micros":null}',
        '{"impression_id":"i8","event_time":1795176000000,"user_id":"u","campaign_id":"c","ad_creative_id":"a",'
        '"website":"w","cost_micros":null}',
        '{"impression_id":"i9","event_time":"1795176000000","user_id":"u","campaign_id":"c","ad_creative_id":"a",'
        '"website":"w"}',
    ]
    got = T.parse_impressions(_impressions(spark, raws)).select(
        "origin", "impression_id", "user_id", "cost_micros", "event_time", "event_date", "quarantine_reason"
    )
    schema = (
        "origin string, impression_id string, user_id string, cost_micros long, event_time timestamp, "
        "event_date date, quarantine_reason string"
    )
    t = dt.datetime
    expected = spark.createDataFrame(
        [
            ("o0", "i1", " U-1 ", 15, t(2026, 11, 20, 12, 4, 5, 120000), dt.date(2026, 11, 20), None),
            ("o1", None, None, None, None, None, C.REASON_BAD_JSON),
            ("o2", None, None, None, None, None, C.REASON_BAD_JSON),
            ("o3", "i2", "u", None, t(2026, 11, 20, 12, 0), dt.date(2026, 11, 20), C.REASON_MISSING_FIELD),
            ("o4", "i3", "u", None, t(2026, 11, 20, 10, 0), dt.date(2026, 11, 20), C.REASON_BAD_TYPE),
            ("o5", "i4", "u", None, None, None, C.REASON_BAD_EVENT_TIME),
            ("o6", "i5", "u", None, t(2026, 11, 21, 12, 0, 1), dt.date(2026, 11, 21), C.REASON_FUTURE_EVENT_TIME),
            ("o7", "i6", "u", -1, t(2026, 11, 21, 12, 0), dt.date(2026, 11, 21), C.REASON_NEGATIVE_COST),
            ("o8", "i7", "  ", None, t(2026, 11, 20, 12, 0), dt.date(2026, 11, 20), C.REASON_MISSING_FIELD),
            ("o9", "i8", "u", None, t(2026, 11, 20, 12, 0), dt.date(2026, 11, 20), None),
            ("o10", "i9", "u", None, None, None, C.REASON_BAD_EVENT_TIME),  # digits as a JSON string
        ],
        schema,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_lines_and_csv_reasons(spark):
    header = C.CLICK_CSV_HEADER
    good_file = "\r\n".join(
        [
            header,
            "e1,click,2026-11-20T10:00:00Z, U-1 ,c1,a1,i1,,",
            'e2, Conversion ,1795176000000,u2,c1,,,"purchase, gift",12.50',
            "",
            "e3,click,2026-11-20T10:00:00Z,u3,c1,a1",
            "e4,view,2026-11-20T10:00:00Z,u3,c1,a1,,,",
            "e5,click,2026-11-20T10:00:00Z,u3,c1,,,,",
            "e6,conversion,2026-11-20T10:00:00Z,u3,c1,,,signup,-3",
            "e7,conversion,2026-11-20T10:00:00Z,u3,c1,,,signup,abc",
            "e8,conversion,Nov 20 2026,u3,c1,,,signup,",
            "e9,conversion,2026-11-22T10:00:00Z,u3,c1,,,signup,1",
            "",
        ]
    )
    bad_header_file = "event_id,type\ne10,click\n"
    # What numbered_lines yields: one row per physical line ("\n"-separated), numbered, with
    # the file's first line as header.
    physical = []
    for text, path in ((good_file, "/l/a.csv"), (bad_header_file, "/l/b.csv")):
        rows = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
        physical += [(line, path, n, rows[0]) for n, line in enumerate(rows, start=1)]
    files = spark.createDataFrame(
        physical, "line string, source_file string, source_line long, header string"
    ).withColumn("ingested_at", F.lit(NOW))
    lines = L.records_of_lines(files, skip_header=True)
    got = T.parse_click_events(lines).select("origin", "event_id", "event_type", "conversion_type",
                                             "conversion_value", "quarantine_reason")
    expected = spark.createDataFrame(
        [
            ("file:/l/a.csv:2", "e1", "click", None, None, None),
            ("file:/l/a.csv:3", "e2", " Conversion ", "purchase, gift", "12.50", None),
            ("file:/l/a.csv:5", "e3", "click", None, None, C.REASON_BAD_CSV),
            ("file:/l/a.csv:6", "e4", "view", None, None, C.REASON_UNKNOWN_EVENT_TYPE),
            ("file:/l/a.csv:7", "e5", "click", None, None, C.REASON_MISSING_FIELD),
            ("file:/l/a.csv:8", "e6", "conversion", "signup", "-3", C.REASON_NEGATIVE_VALUE),
            ("file:/l/a.csv:9", "e7", "conversion", "signup", "abc", C.REASON_BAD_VALUE),
            ("file:/l/a.csv:10", "e8", "conversion", "signup", None, C.REASON_BAD_EVENT_TIME),
            ("file:/l/a.csv:11", "e9", "conversion", "signup", "1", C.REASON_FUTURE_EVENT_TIME),
            ("file:/l/b.csv:2", "e10", "click", None, None, C.REASON_BAD_HEADER),
        ],
        "origin string, event_id string, event_type string, conversion_type string, conversion_value string, "
        "quarantine_reason string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_quarantine_rows(spark):
    df = spark.createDataFrame(
        [("{bad", "kafka:t/0/5", C.REASON_BAD_JSON), ("{}", "kafka:t/0/6", None)],
        "raw string, origin string, quarantine_reason string",
    ).withColumn("ingested_at", F.lit(NOW))
    got = T.to_quarantine(df, source=C.SOURCE_IMPRESSIONS)
    expected = spark.createDataFrame(
        [("impressions", "bad_json", "{bad", "kafka:t/0/5", NOW, NOW.date())],
        "source string, reason string, raw string, origin string, ingested_at timestamp, ingest_date date",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


# Hostile values (docs/CONTRACT.md §1.2, §1.6): each is quarantined with a reason or kept
# exactly by silver, never nulled or rounded on the way, and the generator's truth (plain
# Python) agrees record by record. (event_id, conversion_value, reason, silver value).
VALUES = [
    ("v1", "12.50", None, "12.5"),
    ("v2", "999999999999.999999", None, "999999999999.999999"),   # the widest decimal(18,6)
    ("v3", "12345678901234", C.REASON_BAD_VALUE, None),          # 14 digits: silver would null it
    ("v4", "1.1234567", C.REASON_BAD_VALUE, None),               # 7 decimals: silver would round it
    ("v5", "1.1234560", None, "1.123456"),                       # trailing zero: exact
    ("v6", "0000000000000012.5", None, "12.5"),                  # leading zeros: exact
    ("v7", "1e3", C.REASON_BAD_VALUE, None),
    ("v8", "1_000", C.REASON_BAD_VALUE, None),
    ("v9", "NaN", C.REASON_BAD_VALUE, None),
    ("v10", "\t7 ", None, "7"),
    ("v11", "-0.5", C.REASON_NEGATIVE_VALUE, None),
    ("\t", "1", C.REASON_MISSING_FIELD, None),                   # a tab-only id: silver would null it
    (" \r ", "1", C.REASON_MISSING_FIELD, None),
    ("\u00a0", "1", None, "1"),                                  # no-break space: data, kept exactly
]


def test_hostile_values_are_quarantined_or_kept_exactly_as_the_truth_says(spark):
    from decimal import Decimal

    from advertisex.generate.truth import TruthBuilder
    from advertisex.transforms import silver as S

    lines = [(f'"{eid}",conversion,2026-11-20T10:00:00Z,u1,c1,,,signup,"{value}"', "/l/v.csv", n + 2,
              C.CLICK_CSV_HEADER) for n, (eid, value, _, _) in enumerate(VALUES)]
    files = spark.createDataFrame(lines, "line string, source_file string, source_line long, header string")
    bronze = T.parse_click_events(L.records_of_lines(files.withColumn("ingested_at", F.lit(NOW)),
                                                     skip_header=True))
    reasons = {r.event_id: r.quarantine_reason for r in bronze.collect()}
    assert reasons == {eid: reason for eid, _, reason, _ in VALUES}
    silver = S.silver_click_events(bronze.where("quarantine_reason IS NULL"))
    kept = {r.event_id: r.conversion_value for r in silver.collect()}
    assert kept == {eid: Decimal(v) for eid, _, reason, v in VALUES if reason is None}

    truth = TruthBuilder(int(NOW.replace(tzinfo=dt.UTC).timestamp() * 1000))
    for eid, value, reason, v in VALUES:
        assert truth.add_click_row([eid, "conversion", "2026-11-20T10:00:00Z", "u1", "c1", "", "", "signup",
                                    value]) == reason, (eid, value)
        if reason is None:
            assert truth.click_events[eid].value == Decimal(v)


def test_a_kafka_message_over_the_record_size_is_record_too_large_and_cut(spark):
    fits = '{"impression_id":"i1","website":"' + "a" * (C.MAX_RECORD_BYTES - 40) + '"}'
    big = fits[:-2] + 'a"}' * 20
    got = {r.origin: (r.quarantine_reason, len(r.raw)) for r in T.parse_impressions(_impressions(spark, [fits, big]))
           .select("origin", "quarantine_reason", "raw").collect()}
    assert got == {"o0": (C.REASON_MISSING_FIELD, len(fits)), "o1": (C.REASON_RECORD_TOO_LARGE, C.RAW_KEPT_CHARS)}


def test_nan_and_infinity_tokens_are_not_json_and_the_truth_agrees(spark):
    """Spark and Python's json module both accept ``NaN``/``Infinity`` unless told not to; RFC 8259
    JSON has no such value, so a record holding one is bad_json (in a number or a text field)."""
    from advertisex.generate.truth import TruthBuilder

    base = ('"impression_id":"i1","event_time":"2026-11-20T10:00:00Z","user_id":"u","campaign_id":"c",'
            '"ad_creative_id":"a","website":"w"')
    raws = [f'{{{base},"cost_micros":{token}}}' for token in ("NaN", "Infinity", "-Infinity")]
    raws += [f'{{{base},"country":NaN}}', f'{{{base},"cost_micros":1e3}}', f'{{{base},"country":"NaN"}}']
    got = [r.quarantine_reason for r in T.parse_impressions(_impressions(spark, raws)).orderBy("origin").collect()]
    assert got == [C.REASON_BAD_JSON] * 4 + [C.REASON_BAD_TYPE, None]
    truth = TruthBuilder(int(NOW.replace(tzinfo=dt.UTC).timestamp() * 1000))
    assert [truth.add_impression(r) for r in raws] == got


def test_a_newer_schema_may_add_fields_but_not_drop_or_retype_one():
    from pyspark.sql.types import StructType

    held = StructType.fromDDL("id string, auction struct<floor: bigint, won: boolean>, tags array<string>")
    added = StructType.fromDDL("id string, auction struct<floor: bigint, won: boolean, currency: string>, "
                               "tags array<string>, channel string")
    assert T.narrowed(held, added) == []
    changed = StructType.fromDDL("id string, auction struct<floor: string>, tags array<int>")
    assert T.narrowed(held, changed) == ["auction.floor was bigint, is string", "auction.won is gone",
                                         "tags[] was string, is int"]
    assert T.added_bid_fields(json.dumps({"type": "record", "name": "B", "fields": [
        {"name": n, "type": "string"} for n in (*T.BID_FIELDS, "channel")]})) == ["channel"]


def test_ingested_at_is_one_time_per_batch_and_a_later_batch_compiles_no_code(spark):
    # A stream parses every micro-batch with the same plan; a time written into the generated
    # code (current_timestamp() is) would make each batch compile its stages again.
    compilations = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()
    # Not a local relation: Spark would evaluate a projection of one on the driver, without code.
    raws = spark.range(2).select(F.when(F.col("id") == 0, '{"impression_id":"i1","event_time":1795176000000}')
                                 .otherwise("{not json").alias("raw"))

    def batch():
        before = dt.datetime.now()  # noqa: DTZ005 - collect() gives local times
        parsed = T.parse_impressions(T.with_ingested_at(raws).withColumn("origin", F.lit("o")))
        rows = parsed.select("ingested_at", "quarantine_reason").collect()
        assert [r.quarantine_reason for r in rows] == [C.REASON_MISSING_FIELD, C.REASON_BAD_JSON]
        times = {r.ingested_at for r in rows}
        return before, times

    generated = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"}
    kept = {key: spark.conf.get(key) for key in generated}  # the test session runs interpreted
    try:
        for key, value in generated.items():
            spark.conf.set(key, value)
        batch()
        compiled = compilations.getCount()
        before, times = batch()
        assert compilations.getCount() == compiled
    finally:
        for key, value in kept.items():
            spark.conf.set(key, value)
    (stamp,) = times
    assert before - dt.timedelta(seconds=1) <= stamp <= dt.datetime.now()  # noqa: DTZ005
