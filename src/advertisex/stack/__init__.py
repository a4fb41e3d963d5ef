"""The local service stack: a single-node Kafka broker (KRaft) and Apicurio Registry, and
with ``monitoring.enabled`` Prometheus, Alertmanager and the Pushgateway.

``up`` starts them on 127.0.0.1 at the configured addresses and returns once each
answers; ``status`` reports them; ``down`` stops them. The monitoring services come from
Debian's packages and are described in :mod:`advertisex.stack.monitoring`. Both services keep their data
under ``stack.run_dir`` (the registry keeps its schemas in a Kafka topic), so a
``down``/``up`` cycle loses nothing (docs/CONTRACT.md §5). The JVM parts are resolved by
``make deps`` into ``stack.kafka_jars_dir`` and ``stack.registry_dir``.

Example::

    cfg = load_config("conf/local.yaml")
    warnings = stack.up(cfg)   # e.g. monitoring binaries not installed
    stack.ensure_topics(cfg)
    ...
    stack.down(cfg)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from advertisex.config import Config, StackConfig
from advertisex.stack import kafka, monitoring, process, registry
from advertisex.stack.errors import StackError

__all__ = ["StackError", "down", "ensure_topics", "status", "up"]

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 30.0


def _stack(cfg: Config) -> StackConfig:
    if cfg.stack is None:
        raise StackError("the configuration has no `stack` section (see conf/base.yaml)")
    return cfg.stack


def up(cfg: Config, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Start the broker, then the registry, then (with ``monitoring.enabled``) Alertmanager,
    the Pushgateway and Prometheus, and wait until each answers.

    Idempotent: a service of this stack that is already running is only waited for (a
    monitoring service is also given its regenerated configuration).

    Args:
        cfg: the configuration; uses ``kafka.bootstrap_servers``, ``schema_registry.url``,
            the ``monitoring`` and ``alerting`` sections and the ``stack`` section.
        environ: where Alertmanager's secrets and the SASL users' passwords are (the
            process environment by default).

    Returns:
        Warnings to show the user; at most one, naming the Debian packages to install
        when a monitoring binary is missing (Kafka and the registry are started anyway).

    Raises:
        StackError: dependencies not resolved (``make deps``), ``java`` missing, a port
            taken by another process, a monitoring receiver without its secret, or a
            service that exits or does not answer within ``stack.start_timeout_seconds``
            (the message names its log file).
    """
    stack = _stack(cfg)
    broker = kafka.layout(cfg, stack)
    reg = registry.layout(cfg, stack)
    if cfg.monitoring.enabled:
        monitoring.check(cfg, stack, environ)
    kafka.require_jars(broker)
    users = kafka.sasl_users(stack, os.environ if environ is None else environ)
    registry.runner_jar(reg)
    kafka_java = process.find_java(kafka.MIN_JAVA, "Kafka 4")
    registry_java = process.find_java(registry.MIN_JAVA, "Apicurio Registry 3.3")
    started = time.monotonic()
    _up_broker(broker, kafka_java, stack.start_timeout_seconds, users)
    _up_registry(reg, registry_java, broker.address, stack.start_timeout_seconds)
    warnings = monitoring.up(cfg, stack, environ=environ) if cfg.monitoring.enabled else []
    log.info("stack up in %.1f s: Kafka %s, registry %s",
             time.monotonic() - started, broker.address, reg.url)
    return warnings


def _up_broker(lay: kafka.BrokerLayout, java: str, timeout: float, sasl_users: Mapping[str, str]) -> None:
    pid = process.read_pid(lay.pid_file, lay.marker)
    if pid is None:
        process.require_free_port(kafka.BIND_HOST, lay.port, "Kafka (kafka.bootstrap_servers)")
        process.require_free_port(
            kafka.BIND_HOST, lay.controller_port, "the Kafka controller (stack.kafka_controller_port)"
        )
        if lay.sasl_port is not None:
            process.require_free_port(kafka.BIND_HOST, lay.sasl_port, "Kafka's SASL listener (stack.kafka_sasl_port)")
        kafka.write_config(lay, sasl_users)
        kafka.format_storage_once(lay, java)
        pid = kafka.start(lay, java)
    _wait(lambda: kafka.answers(lay), pid=pid, what=f"Kafka at {lay.address}",
          log_file=lay.log_file, pid_file=lay.pid_file, marker=lay.marker, timeout=timeout)


def _up_registry(lay: registry.RegistryLayout, java: str, bootstrap: str, timeout: float) -> None:
    pid = process.read_pid(lay.pid_file, lay.marker)
    if pid is None:
        process.require_free_port(registry.BIND_HOST, lay.port, "the schema registry (schema_registry.url)")
        pid = registry.start(lay, java, bootstrap)
    _wait(lambda: registry.answers(lay), pid=pid, what=f"the schema registry at {lay.url}",
          log_file=lay.log_file, pid_file=lay.pid_file, marker=lay.marker, timeout=timeout)


def _wait(ready: Callable[[], bool], *, pid: int, what: str, log_file: Path, pid_file: Path,
          marker: str, timeout: float) -> None:
    """Wait for readiness; a service that does not come up is stopped, not left half-started."""
    try:
        process.wait_until_ready(ready, pid=pid, what=what, log_file=log_file, timeout=timeout)
    except StackError:
        process.stop(pid_file, marker, what=what, timeout=STOP_TIMEOUT_SECONDS)
        raise


def down(cfg: Config) -> None:
    """Stop the monitoring services, the registry, then the broker (SIGTERM, then SIGKILL
    after a grace period).

    Idempotent: services that are not running are skipped. Only processes recorded in
    this stack's pid files are signalled.

    Raises:
        StackError: the configuration has no ``stack`` section or bad addresses.
    """
    stack = _stack(cfg)
    reg = registry.layout(cfg, stack)
    broker = kafka.layout(cfg, stack)
    monitoring.down(stack)  # whether or not monitoring.enabled is still true
    process.stop(reg.pid_file, reg.marker, what="the schema registry", timeout=STOP_TIMEOUT_SECONDS)
    process.stop(broker.pid_file, broker.marker, what="Kafka", timeout=STOP_TIMEOUT_SECONDS)


def status(cfg: Config) -> dict[str, dict[str, Any]]:
    """Report each service of the local stack.

    Returns:
        ``{"kafka": {...}, "schema_registry": {...}}``, with ``monitoring.enabled`` also
        ``"alertmanager"``, ``"pushgateway"`` and ``"prometheus"`` (those configured); each
        entry holds ``state``
        (``"up"`` when it answers, else ``"down"``), ``address``, ``pid`` (this stack's
        process, or None — a service can answer without being ours) and ``log``.
    """
    stack = _stack(cfg)
    broker = kafka.layout(cfg, stack)
    reg = registry.layout(cfg, stack)
    report = {
        "kafka": {
            "state": "up" if kafka.answers(broker) else "down",
            "address": broker.address,
            "pid": process.read_pid(broker.pid_file, broker.marker),
            "log": str(broker.log_file),
        },
        "schema_registry": {
            "state": "up" if registry.answers(reg) else "down",
            "address": reg.url,
            "pid": process.read_pid(reg.pid_file, reg.marker),
            "log": str(reg.log_file),
        },
    }
    if cfg.monitoring.enabled:
        report |= monitoring.status(cfg, stack)
    return report


def ensure_topics(cfg: Config) -> list[str]:
    """Create ``kafka.topics.impressions`` and ``kafka.topics.bids`` if missing.

    See :func:`advertisex.stack.kafka.ensure_topics`.

    Returns:
        The topics created now.
    """
    return kafka.ensure_topics(cfg)


def ensure_subject(cfg: Config) -> None:
    """Give ``schema_registry.subject`` its compatibility rule (BACKWARD); see
    :func:`advertisex.stack.registry.ensure_compatibility`."""
    registry.ensure_compatibility(cfg)
