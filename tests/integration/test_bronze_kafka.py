"""Kafka-fed bronze jobs against the real broker, the real registry and real Delta tables."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import fastavro
import pytest
from chispa import assert_df_equality
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from advertisex import contract as C
from advertisex.config import Config, load_config
from advertisex.pipelines import bronze

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
EVENT = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _cfg(stack_cfg: Config, tmp: Path, *extra: str) -> Config:
    suffix = uuid.uuid4().hex[:8]
    return load_config(
        ROOT / "conf" / "test.yaml",
        [
            f"stack.run_dir={stack_cfg.stack.run_dir}",
            f"lake.root={tmp / 'lake'}",
            f"checkpoints.root={tmp / 'checkpoints'}",
            f"kafka.topics.impressions=imp-{suffix}",
            f"kafka.topics.bids=bids-{suffix}",
            f"schema_registry.subject=bids-{suffix}-value",
            f"streaming.txn_app_id=test-{suffix}",
            *extra,
        ],
        environ={},
    )


def _create_topic(cfg: Config, topic: str, partitions: int = 2) -> None:
    admin = AdminClient({"bootstrap.servers": cfg.kafka.bootstrap_servers})
    for fut in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        fut.result(timeout=30)


def _produce(cfg: Config, topic: str, messages: list[tuple[bytes | None, bytes]], partition: int | None = None) -> None:
    producer = Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers, "enable.idempotence": True, "acks": "all"})
    errors: list[str] = []

    def report(err, _msg) -> None:
        if err is not None:
            errors.append(str(err))

    for key, value in messages:
        kwargs = {"partition": partition} if partition is not None else {}
        producer.produce(topic, value=value, key=key, on_delivery=report, **kwargs)
    assert producer.flush(30) == 0
    assert errors == []


def _impression(i: int, **over) -> dict:
    rec = {
        "impression_id": f"imp-{i}",
        "event_time": (EVENT + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        "user_id": f"U-{i % 3}",
        "campaign_id": "c1",
        "ad_creative_id": "a1",
        "website": "https://www.example.com/x",
        "cost_micros": 10 * i,
    }
    rec.update(over)
    return rec


def test_impressions_stream_bronze_and_quarantine(spark, stack_cfg, tmp_path):
    cfg = _cfg(stack_cfg, tmp_path)
    topic = cfg.kafka.topics.impressions
    _create_topic(cfg, topic, partitions=1)
    good = [_impression(i) for i in range(5)]
    messages = [(r["user_id"].encode(), json.dumps(r).encode()) for r in good]
    messages += [
        (b"u", b"{broken"),
        (b"u", json.dumps(_impression(9, cost_micros=-5)).encode()),
        (b"u", json.dumps({k: v for k, v in _impression(10).items() if k != "campaign_id"}).encode()),
        (b"U-0", json.dumps(good[0]).encode()),  # a producer retry: same impression again
    ]
    _produce(cfg, topic, messages, partition=0)

    summary = bronze.run_ingest_impressions(spark, cfg, once=True)
    assert summary["input_rows"] == len(messages)

    got = spark.read.format("delta").load(cfg.table_path(C.BRONZE_IMPRESSIONS)).select(
        "impression_id", "kafka_key", "quarantine_reason", "origin"
    )
    expected_rows = [(f"imp-{i}", f"U-{i % 3}", None, f"kafka:{topic}/0/{i}") for i in range(5)]
    expected_rows += [
        (None, "u", C.REASON_BAD_JSON, f"kafka:{topic}/0/5"),
        ("imp-9", "u", C.REASON_NEGATIVE_COST, f"kafka:{topic}/0/6"),
        ("imp-10", "u", C.REASON_MISSING_FIELD, f"kafka:{topic}/0/7"),
        ("imp-0", "U-0", None, f"kafka:{topic}/0/8"),
    ]
    expected = spark.createDataFrame(
        expected_rows, "impression_id string, kafka_key string, quarantine_reason string, origin string"
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)

    quarantine = spark.read.format("delta").load(cfg.table_path(C.QUARANTINE))
    assert_df_equality(
        quarantine.select("source", "reason", "origin"),
        spark.createDataFrame(
            [
                ("impressions", C.REASON_BAD_JSON, f"kafka:{topic}/0/5"),
                ("impressions", C.REASON_NEGATIVE_COST, f"kafka:{topic}/0/6"),
                ("impressions", C.REASON_MISSING_FIELD, f"kafka:{topic}/0/7"),
            ],
            "source string, reason string, origin string",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert [r.raw for r in quarantine.where("reason = 'bad_json'").collect()] == ["{broken"]

    # Rerun: nothing new on the topic, nothing changes.
    again = bronze.run_ingest_impressions(spark, cfg, once=True)
    assert again["input_rows"] == 0
    assert spark.read.format("delta").load(cfg.table_path(C.BRONZE_IMPRESSIONS)).count() == len(messages)

    # Replay of batch 0 through the batch function (as after a crash before the checkpoint commit).
    batch = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", cfg.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .load()
        .selectExpr("key", "value", "topic AS kafka_topic", "partition AS kafka_partition",
                    "offset AS kafka_offset", "timestamp AS kafka_timestamp")
    )
    bronze.impressions_batch(cfg, bronze.txn_app_id(cfg, "ingest_impressions", "kafka"))(batch, 0)
    assert spark.read.format("delta").load(cfg.table_path(C.BRONZE_IMPRESSIONS)).count() == len(messages)
    assert spark.read.format("delta").load(cfg.table_path(C.QUARANTINE)).count() == 3


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
    import io

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(json.loads(schema)), record)
    return b"\x00" + struct.pack(">I", schema_id) + buf.getvalue()


def test_bids_v1_v2_mix_each_decoded_with_its_writer_schema(spark, stack_cfg, tmp_path, caplog):
    # Two batches: the first looks up its ids, the second (the last message) is decoded
    # with the ids known by then.
    cfg = _cfg(stack_cfg, tmp_path, "kafka.max_offsets_per_trigger=6")
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
    _create_topic(cfg, topic, partitions=1)
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
    _produce(cfg, topic, messages, partition=0)

    with caplog.at_level(logging.INFO, logger="advertisex.pipelines.bronze"):
        bronze.run_ingest_bids(spark, cfg, once=True)
    # The second batch's optimistic write met an id it had not classified, and was redone.
    assert any("was new to this stream" in r.getMessage() for r in caplog.records)
    table = spark.read.format("delta").load(cfg.table_path(C.BRONZE_BID_REQUESTS))
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
    quarantine = spark.read.format("delta").load(cfg.table_path(C.QUARANTINE))
    raws = {r.origin: r.raw for r in quarantine.collect()}
    import base64

    assert base64.b64decode(raws[f"kafka:{topic}/0/4"]) == good_v1[:12]
    assert len(raws) == 4


def test_an_unknown_schema_id_is_asked_again_once_its_404_is_old(stack_cfg):
    """The registry hands out ids in sequence: an id a message claimed before it existed
    can be registered later, and is then found after ``recheck_s``, not before."""
    from advertisex.io.registry import SchemaCache

    client = SchemaRegistryClient({"url": stack_cfg.schema_registry.url})

    def unique_schema() -> str:
        return json.dumps({"type": "record", "name": f"R{uuid.uuid4().hex}", "fields": [{"name": "a", "type": "int"}]})

    subject = f"recheck-{uuid.uuid4().hex[:8]}"
    last = client.register_schema(subject, Schema(unique_schema(), "AVRO"))
    now = [1000.0]
    cache = SchemaCache(stack_cfg.schema_registry.url, recheck_s=60, clock=lambda: now[0])
    ahead = [last + 1, last + 2, last + 3]
    assert cache.writer_schemas(ahead) == {}
    assert cache.missing == frozenset(ahead)

    later = unique_schema()
    new_id = client.register_schema(subject, Schema(later, "AVRO"))
    assert new_id == last + 1  # nothing else registers while the tests run
    now[0] += 59
    assert cache.recheck_missing() == {}
    assert cache.writer_schemas([new_id]) == {}  # the 404 still stands
    now[0] += 1
    found = cache.recheck_missing()
    assert set(found) == {new_id} and json.loads(found[new_id])["name"] == json.loads(later)["name"]
    assert cache.missing == frozenset(ahead[1:])  # asked again: still unknown, counted from now
    now[0] += 59
    assert cache.missing == frozenset(ahead[1:])
    assert cache.writer_schemas([new_id]) == found


def test_unreachable_broker_fails_fast_naming_the_address(tmp_path):
    env = {**os.environ, "ADVERTISEX_HOME": str(ROOT)}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "advertisex.cli", "run", "ingest_impressions", "--once",
         "--config", str(ROOT / "conf" / "test.yaml"), "--set", "kafka.bootstrap_servers=127.0.0.1:1",
         "--set", "kafka.connect_timeout_seconds=3", "--set", f"lake.root={tmp_path}"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("advertisex: error: Kafka broker not reachable at 127.0.0.1:1 within 3s")
    assert time.monotonic() - t0 < 60


def test_sigkill_mid_stream_then_restart_every_message_exactly_once(spark, stack_cfg, tmp_path):
    cfg = _cfg(stack_cfg, tmp_path, "kafka.max_offsets_per_trigger=40")
    topic = cfg.kafka.topics.impressions
    _create_topic(cfg, topic, partitions=2)
    n = 240
    _produce(cfg, topic, [(f"U-{i}".encode(), json.dumps(_impression(i)).encode()) for i in range(n)])
    args = [sys.executable, "-m", "advertisex.cli", "run", "ingest_impressions", "--once",
            "--config", str(ROOT / "conf" / "test.yaml"),
            "--set", f"lake.root={cfg.lake.root}", "--set", f"checkpoints.root={cfg.checkpoints.root}",
            "--set", f"kafka.topics.impressions={topic}", "--set", "kafka.max_offsets_per_trigger=40",
            "--set", f"streaming.txn_app_id={cfg.streaming.txn_app_id}"]
    env = {**os.environ, "ADVERTISEX_HOME": str(ROOT)}
    with open(tmp_path / "job.log", "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    delta_log = Path(cfg.table_path(C.BRONZE_IMPRESSIONS)) / "_delta_log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if delta_log.is_dir() and len(list(delta_log.glob("*.json"))) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, (tmp_path / "job.log").read_text()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    partial = spark.read.format("delta").load(cfg.table_path(C.BRONZE_IMPRESSIONS)).count()
    assert 0 < partial < n

    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    table = spark.read.format("delta").load(cfg.table_path(C.BRONZE_IMPRESSIONS))
    assert_df_equality(
        table.select("impression_id"),
        spark.createDataFrame([(f"imp-{i}",) for i in range(n)], "impression_id string"),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_ctrl_c_stops_a_continuous_stream_cleanly(spark, stack_cfg, tmp_path):
    cfg = _cfg(stack_cfg, tmp_path)
    topic = cfg.kafka.topics.impressions
    _create_topic(cfg, topic, partitions=1)
    _produce(cfg, topic, [(b"u", json.dumps(_impression(i)).encode()) for i in range(20)])
    args = [sys.executable, "-m", "advertisex.cli", "run", "ingest_impressions",  # no --once: continuous
            "--config", str(ROOT / "conf" / "test.yaml"),
            "--set", f"lake.root={cfg.lake.root}", "--set", f"checkpoints.root={cfg.checkpoints.root}",
            "--set", f"kafka.topics.impressions={topic}", "--set", "streaming.trigger_interval_seconds=1",
            "--set", f"streaming.txn_app_id={cfg.streaming.txn_app_id}"]
    env = {**os.environ, "ADVERTISEX_HOME": str(ROOT)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    delta_log = Path(cfg.table_path(C.BRONZE_IMPRESSIONS)) / "_delta_log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not list(delta_log.glob("*.json")):
        time.sleep(0.5)
    assert proc.poll() is None, "a continuous stream must keep running"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "input_rows" in out
    assert spark.read.format("delta").load(cfg.table_path(C.BRONZE_IMPRESSIONS)).count() == 20
