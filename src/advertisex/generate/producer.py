"""Publish a generated data set's Kafka part (``advertisex produce``).

Impressions go to ``cfg.kafka.topics.impressions`` as UTF-8 JSON (key = raw ``user_id``);
bid requests go to ``cfg.kafka.topics.bids`` in the Confluent wire format, schema v1
and v2 mixed, both registered under ``contract.BID_SUBJECT`` at ``cfg.schema_registry.url``,
plus the malformed Avro messages (bad magic byte, unknown schema id, undecodable body).

The producer is idempotent (``enable.idempotence=true``, ``acks=all``). Delivery
failures are counted (only failures get a delivery report: ``delivery.report.only.error``)
and reported; :func:`produce` raises :class:`ProduceError` when any message was lost.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from advertisex import contract
from advertisex.config import Config
from advertisex.generate.bids import item_bytes, item_key, iter_bid_items, load_bid_pools
from advertisex.io.registry import registry_client, transport_errors

UNKNOWN_SCHEMA_ID_START = 2_147_480_000   # far above any id a registry hands out


class ProduceError(RuntimeError):
    """The broker or registry is unreachable, or messages were not delivered."""


@dataclass
class ProduceStats:
    """What :func:`produce` sent."""

    messages: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    failed: int = 0
    seconds: float = 0.0
    schema_ids: dict[int, int] = field(default_factory=dict)
    unknown_schema_id: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    def summary(self) -> str:
        rate = self.total / self.seconds if self.seconds else 0.0
        per = ", ".join(f"{k}={v:,}" for k, v in self.messages.items())
        return (f"produced {self.total:,} messages ({per}), {self.bytes / 1e6:.1f} MB in "
                f"{self.seconds:.1f}s = {rate:,.0f} msg/s; delivery failures: {self.failed}")


def register_bid_schemas(url: str, subject: str = contract.BID_SUBJECT,
                         timeout: float = 10.0) -> tuple[dict[int, int], int]:
    """Register bid request schema v1 then v2 and find an unknown schema id.

    Args:
        url: schema registry URL (``cfg.schema_registry.url``).
        subject: the subject (``bid-requests-value``).
        timeout: HTTP timeout in seconds.

    Returns:
        (version → schema id, an id the registry does not know).

    Raises:
        ProduceError: the registry does not answer or refuses a schema.
    """
    client = registry_client(url, timeout)
    ids: dict[int, int] = {}
    try:
        for version in (1, 2):
            ids[version] = client.register_schema(subject, Schema(contract.bid_schema_text(version), "AVRO"))
    except SchemaRegistryError as exc:
        raise ProduceError(f"schema registry at {url} refused the bid schema: {exc}") from None
    except transport_errors() as exc:
        raise ProduceError(f"schema registry at {url} is unreachable: {exc}") from None
    unknown = UNKNOWN_SCHEMA_ID_START
    while True:
        try:
            client.get_schema(unknown)
        except SchemaRegistryError:
            return ids, unknown
        unknown += 1


def _ensure_topics(cfg: Config, topics: list[str]) -> None:
    conf = {"bootstrap.servers": cfg.kafka.bootstrap_servers}
    admin = AdminClient(conf)
    try:
        meta = admin.list_topics(timeout=cfg.kafka.connect_timeout_seconds)
    except KafkaException as exc:
        raise ProduceError(f"Kafka broker at {cfg.kafka.bootstrap_servers} is unreachable: {exc}") from None
    missing = [t for t in topics if t not in meta.topics]
    if not missing:
        return
    futures = admin.create_topics([NewTopic(t, num_partitions=cfg.kafka.partitions, replication_factor=1)
                                   for t in missing])
    for topic, fut in futures.items():
        try:
            fut.result(timeout=cfg.kafka.connect_timeout_seconds)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ProduceError(f"cannot create topic {topic!r}: {exc}") from None


def _impression_messages(manifest: dict[str, Any]) -> Iterator[tuple[bytes | None, bytes]]:
    for values, keys in zip(manifest["kafka_impression_values"], manifest["kafka_impression_keys"],
                            strict=True):
        vdata = Path(values).read_bytes().split(b"\n")
        kdata = Path(keys).read_bytes().split(b"\n")
        for v, k in zip(vdata[:-1], kdata[:-1], strict=True):
            yield (k or None), v


class _Progress:
    def __init__(self, out: TextIO | None, total: int, interval: float = 0.5) -> None:
        self.out, self.total, self.interval = out, total, interval
        self.started = self.last = time.perf_counter()

    def tick(self, done: int, force: bool = False) -> None:
        now = time.perf_counter()
        if self.out is None or (not force and now - self.last < self.interval):
            return
        self.last = now
        rate = done / (now - self.started) if now > self.started else 0.0
        pct = 100.0 * done / self.total if self.total else 100.0
        self.out.write(f"\rproduce: {done:,}/{self.total:,} ({pct:5.1f}%) {rate:,.0f} msg/s ")
        self.out.flush()


def produce(
    cfg: Config,
    manifest: dict[str, Any],
    *,
    impressions: bool = True,
    bids: bool = True,
    rate: float = 0.0,
    compression: str = "none",
    progress: TextIO | None = sys.stderr,
) -> ProduceStats:
    """Send the generated Kafka messages.

    Args:
        cfg: the configuration (broker, topics, registry).
        manifest: the generator's manifest (``load_manifest(out)``).
        impressions: send the impression messages.
        bids: register the schemas and send the bid requests.
        rate: target messages per second overall; 0 = as fast as possible.
        compression: ``compression.type`` of the producer.
        progress: where to draw the progress line (None = quiet).

    Returns:
        The :class:`ProduceStats` (no failures).

    Raises:
        ProduceError: broker/registry unreachable, or any delivery failed (the stats are
            in the exception's ``stats`` attribute).
    """
    stats = ProduceStats()
    topics = []
    if impressions:
        topics.append(cfg.kafka.topics.impressions)
    if bids:
        topics.append(cfg.kafka.topics.bids)
        stats.schema_ids, stats.unknown_schema_id = register_bid_schemas(
            cfg.schema_registry.url, cfg.schema_registry.subject, cfg.schema_registry.timeout_seconds)
    _ensure_topics(cfg, topics)

    def on_error(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            stats.failed += 1
            if len(stats.errors) < 10:
                stats.errors.append(f"{msg.topic()}: {err}")

    producer = Producer({
        "bootstrap.servers": cfg.kafka.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "compression.type": compression,
        "delivery.report.only.error": True,
        "on_delivery": on_error,
        "message.timeout.ms": 120_000,
    })
    total = (manifest["lines"].get("kafka_impressions", 0) if impressions else 0) + \
        (manifest["lines"].get("bid_requests", 0) if bids else 0)
    prog = _Progress(progress, total)
    started = time.perf_counter()
    done = 0

    def send(topic: str, key: bytes | None, value: bytes) -> None:
        nonlocal done
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        stats.bytes += len(value)
        done += 1
        if done % 10_000 == 0:
            producer.poll(0)
            prog.tick(done)
            if rate > 0:
                ahead = done / rate - (time.perf_counter() - started)
                if ahead > 0:
                    time.sleep(ahead)

    if impressions:
        topic = cfg.kafka.topics.impressions
        n = 0
        for key, value in _impression_messages(manifest):
            send(topic, key, value)
            n += 1
        stats.messages["impressions"] = n
    if bids and manifest["bids_files"]:
        topic = cfg.kafka.topics.bids
        pools = load_bid_pools(Path(manifest["bids_files"][0]).parent)
        n = 0
        for item in iter_bid_items(manifest["bids_files"], pools):
            send(topic, item_key(item), item_bytes(item, stats.schema_ids, stats.unknown_schema_id))
            n += 1
        stats.messages["bid_requests"] = n
    remaining = producer.flush(cfg.kafka.connect_timeout_seconds + 120)
    stats.failed += remaining
    stats.seconds = time.perf_counter() - started
    prog.tick(done, force=True)
    if progress is not None:
        progress.write("\n")
    if stats.failed:
        err = ProduceError(f"{stats.failed} message(s) not delivered to {cfg.kafka.bootstrap_servers}: "
                           + "; ".join(stats.errors))
        err.stats = stats  # type: ignore[attr-defined]
        raise err
    return stats
