"""The local Pushgateway: where a ``--once`` run or a single job leaves its figures for
Prometheus to scrape (docs/CONTRACT.md §5).

Files under ``{stack.run_dir}/pushgateway/``: ``pushgateway.data`` (what was pushed, written
at intervals and at shutdown, so a ``down``/``up`` cycle keeps it), ``pushgateway.log`` and
``pushgateway.pid``.
"""

from __future__ import annotations

from pathlib import Path

from advertisex.config import Config, StackConfig
from advertisex.stack import process
from advertisex.stack.webservice import ServiceLayout, find_binary, layout

BINARIES = ("prometheus-pushgateway", "pushgateway")
DEBIAN_PACKAGE = "prometheus-pushgateway"
PERSISTENCE_INTERVAL = "30s"  # the default (5m) could lose a whole demo's pushes to a crash


def service(cfg: Config, stack: StackConfig) -> ServiceLayout | None:
    """The Pushgateway layout (None when ``monitoring.pushgateway_url`` is null).

    Raises:
        StackError: the URL is not local.
    """
    return layout("pushgateway", cfg.monitoring.pushgateway_url, "monitoring.pushgateway_url", stack.run_dir)


def persistence_file(lay: ServiceLayout) -> Path:
    """Where the Pushgateway keeps what was pushed across restarts."""
    return lay.home / "pushgateway.data"


def binary() -> str | None:
    """The Pushgateway binary on PATH (Debian's or upstream's name), or None."""
    return find_binary(*BINARIES)


def start(lay: ServiceLayout, exe: str) -> int:
    """Start the Pushgateway detached; returns its pid."""
    lay.home.mkdir(parents=True, exist_ok=True)
    cmd = [
        exe,
        f"--web.listen-address={lay.listen_address}",
        f"--persistence.file={persistence_file(lay)}",
        f"--persistence.interval={PERSISTENCE_INTERVAL}",
    ]
    return process.start_detached(cmd, cwd=lay.home, log_file=lay.log_file, pid_file=lay.pid_file)
