"""The local stack against the real services: Kafka (KRaft) and Apicurio Registry.

No mocks: messages go through the broker the project starts and schemas through the
registry's Confluent-compatible API, with the Confluent client library.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from advertisex import stack
from advertisex.config import Config
from advertisex.stack import process
from support import ROOT

pytestmark = pytest.mark.stack

CONTRACTS = ROOT / "src" / "advertisex" / "contracts"
SUBJECT = "bid-requests-value"
CONSUME_TIMEOUT_SECONDS = 30.0

BID_V1: dict[str, Any] = {
    "bid_request_id": "br-0001",
    "event_time": datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=UTC),
    "user": {
        "user_id": "u-42",
        "segments": ["sports", "travel"],
        "country": "DE",
        "device_type": None,
    },
    "auction": {
        "auction_id": "a-7",
        "exchange": "adx",
        "floor_price_micros": 150_000,
        "bid_price_micros": 420_000,
        "won": True,
        "clearing_price_micros": 310_000,
    },
    "targeting": {
        "campaign_id": None,
        "website": "news.example.com",
        "ad_slot": "top-banner",
        "keywords": ["football", "bundesliga"],
    },
}

BID_V2: dict[str, Any] = {
    **BID_V1,
    "bid_request_id": "br-0002",
    "user": {**BID_V1["user"], "consent": True},
    "auction": {**BID_V1["auction"], "deal_id": "deal-9"},
}


# ----------------------------------------------------------------------------- helpers


def schema_text(version: int) -> str:
    return (CONTRACTS / f"bid_request.v{version}.avsc").read_text(encoding="utf-8")


def registry(cfg: Config) -> SchemaRegistryClient:
    """A new client each time: no cached ids hide what the registry itself answers."""
    return SchemaRegistryClient({"url": cfg.schema_registry.url})


def unique_topic(prefix: str) -> str:
    return f"it-{prefix}-{uuid.uuid4().hex[:10]}"


def produce(cfg: Config, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers, "acks": "all"})
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for key, value in messages:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    remaining = producer.flush(CONSUME_TIMEOUT_SECONDS)
    assert remaining == 0, f"{remaining} messages not delivered"
    assert errors == []


def consume_all(cfg: Config, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    """Read partition 0 of ``topic`` from the beginning until ``expected`` messages arrived."""
    consumer = Consumer(
        {
            "bootstrap.servers": cfg.kafka.bootstrap_servers,
            "group.id": f"it-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    got: list[tuple[bytes, bytes]] = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + CONSUME_TIMEOUT_SECONDS
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return got


def wire_header(payload: bytes) -> tuple[int, int]:
    """(magic byte, schema id) of a Confluent wire-format message."""
    magic, schema_id = struct.unpack(">bI", payload[:5])
    return magic, schema_id


@contextmanager
def listening_socket() -> Iterator[int]:
    """A socket listening on a free port of 127.0.0.1; yields the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ----------------------------------------------------------------------------- tests


def test_status_reports_both_services_up(stack_cfg: Config) -> None:
    report = stack.status(stack_cfg)

    assert report["kafka"]["state"] == "up"
    assert report["kafka"]["address"] == stack_cfg.kafka.bootstrap_servers
    assert isinstance(report["kafka"]["pid"], int)
    assert report["schema_registry"]["state"] == "up"
    assert report["schema_registry"]["address"] == stack_cfg.schema_registry.url
    assert isinstance(report["schema_registry"]["pid"], int)


def test_up_again_is_a_no_op(stack_cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    before = stack.status(stack_cfg)

    def no_start(cmd: list[str], **_: Any) -> int:
        raise AssertionError(f"up started a service that was running: {cmd[0]}")

    # Nothing may be started: `up` only waits for services that already answer.
    monkeypatch.setattr(process, "start_detached", no_start)
    stack.up(stack_cfg)

    after = stack.status(stack_cfg)
    assert (after["kafka"]["state"], after["schema_registry"]["state"]) == ("up", "up")
    assert after["kafka"]["pid"] == before["kafka"]["pid"]
    assert after["schema_registry"]["pid"] == before["schema_registry"]["pid"]


def test_produce_consume_round_trip(stack_cfg: Config) -> None:
    topic = unique_topic("roundtrip")
    sent = [(f"k{i}".encode(), f"value {i}".encode()) for i in range(20)]

    produce(stack_cfg, topic, sent)

    assert consume_all(stack_cfg, topic, len(sent)) == sent


def test_ensure_topics_creates_missing_topics_once(
    stack_cfg: Config, make_stack_cfg: Callable[..., Config]
) -> None:
    names = {"impressions": unique_topic("impressions"), "bids": unique_topic("bids")}
    assert stack_cfg.stack is not None
    cfg = make_stack_cfg(
        Path(stack_cfg.stack.run_dir),
        f"kafka.topics.impressions={names['impressions']}",
        f"kafka.topics.bids={names['bids']}",
        "kafka.partitions=3",
    )

    assert sorted(stack.ensure_topics(cfg)) == sorted(names.values())
    assert stack.ensure_topics(cfg) == []

    meta = AdminClient({"bootstrap.servers": cfg.kafka.bootstrap_servers}).list_topics(timeout=10)
    assert {name: len(meta.topics[name].partitions) for name in names.values()} == {
        name: 3 for name in names.values()
    }


def test_avro_through_registry_in_confluent_wire_format(stack_cfg: Config) -> None:
    client = registry(stack_cfg)
    id_v1 = client.register_schema(SUBJECT, Schema(schema_text(1), "AVRO"))
    ctx = SerializationContext(stack_cfg.kafka.topics.bids, MessageField.VALUE)
    serializer = AvroSerializer(
        client, schema_text(1), conf={"auto.register.schemas": False, "use.latest.version": False}
    )

    payload = serializer(BID_V1, ctx)

    assert payload is not None
    assert wire_header(payload) == (0, id_v1)
    assert AvroDeserializer(registry(stack_cfg))(payload, ctx) == BID_V1


def test_v1_and_v2_ids_differ_and_both_resolve(stack_cfg: Config) -> None:
    client = registry(stack_cfg)
    id_v1 = client.register_schema(SUBJECT, Schema(schema_text(1), "AVRO"))
    id_v2 = client.register_schema(SUBJECT, Schema(schema_text(2), "AVRO"))

    assert id_v1 != id_v2
    fresh = registry(stack_cfg)
    assert json.loads(fresh.get_schema(id_v1).schema_str) == json.loads(schema_text(1))
    assert json.loads(fresh.get_schema(id_v2).schema_str) == json.loads(schema_text(2))
    assert client.register_schema(SUBJECT, Schema(schema_text(1), "AVRO")) == id_v1  # idempotent

    ctx = SerializationContext(stack_cfg.kafka.topics.bids, MessageField.VALUE)
    payload = AvroSerializer(client, schema_text(2), conf={"auto.register.schemas": False})(
        BID_V2, ctx
    )
    assert payload is not None
    assert wire_header(payload) == (0, id_v2)
    assert AvroDeserializer(fresh)(payload, ctx) == BID_V2


def test_data_survives_down_and_up(stack_cfg: Config) -> None:
    topic = unique_topic("restart")
    client = registry(stack_cfg)
    schema_id = client.register_schema(SUBJECT, Schema(schema_text(1), "AVRO"))
    # The subject follows the bids topic (TopicNameStrategy); the bytes go to a fresh topic.
    ctx = SerializationContext(stack_cfg.kafka.topics.bids, MessageField.VALUE)
    payload = AvroSerializer(client, schema_text(1), conf={"auto.register.schemas": False})(
        BID_V1, ctx
    )
    assert payload is not None
    sent = [(b"plain", b"kept across restarts"), (BID_V1["bid_request_id"].encode(), payload)]
    produce(stack_cfg, topic, sent)

    stack.down(stack_cfg)
    report = stack.status(stack_cfg)
    assert (report["kafka"]["state"], report["schema_registry"]["state"]) == ("down", "down")
    assert (report["kafka"]["pid"], report["schema_registry"]["pid"]) == (None, None)
    stack.down(stack_cfg)  # idempotent
    stack.up(stack_cfg)

    fresh = registry(stack_cfg)
    assert json.loads(fresh.get_schema(schema_id).schema_str) == json.loads(schema_text(1))
    got = consume_all(stack_cfg, topic, len(sent))
    assert got == sent
    assert AvroDeserializer(fresh)(got[1][1], ctx) == BID_V1


def test_port_in_use_is_reported_with_the_port(
    make_stack_cfg: Callable[..., Config], tmp_path: Path
) -> None:
    with listening_socket() as port:
        cfg = make_stack_cfg(
            tmp_path / "stack",
            f"kafka.bootstrap_servers=127.0.0.1:{port}",
            f"stack.kafka_controller_port={free_port()}",
            f"schema_registry.url=http://127.0.0.1:{free_port()}/apis/ccompat/v7",
        )

        with pytest.raises(stack.StackError, match=rf"\bport {port}\b.*in use"):
            stack.up(cfg)

    assert not (tmp_path / "stack" / "kafka" / "kafka.pid").exists()


def test_missing_dependencies_ask_for_make_deps(
    make_stack_cfg: Callable[..., Config], tmp_path: Path
) -> None:
    cfg = make_stack_cfg(tmp_path / "stack", f"stack.kafka_jars_dir={tmp_path / 'no-jars'}")

    with pytest.raises(stack.StackError, match="run `make deps`"):
        stack.up(cfg)
