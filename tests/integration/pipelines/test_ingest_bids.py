"""Job ``ingest_bids`` against the real broker and the real registry: every message decoded with
its own writer schema (v1 and v2 mixed, an id from outside the subject), bad ones quarantined."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import struct

import fastavro
import pytest
from chispa import assert_df_equality
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from advertisex import contract as C
from advertisex import tables
from advertisex.pipelines import ingest_bids
from support import ROOT, isolated_cfg, produce

pytestmark = pytest.mark.stack
EVENT = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _schema(version: int) -> str:
    return (ROOT / "src" / "advertisex" / "contracts" / f"bid_request.v{version}.avsc").read_text()


def _bid(i: int, *, v2: bool) -> dict:
    rec = {
        "bid_request_id": f"br-{i}",
        "event_time": EVENT + dt.timedelta(seconds=i),
        "user": {"user_id": f"U-{i}", "segments": ["s1"], "country": "de", "device_type": "phone"},
        "auction": {
            "auction_id": f"a-{i}",
            "exchange": "adx",
            "floor_price_micros": 100,
            "bid_price_micros": 200 + i,
            "won": i % 2 == 0,
            "clearing_price_micros": 150 if i % 2 == 0 else None,
        },
        "targeting": {"campaign_id": "c1", "website": "x.com", "ad_slot": "top", "keywords": []},
    }
    if v2:
        rec["user"]["consent"] = True
        rec["auction"]["deal_id"] = f"deal-{i}"
    return rec


def _wire(schema_id: int, schema: str, record: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(json.loads(schema)), record)
    return b"\x00" + struct.pack(">I", schema_id) + buf.getvalue()


def test_bids_v1_v2_mix_each_decoded_with_its_writer_schema(spark, stack_cfg, tmp_path, caplog):
    # Two batches: the first looks up its ids, the second (the last message) is decoded
    # with the ids known by then.
    cfg = isolated_cfg(stack_cfg, tmp_path, "kafka.max_offsets_per_trigger=6", "kafka.partitions=1")
    client = SchemaRegistryClient({"url": cfg.schema_registry.url})
    subject = cfg.schema_registry.subject
    id1 = client.register_schema(subject, Schema(_schema(1), "AVRO"))
    id2 = client.register_schema(subject, Schema(_schema(2), "AVRO"))
    assert id1 != id2
    # A writer schema registered under another subject only: the stream does not know its
    # id when the second batch meets it (that batch's first write fails uncommitted, then
    # its ids are looked up). Its extra field is skipped by the reader.
    outside = json.loads(_schema(1))
    outside["fields"].append({"name": "note", "type": "string", "default": ""})
    outside = json.dumps(outside)
    id_outside = client.register_schema(f"{subject}-outside", Schema(outside, "AVRO"))
    assert id_outside not in (id1, id2)
    topic = cfg.kafka.topics.bids
    v1, v2 = _bid(1, v2=False), _bid(2, v2=True)
    good_v1 = _wire(id1, _schema(1), v1)
    messages = [
        (None, good_v1),
        (None, _wire(id2, _schema(2), v2)),
        (None, b"\x01" + good_v1[1:]),  # bad magic byte
        (None, b"\x00" + struct.pack(">I", 987654) + good_v1[5:]),  # unknown schema id
        (None, good_v1[:12]),  # truncated body
        (None, b"\x00\x01"),  # too short for a header
        (None, _wire(id_outside, outside, {**_bid(6, v2=False), "note": "from elsewhere"})),
    ]
    produce(cfg, topic, messages, partition=0)

    with caplog.at_level(logging.INFO, logger=ingest_bids.__name__):
        ingest_bids.run(spark, cfg, once=True)
    # The second batch's optimistic write met an id it had not classified, and was redone.
    assert any("was new to this stream" in r.getMessage() for r in caplog.records)
    table = spark.read.format("delta").load(cfg.table_path(tables.BRONZE_BID_REQUESTS))
    got = table.selectExpr(
        "kafka_offset", "schema_id", "bid_request_id", "user.user_id AS user_id", "user.consent AS consent",
        "auction.deal_id AS deal_id", "auction.won AS won", "auction.clearing_price_micros AS clearing",
        "event_date", "quarantine_reason",
    )
    d = EVENT.date()
    expected = spark.createDataFrame(
        [
            (0, id1, "br-1", "U-1", None, None, False, None, d, None),  # v1: new fields take their defaults
            (1, id2, "br-2", "U-2", True, "deal-2", True, 150, d, None),
            (2, id1, None, None, None, None, None, None, None, C.REASON_BAD_MAGIC_BYTE),
            (3, 987654, None, None, None, None, None, None, None, C.REASON_UNKNOWN_SCHEMA_ID),
            (4, id1, None, None, None, None, None, None, None, C.REASON_BAD_AVRO),
            (5, None, None, None, None, None, None, None, None, C.REASON_BAD_MAGIC_BYTE),
            (6, id_outside, "br-6", "U-6", None, None, True, 150, d, None),
        ],
        "kafka_offset long, schema_id int, bid_request_id string, user_id string, consent boolean, "
        "deal_id string, won boolean, clearing long, event_date date, quarantine_reason string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    quarantine = spark.read.format("delta").load(cfg.table_path(tables.QUARANTINE))
    raws = {r.origin: r.raw for r in quarantine.collect()}
    assert base64.b64decode(raws[f"kafka:{topic}/0/4"]) == good_v1[:12]
    assert len(raws) == 4


def test_a_newer_schema_adds_columns_to_bronze_and_silver_an_incompatible_one_is_refused(spark, stack_cfg,
                                                                                         tmp_path):
    """Contract §1.3: a version that adds optional fields lands (bronze's structs and silver
    gain them, older rows read null); one that retypes a field is refused by the registry's
    BACKWARD rule, which `stack up` sets, and, registered anyway, by the job, in one line."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from advertisex import stack
    from advertisex.pipelines import reference, silver
    from advertisex.pipelines.ingest_bids import SchemaNotReadableError
    from support import write_references

    cfg = isolated_cfg(stack_cfg, tmp_path, "kafka.partitions=1")
    write_references(cfg)
    reference.run(spark, cfg)
    stack.ensure_subject(cfg)
    client = SchemaRegistryClient({"url": cfg.schema_registry.url})
    subject, topic = cfg.schema_registry.subject, cfg.kafka.topics.bids
    v2 = json.loads(_schema(2))
    id2 = client.register_schema(subject, Schema(_schema(2), "AVRO"))
    produce(cfg, topic, [(None, _wire(id2, _schema(2), _bid(1, v2=True)))], partition=0)
    ingest_bids.run(spark, cfg, once=True)
    silver.run(spark, cfg)

    v3 = json.loads(_schema(2))
    auction = next(f for f in v3["fields"] if f["name"] == "auction")["type"]
    auction["fields"].append({"name": "currency", "type": ["null", "string"], "default": None})
    v3["fields"].append({"name": "channel", "type": ["null", "string"], "default": None})
    id3 = client.register_schema(subject, Schema(json.dumps(v3), "AVRO"))
    newer = _bid(2, v2=True)
    newer["auction"]["currency"], newer["channel"] = "EUR", "app"
    produce(cfg, topic, [(None, _wire(id3, json.dumps(v3), newer))], partition=0)
    ingest_bids.run(spark, cfg, once=True)
    silver.run(spark, cfg)

    bronze = spark.read.format("delta").load(cfg.table_path(tables.BRONZE_BID_REQUESTS))
    assert sorted(bronze.selectExpr("bid_request_id", "auction.currency", "channel").collect()) == [
        ("br-1", None, None), ("br-2", "EUR", "app")]
    got = spark.read.format("delta").load(cfg.table_path(tables.SILVER_BID_REQUESTS))
    # Named after where they sit: a top-level `channel` is not the campaign's `channel`.
    assert got.columns[-2:] == ["request_channel", "auction_currency"]
    assert sorted(got.select("bid_request_id", "auction_currency", "request_channel", "deal_id").collect()) == [
        ("br-1", None, None, "deal-1"), ("br-2", "EUR", "app", "deal-2")]

    # A retyped field: BACKWARD refuses it at registration; registered anyway, the job does.
    v4 = json.loads(json.dumps(v3))
    floor = next(f for f in next(f for f in v4["fields"] if f["name"] == "auction")["type"]["fields"]
                 if f["name"] == "floor_price_micros")
    floor["type"] = "string"
    with pytest.raises(SchemaRegistryError):
        client.register_schema(subject, Schema(json.dumps(v4), "AVRO"))
    client.set_compatibility(subject_name=subject, level="NONE")
    client.register_schema(subject, Schema(json.dumps(v4), "AVRO"))
    version = client.get_latest_version(subject)
    with pytest.raises(SchemaNotReadableError) as refused:
        ingest_bids.run(spark, cfg, once=True)
    assert str(refused.value) == (
        f"schema registry subject {subject!r} version {version.version} (id {version.schema_id}) cannot be read into "
        "bronze/bid_requests: auction.floor_price_micros was bigint, is string; a new version may only add fields, "
        "with defaults (docs/CONTRACT.md §1.3)")
    assert v2 and bronze.count() == 2
