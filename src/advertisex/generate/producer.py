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
from collections.abc import Iterable, Iterator, Mapping
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
from advertisex.io.security import client_settings, registry_settings

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
        """Messages sent, over every topic."""
        return sum(self.messages.values())

    def summary(self) -> str:
        """One line: messages per topic, bytes, rate and delivery failures."""
        rate = self.total / self.seconds if self.seconds else 0.0
        per = ", ".join(f"{k}={v:,}" for k, v in self.messages.items())
        return (f"produced {self.total:,} messages ({per}), {self.bytes / 1e6:.1f} MB in "
                f"{self.seconds:.1f}s = {rate:,.0f} msg/s; delivery failures: {self.failed}")


def register_bid_schemas(url: str, subject: str = contract.BID_SUBJECT,
                         timeout: float = 10.0, auth: Mapping[str, str] | None = None) -> tuple[dict[int, int], int]:
    """Register bid request schema v1 then v2 and find an unknown schema id.

    Args:
        url: schema registry URL (``cfg.schema_registry.url``).
        subject: the subject (``bid-requests-value``).
        timeout: HTTP timeout in seconds.
        auth: the registry's authentication (:func:`advertisex.io.security.registry_settings`).

    Returns:
        (version → schema id, an id the registry does not know).

    Raises:
        ProduceError: the registry does not answer or refuses a schema.
    """
    client = registry_client(url, timeout, auth=auth)
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
    admin = AdminClient(client_settings(cfg.kafka))
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
    """A progress line on ``out`` (None: quiet), redrawn at most every ``interval`` seconds."""

    def __init__(self, out: TextIO | None, total: int, interval: float = 0.5) -> None:
        self.out, self.total, self.interval = out, total, interval
        self.started = self.last = time.perf_counter()

    def tick(self, done: int, force: bool = False) -> None:
        """Redraw the line for ``done`` messages sent (``force``: whatever the interval)."""
        now = time.perf_counter()
        if self.out is None or (not force and now - self.last < self.interval):
            return
        self.last = now
        rate = done / (now - self.started) if now > self.started else 0.0
        pct = 100.0 * done / self.total if self.total else 100.0
        self.out.write(f"\rproduce: {done:,}/{self.total:,} ({pct:5.1f}%) {rate:,.0f} msg/s ")
        self.out.flush()


class _Sender:
    """One idempotent producer sending at up to ``rate`` messages per second (0: unpaced),
    counting into ``stats`` and drawing ``progress``."""

    def __init__(self, cfg: Config, stats: ProduceStats, *, rate: float, compression: str,
                 progress: _Progress) -> None:
        self.stats, self.rate, self.progress = stats, rate, progress
        self.done = 0
        self.started = time.perf_counter()
        self.producer = Producer({
            **client_settings(cfg.kafka),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "compression.type": compression,
            "delivery.report.only.error": True,
            "on_delivery": self._on_error,
            "message.timeout.ms": 120_000,
        })

    def _on_error(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.stats.failed += 1
            if len(self.stats.errors) < 10:
                self.stats.errors.append(f"{msg.topic()}: {err}")

    def send_all(self, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
        """Send ``(key, value)`` messages to ``topic``; returns how many."""
        n = 0
        for key, value in messages:
            self.send(topic, key, value)
            n += 1
        return n

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Queue one message (waiting while the local queue is full), pacing to ``rate``."""
        while True:
            try:
                self.producer.produce(topic, value, key)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.stats.bytes += len(value)
        self.done += 1
        if self.done % 10_000 == 0:
            self.producer.poll(0)
            self.progress.tick(self.done)
            if self.rate > 0:
                ahead = self.done / self.rate - (time.perf_counter() - self.started)
                if ahead > 0:
                    time.sleep(ahead)

    def finish(self, timeout: float) -> None:
        """Wait for every delivery (undelivered ones count as failed) and close the progress line."""
        self.stats.failed += self.producer.flush(timeout)
        self.stats.seconds = time.perf_counter() - self.started
        self.progress.tick(self.done, force=True)
        if self.progress.out is not None:
            self.progress.out.write("\n")


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
            cfg.schema_registry.url, cfg.schema_registry.subject, cfg.schema_registry.timeout_seconds,
            registry_settings(cfg.schema_registry))
    _ensure_topics(cfg, topics)
    total = (manifest["lines"].get("kafka_impressions", 0) if impressions else 0) + \
        (manifest["lines"].get("bid_requests", 0) if bids else 0)
    sender = _Sender(cfg, stats, rate=rate, compression=compression, progress=_Progress(progress, total))
    if impressions:
        stats.messages["impressions"] = sender.send_all(cfg.kafka.topics.impressions, _impression_messages(manifest))
    if bids and manifest["bids_files"]:
        pools = load_bid_pools(Path(manifest["bids_files"][0]).parent)
        items = iter_bid_items(manifest["bids_files"], pools)
        stats.messages["bid_requests"] = sender.send_all(cfg.kafka.topics.bids, (
            (item_key(item), item_bytes(item, stats.schema_ids, stats.unknown_schema_id)) for item in items))
    sender.finish(cfg.kafka.connect_timeout_seconds + 120)
    if stats.failed:
        err = ProduceError(f"{stats.failed} message(s) not delivered to {cfg.kafka.bootstrap_servers}: "
                           + "; ".join(stats.errors))
        err.stats = stats  # type: ignore[attr-defined]
        raise err
    return stats
