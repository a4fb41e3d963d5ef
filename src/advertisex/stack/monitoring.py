"""The monitoring half of the local stack: Alertmanager, the Pushgateway and Prometheus.

Started by ``advertisex stack up`` after Kafka and the registry when ``monitoring.enabled``
(docs/CONTRACT.md §5), each on 127.0.0.1 at its configured URL, from Debian's packages
(``prometheus``, ``prometheus-alertmanager``, ``prometheus-pushgateway``). A service whose
binary is missing is skipped with one warning naming the packages: Kafka and the registry
are useful without it. A service that is already running gets its regenerated
configuration through ``POST /-/reload`` rather than a restart, so its data and pending
notifications are kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advertisex.config import Config, StackConfig
from advertisex.stack import alertmanager, process, prometheus, pushgateway
from advertisex.stack.errors import StackError
from advertisex.stack.webservice import BIND_HOST, ServiceLayout, ready, reload

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 30.0
SERVICE_NAMES = ("alertmanager", "pushgateway", "prometheus")
PACKAGES = (prometheus.DEBIAN_PACKAGE, alertmanager.DEBIAN_PACKAGE, pushgateway.DEBIAN_PACKAGE)


@dataclass(frozen=True)
class Service:
    """One configured monitoring service: its layout, binary and how to (re)configure and start it."""

    lay: ServiceLayout
    package: str
    binary: str | None
    configure: Callable[[], Path | None]  # writes its config files; None when it has none
    start: Callable[[str], int]  # binary -> pid
    reloadable: bool


def services(cfg: Config, stack: StackConfig, environ: Mapping[str, str]) -> list[Service]:
    """The monitoring services ``cfg`` configures, in start order (Prometheus last: it
    scrapes and alerts the other two).

    Args:
        cfg: the configuration.
        stack: its ``stack`` section.
        environ: where Alertmanager's secrets are.

    Raises:
        StackError: a URL that is not local.
    """
    found = []
    am = alertmanager.service(cfg, stack)
    if am is not None:
        found.append(Service(am, alertmanager.DEBIAN_PACKAGE, alertmanager.binary(),
                             lambda: alertmanager.write_config(cfg, am, environ),
                             lambda exe: alertmanager.start(am, exe), reloadable=True))
    pg = pushgateway.service(cfg, stack)
    if pg is not None:
        found.append(Service(pg, pushgateway.DEBIAN_PACKAGE, pushgateway.binary(), lambda: None,
                             lambda exe: pushgateway.start(pg, exe), reloadable=False))
    prom = prometheus.service(cfg, stack)
    found.append(Service(prom, prometheus.DEBIAN_PACKAGE, prometheus.binary(),
                         lambda: prometheus.write_config(cfg, stack, prom),
                         lambda exe: prometheus.start(cfg, stack, prom, exe), reloadable=True))
    return found


def check(cfg: Config, stack: StackConfig, environ: Mapping[str, str] | None = None) -> None:
    """Fail before anything starts on what would stop the monitoring services later: a
    URL that is not local, a receiver without its secret.

    Raises:
        StackError: naming the key or environment variable.
    """
    env = os.environ if environ is None else environ
    for svc in services(cfg, stack, env):
        if svc.lay.name == "alertmanager":
            alertmanager.config(cfg.alerting, env, alertmanager.secrets_dir(svc.lay))


def missing_packages_warning(missing: list[str]) -> str:
    """The one line ``stack up`` prints when monitoring binaries are not installed."""
    return (f"monitoring: {', '.join(missing)} not installed, so not started; install the Debian packages with "
            f"`apt-get install {' '.join(PACKAGES)}` (or run `make setup` as root)")


def up(cfg: Config, stack: StackConfig, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Start (or reconfigure) every configured monitoring service and wait until each is ready.

    Args:
        cfg: the configuration.
        stack: its ``stack`` section.
        environ: where Alertmanager's secrets are; the process environment by default,
            since secrets are never part of the configuration.

    Returns:
        Warnings for the user: at most one, naming the packages whose binaries are missing.

    Raises:
        StackError: a port taken by another process, a service that exits or is not ready
            within ``stack.start_timeout_seconds``, a configuration it refuses.
    """
    env = os.environ if environ is None else environ
    missing = []
    for svc in services(cfg, stack, env):
        if svc.binary is None:
            missing.append(svc.package)
            continue
        _up_one(svc, svc.binary, stack.start_timeout_seconds)
    return [missing_packages_warning(missing)] if missing else []


def _up_one(svc: Service, exe: str, timeout: float) -> None:
    lay = svc.lay
    what = f"{lay.name} at {lay.url}"
    pid = process.read_pid(lay.pid_file, lay.marker)
    svc.configure()
    if pid is None:
        process.require_free_port(BIND_HOST, lay.port, f"{lay.name} ({lay.key})")
        pid = svc.start(exe)
        started = True
    else:
        started = False
    try:
        process.wait_until_ready(lambda: ready(lay), pid=pid, what=what, log_file=lay.log_file, timeout=timeout)
    except StackError:
        if started:  # a service that does not come up is stopped, not left half-started
            process.stop(lay.pid_file, lay.marker, what=what, timeout=STOP_TIMEOUT_SECONDS)
        raise
    if not started and svc.reloadable:
        reload(lay)


def _home(stack: StackConfig, name: str) -> Path:
    return Path(stack.run_dir) / name


def down(stack: StackConfig) -> None:
    """Stop every monitoring service of this stack that runs, whatever the configuration
    says now (a service is found by its pid file under ``stack.run_dir``)."""
    for name in reversed(SERVICE_NAMES):
        home = _home(stack, name)
        process.stop(home / f"{name}.pid", f"{home}/", what=name, timeout=STOP_TIMEOUT_SECONDS)


def status(cfg: Config, stack: StackConfig) -> dict[str, dict[str, Any]]:
    """Each configured monitoring service: ``state`` (``up`` when ``/-/ready`` answers),
    ``address``, ``pid`` (this stack's process or None) and ``log``."""
    report = {}
    for svc in services(cfg, stack, {}):
        lay = svc.lay
        report[lay.name] = {
            "state": "up" if ready(lay) else "down",
            "address": lay.url,
            "pid": process.read_pid(lay.pid_file, lay.marker),
            "log": str(lay.log_file),
        }
    return report
