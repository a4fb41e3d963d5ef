"""Property-based tests of the bronze parsers (hypothesis): whatever arrives — any bytes, JSON
with any value in any field, CSV lines with any text — each record gives exactly one bronze
row, valid or with a contract reason, never an exception; and the verdict is the one the
generator's truth (plain Python, written from docs/CONTRACT.md independently) gives."""

from __future__ import annotations

import datetime as dt
import json
import struct
from collections import Counter

import pyspark.sql.functions as F
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from advertisex import contract as C
from advertisex.generate.truth import TruthBuilder
from advertisex.transforms import bronze as T
from advertisex.transforms import lines as L

NOW = dt.datetime(2026, 11, 20, 12, 0, 0)
NOW_MS = int(NOW.replace(tzinfo=dt.UTC).timestamp() * 1000)
# Spark runs each example as a job: few examples, many records each.
SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])

_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                          st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                          st.sampled_from(["", " ", "\t", "\u00a0", "2026-11-20T10:00:00Z", "1795176000000",
                                           "-1", "1e3", "null"]))
_json_values = st.recursive(_json_scalars, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                                 st.dictionaries(st.text(max_size=4), kids, max_size=3)),
                            max_leaves=5)
_good_values = {"impression_id": "i", "event_time": "2026-11-20T10:00:00Z", "user_id": "u", "campaign_id": "c",
                "ad_creative_id": "a", "website": "example.com", "cost_micros": 5}


@st.composite
def impression_message(draw) -> bytes:
    """A message: mostly an impression object with some fields hostile or missing; else any bytes."""
    kind = draw(st.sampled_from(["object", "object", "object", "bytes", "text", "not-utf8"]))
    if kind == "not-utf8":  # an impression whose user_id holds a byte that is not UTF-8
        return json.dumps(_good_values).encode().replace(b'"u"', b'"u' + draw(st.sampled_from([b"\xff", b"\xc3"])) + b'"')
    if kind == "bytes":
        return draw(st.binary(max_size=60))
    if kind == "text":
        return draw(st.text(max_size=60)).encode("utf-8")
    obj = dict(_good_values)
    for name in draw(st.sets(st.sampled_from(sorted(C.IMPRESSION_FIELDS)), max_size=3)):
        if draw(st.booleans()):
            obj.pop(name, None)
        else:
            obj[name] = draw(_json_values)
    return json.dumps(obj).encode("utf-8")


@SETTINGS
@given(messages=st.lists(impression_message(), min_size=1, max_size=40))
# Found by this test: from_json handed an array or a number in a text field over as its text.
@example(messages=[json.dumps({**_good_values, "ad_creative_id": []}).encode(),
                   json.dumps({**_good_values, "user_id": 123}).encode(),
                   json.dumps({**_good_values, "event_time": 1795176000000.5}).encode(),
                   json.dumps({**_good_values, "event_time": 1795176000000}).encode(),
                   json.dumps({**_good_values, "cost_micros": 2**64}).encode(),
                   json.dumps({**_good_values, "cost_micros": 2**62}).encode()])
def test_any_impression_message_lands_once_with_the_truths_verdict(spark, messages):
    df = spark.createDataFrame([(i, m) for i, m in enumerate(messages)], "n long, value binary").select(
        "n", F.col("value").cast("string").alias("raw"), F.lit(NOW).alias("ingested_at"))
    got = {r.n: r.quarantine_reason for r in T.parse_impressions(df).select("n", "quarantine_reason").collect()}
    truth = TruthBuilder(NOW_MS)
    want = {n: truth.add_impression(m) for n, m in enumerate(messages)}
    assert got == want


_csv_fields = st.one_of(st.text(max_size=10), st.sampled_from(
    ["", " ", "\t", "\u00a0", "click", " Conversion ", "2026-11-20T10:00:00Z", "1795176000000", "12.50",
     "0001795176000000", "253402300799999", "253402300800000", "9" * 20, "-1",
     "12345678901234", "1e3", "-1", 'a"b', "a,b", "x\x00y"]))


@st.composite
def csv_line(draw) -> str:
    """A CSV record: nine fields (some hostile, some quoted), sometimes too few or too many."""
    good = ["e", "click", "2026-11-20T10:00:00Z", "u", "c", "a", "", "", ""]
    fields = [draw(_csv_fields) if draw(st.integers(0, 3)) == 0 else g for g in good]
    fields = fields[: draw(st.sampled_from([9, 9, 9, 8, 10]))] + ([""] if len(fields) < 9 and draw(st.booleans())
                                                                 else [])
    fields = [f"E{draw(st.integers(0, 10**6))}"] + fields[1:] if fields and not draw(st.integers(0, 4)) else fields
    return ",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' if draw(st.booleans()) or any(c in f for c in ',"')
                    else f for f in fields)


@SETTINGS
@given(records=st.lists(st.one_of(csv_line(), csv_line(), st.sampled_from(["", " ", "\t", " \t\x0b"])), min_size=1,
                        max_size=40),
       not_utf8=st.sets(st.integers(0, 39), max_size=3))
def test_any_csv_record_lands_once_with_the_truths_verdict(spark, records, not_utf8):
    # Records as a file holds them: bytes, some with a byte that is not UTF-8.
    data = [r.encode() + (b"\xff" if n in not_utf8 else b"") for n, r in enumerate(records)
            if "\n" not in r and "\r" not in r]
    lines = [C.CLICK_CSV_HEADER.encode(), *data]
    rows = [(line, "/l/f.csv", n, C.CLICK_CSV_HEADER) for n, line in enumerate(lines, start=1)]
    files = spark.createDataFrame(rows, "bytes binary, source_file string, source_line long, header string")
    files = files.select(F.col("bytes").cast("string").alias("line"), "source_file", "source_line", "header")
    parsed = T.parse_click_events(L.records_of_lines(files.withColumn("ingested_at", F.lit(NOW)), skip_header=True))
    got = Counter(r.quarantine_reason for r in parsed.select("quarantine_reason").collect())
    truth = TruthBuilder(NOW_MS)
    truth.add_click_csv(b"\n".join([*lines, b""]).decode("utf-8", errors="surrogateescape"))
    src = C.SOURCE_CLICK_EVENTS
    want = Counter({None: truth.valid[src], **truth.quarantine[src]}) - Counter()
    assert sum(got.values()) == truth.received[src]
    assert got - Counter() == want


@st.composite
def bid_message(draw) -> bytes:
    """Any bytes, or the Confluent frame (magic byte 0, a schema id) around any body, or around
    a body cut from a valid record."""
    kind = draw(st.sampled_from(["bytes", "framed", "cut"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    schema_id = draw(st.sampled_from([1, 2, 7]))
    if kind == "framed":
        return b"\x00" + struct.pack(">I", schema_id) + draw(st.binary(max_size=60))
    body = _avro_body(draw(st.text(max_size=8)))
    return b"\x00" + struct.pack(">I", schema_id) + body[: draw(st.integers(0, len(body)))]


def _avro_body(bid_request_id: str) -> bytes:
    import io

    import fastavro

    record = {"bid_request_id": bid_request_id, "event_time": dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC),
              "user": {"user_id": "u", "segments": [], "country": None, "device_type": None},
              "auction": {"auction_id": "a", "exchange": "x", "floor_price_micros": 1, "bid_price_micros": None,
                          "won": False, "clearing_price_micros": None},
              "targeting": {"campaign_id": None, "website": "w", "ad_slot": "s", "keywords": []}}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(json.loads(C.bid_schema_text(1))), record)
    return buf.getvalue()


@SETTINGS
@given(messages=st.lists(bid_message(), min_size=1, max_size=40))
# Found by this test: a schema id of 2^31 or more failed the whole batch (an int overflow).
@example(messages=[b"\x00\x80\x00\x00\x00", b"\x00\xff\xff\xff\xff" + _avro_body("b")])
def test_any_bid_message_lands_once_with_a_reason_or_decoded(spark, messages):
    df = T.with_confluent_header(spark.createDataFrame([(i, m) for i, m in enumerate(messages)],
                                                       "n long, value binary").withColumn("ingested_at", F.lit(NOW)))
    v1, v2 = C.bid_schema_text(1), C.bid_schema_text(2)
    parsed = T.decode_bid_requests(df, writer_schemas={1: v1, 2: v2}, reader_schema=v2)
    rows = parsed.select("n", "quarantine_reason", "bid_request_id", "event_time").collect()
    assert sorted(r.n for r in rows) == list(range(len(messages)))
    for r in rows:
        assert r.quarantine_reason in (None, *C.REASONS), r
        if r.quarantine_reason is None:
            assert r.bid_request_id.strip(C.WHITESPACE) and r.event_time is not None
        if messages[r.n][:1] != b"\x00" or len(messages[r.n]) < 5:
            assert r.quarantine_reason == C.REASON_BAD_MAGIC_BYTE
        elif struct.unpack(">I", messages[r.n][1:5])[0] == 7:
            assert r.quarantine_reason == C.REASON_UNKNOWN_SCHEMA_ID
