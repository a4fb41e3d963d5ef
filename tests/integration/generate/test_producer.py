"""Producer round trip against the local stack (broker + registry): counts and a decoded sample."""

from __future__ import annotations

import io
import json
import struct
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import fastavro
import pytest

from advertisex.generate import GenerateParams, generate, load_manifest
from advertisex.generate.bids import iter_bid_items, load_bid_pools, parsed_schema
from advertisex.generate.producer import produce

pytestmark = pytest.mark.stack


def _consume_all(cfg: Any, topic: str, expected: int, timeout_s: float = 60.0) -> list[Any]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": cfg.kafka.bootstrap_servers, "group.id": f"t-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out: list[Any] = []
    import time

    deadline = time.monotonic() + timeout_s
    while len(out) < expected and time.monotonic() < deadline:
        for m in c.consume(10_000, timeout=1.0):
            assert m.error() is None, m.error()
            out.append(m)
    c.close()
    return out


def test_produce_round_trip(stack_cfg: Any, tmp_path: Path) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    suffix = uuid.uuid4().hex[:8]
    topics = stack_cfg.kafka.topics.model_copy(update={"impressions": f"imp-{suffix}", "bids": f"bids-{suffix}"})
    cfg = stack_cfg.model_copy(update={"kafka": stack_cfg.kafka.model_copy(update={"topics": topics})})
    params = GenerateParams(seed=3, start_date=date(2026, 11, 2), days=2, impressions_per_day=500,
                            users=100, campaigns=5)
    generate(params, landing_impressions=tmp_path / "li", landing_clicks=tmp_path / "lc",
             campaigns_csv=tmp_path / "c.csv", users_csv=tmp_path / "u.csv", out_dir=tmp_path / "out",
             workers=1)
    manifest = load_manifest(tmp_path / "out")
    stats = produce(cfg, manifest, progress=None)
    assert stats.failed == 0

    values = [line for p in manifest["kafka_impression_values"]
              for line in Path(p).read_bytes().split(b"\n")[:-1]]
    got = _consume_all(cfg, topics.impressions, len(values))
    assert sorted(m.value() for m in got) == sorted(values)
    sample = next(m for m in got if m.value().startswith(b'{"impression_id"') and m.key())
    assert json.loads(sample.value())["user_id"].encode() == sample.key()

    pools = load_bid_pools(Path(manifest["bids_files"][0]).parent)
    items = list(iter_bid_items(manifest["bids_files"], pools))
    bids = _consume_all(cfg, topics.bids, len(items))
    assert len(bids) == len(items) == stats.messages["bid_requests"]
    registry = SchemaRegistryClient({"url": cfg.schema_registry.url})
    versions = set()
    by_id = {it["record"]["bid_request_id"]: it for it in items
             if "record" in it and not it.get("unregistered_id")}
    for m in bids[:200]:
        value = m.value()
        if value[0] != 0:
            continue
        schema_id = struct.unpack(">I", value[1:5])[0]
        if schema_id == stats.unknown_schema_id:
            continue
        writer = fastavro.parse_schema(json.loads(registry.get_schema(schema_id).schema_str))
        try:
            rec = fastavro.schemaless_reader(io.BytesIO(value[5:]), writer, parsed_schema(2))
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, StopIteration):
            continue   # the undecodable ones, on purpose
        item = by_id[rec["bid_request_id"]]
        versions.add(item["v"])
        assert rec["auction"]["exchange"] == item["record"]["auction"]["exchange"]
        assert int(rec["event_time"].timestamp() * 1000) == item["record"]["event_time"]
    assert versions == {1, 2}
