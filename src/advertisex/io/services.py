"""Reachability checks for Kafka and the schema registry, so jobs fail fast with one line.

Spark's Kafka source retries for minutes when the broker is down; checking first with a
bounded timeout turns that into a readable error that names the address (CONTRACT §4).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from advertisex.config import Config
from advertisex.errors import ServiceUnavailableError


def check_kafka(bootstrap_servers: str, timeout_s: float = 10.0) -> list[str]:
    """Ask the broker for its metadata within ``timeout_s``.

    Returns:
        The topic names the broker knows.

    Raises:
        ServiceUnavailableError: no broker answered at ``bootstrap_servers``.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
            "log_level": 0,
            "logger": _silent_logger(),
        }
    )
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise ServiceUnavailableError(
            f"Kafka broker not reachable at {bootstrap_servers} within {timeout_s:g}s ({exc.args[0].str()})"
        ) from None
    return sorted(meta.topics)


def check_registry(url: str, timeout_s: float = 10.0) -> list[str]:
    """``GET {url}/subjects`` within ``timeout_s``.

    Returns:
        The registered subjects.

    Raises:
        ServiceUnavailableError: the registry did not answer with HTTP 200.
    """
    target = f"{url.rstrip('/')}/subjects"
    try:
        with urllib.request.urlopen(target, timeout=timeout_s) as resp:  # noqa: S310 - configured URL
            return list(json.loads(resp.read().decode("utf-8")))
    except urllib.error.HTTPError as exc:
        raise ServiceUnavailableError(f"schema registry at {url} answered HTTP {exc.code} for /subjects") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceUnavailableError(f"schema registry not reachable at {url} ({reason})") from None


def check_services(cfg: Config, *, registry: bool = True) -> None:
    """Fail fast unless Kafka (and the registry, when ``registry``) answer; no-op when Kafka is disabled."""
    if not cfg.kafka.enabled:
        return
    check_kafka(cfg.kafka.bootstrap_servers, cfg.kafka.connect_timeout_seconds)
    if registry:
        check_registry(cfg.schema_registry.url, cfg.schema_registry.timeout_seconds)


def _silent_logger():
    """librdkafka logs connection refusals to stderr on every retry; route them to a null logger."""
    import logging

    logger = logging.getLogger("advertisex.kafka.admin")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger
