"""Reachability checks for Kafka and the schema registry, so jobs fail fast with one line.

Spark's Kafka source retries for minutes when the broker is down; checking first with a
bounded timeout turns that into a readable error that names the address (docs/CONTRACT.md §4).
"""

from __future__ import annotations

import difflib
import time

from advertisex.config import Config, KafkaConfig, SchemaRegistryConfig
from advertisex.errors import InputPathError, ServiceUnavailableError
from advertisex.io.registry import registry_client, transport_errors
from advertisex.io.security import client_settings, registry_settings


def check_kafka(kafka: KafkaConfig) -> list[str]:
    """Ask the broker at ``kafka.bootstrap_servers`` for its metadata within
    ``kafka.connect_timeout_seconds``, as ``kafka.security`` says.

    Returns:
        The topic names the broker knows.

    Raises:
        ServiceUnavailableError: no broker answered, or it refused the credentials.
        MissingSecretError: SASL without its user name or password.
    """
    return sorted(_cluster_metadata(kafka).topics)


def topic_partitions(cfg: Config, topic: str) -> list[int]:
    """The partition numbers of ``topic`` (none when the broker has no such topic).

    Raises:
        ServiceUnavailableError: no broker answered.
    """
    meta = _cluster_metadata(cfg.kafka).topics.get(topic)
    return sorted(meta.partitions) if meta is not None else []


def _cluster_metadata(kafka: KafkaConfig):  # -> confluent_kafka.admin.ClusterMetadata
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    timeout_s = kafka.connect_timeout_seconds
    errors: list = []  # what librdkafka reports beside the call: a refused login comes only here
    admin = AdminClient(
        {
            **client_settings(kafka),
            "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
            "log_level": 0,
            "logger": _silent_logger(),
            "error_cb": errors.append,
        }
    )
    deadline = time.monotonic() + timeout_s
    while True:  # asked in short turns, so that a refused login ends the wait at once
        try:
            return admin.list_topics(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
        except KafkaException as exc:
            admin.poll(0)  # serves error_cb
            refused = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
            if refused:
                raise ServiceUnavailableError(
                    f"Kafka at {kafka.bootstrap_servers} refused the credentials of user "
                    f"{kafka.security.username!r} (kafka.security): {refused[0].str()}") from None
            if time.monotonic() >= deadline:
                raise ServiceUnavailableError(f"Kafka broker not reachable at {kafka.bootstrap_servers} within "
                                              f"{timeout_s:g}s ({exc.args[0].str()})") from None


def check_topic(cfg: Config, key: str) -> None:
    """Fail fast unless the broker answers and holds the topic ``kafka.topics.<key>``.

    A misspelt topic would otherwise be an empty success (nothing to read), or a new empty
    topic where the broker creates topics on first use.

    Raises:
        ServiceUnavailableError: no broker answered.
        InputPathError: the broker has no such topic; the message names the key and close names.
    """
    topic = getattr(cfg.kafka.topics, key)
    topics = check_kafka(cfg.kafka)
    if topic in topics:
        return
    close = difflib.get_close_matches(topic, [t for t in topics if not t.startswith("__")], n=3)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    raise InputPathError(
        f"Kafka topic {topic!r} (kafka.topics.{key}) does not exist at {cfg.kafka.bootstrap_servers}; "
        f"{hint}`advertisex stack up` creates the configured topics"
    )


def check_registry(registry: SchemaRegistryConfig) -> list[str]:
    """``GET {url}/subjects`` within ``schema_registry.timeout_seconds``, asked once (no
    retries: a check), authenticated as ``schema_registry.username`` says.

    Args:
        registry: the ``schema_registry`` section.

    Returns:
        The registered subjects.

    Raises:
        ServiceUnavailableError: the registry did not answer with a success; the message
            names the URL, and the HTTP status or why it could not be reached.
    """
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    url = registry.url
    try:
        return list(registry_client(url, registry.timeout_seconds, retries=0, auth=registry_settings(registry))
                    .get_subjects())
    except SchemaRegistryError as exc:
        raise ServiceUnavailableError(
            f"schema registry at {url} answered HTTP {exc.http_status_code} for /subjects"
        ) from None
    except (*transport_errors(), ValueError) as exc:  # ValueError: not a URL, or an answer that is no JSON
        raise ServiceUnavailableError(f"schema registry not reachable at {url} ({exc})") from None


def check_services(cfg: Config, *, registry: bool = True) -> None:
    """Fail fast unless Kafka (and the registry, when ``registry``) answer; no-op when Kafka is disabled."""
    if not cfg.kafka.enabled:
        return
    check_kafka(cfg.kafka)
    if registry:
        check_registry(cfg.schema_registry)


def _silent_logger():
    """librdkafka logs connection refusals to stderr on every retry; route them to a null logger."""
    import logging

    logger = logging.getLogger("advertisex.kafka.admin")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger
