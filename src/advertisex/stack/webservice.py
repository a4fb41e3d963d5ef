"""What the monitoring services of the local stack share: Prometheus, Alertmanager and the
Pushgateway are single Go binaries from Debian's packages, each answering HTTP on one
127.0.0.1 port, ready once ``GET /-/ready`` returns 200, reloaded by ``POST /-/reload``.

Each keeps its files under ``{stack.run_dir}/<service>/``: the generated configuration
(rewritten on each ``stack up``), ``data/``, ``<service>.log`` and ``<service>.pid``.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from advertisex.stack.errors import StackError

BIND_HOST = "127.0.0.1"
LOCAL_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class ServiceLayout:
    """Where one monitoring service's files live and where it answers."""

    name: str
    url: str
    port: int
    home: Path
    key: str  # the config key naming its URL, for messages

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def listen_address(self) -> str:
        return f"{BIND_HOST}:{self.port}"

    @property
    def marker(self) -> str:
        """Text in the service's command line that makes it this stack's: its home folder,
        which every one of its file options names."""
        return f"{self.home}/"


def local_port(url: str, key: str) -> int:
    """The port of a local ``http://127.0.0.1:<port>`` URL.

    Args:
        url: the configured URL.
        key: the config key it came from, for the message.

    Returns:
        The port.

    Raises:
        StackError: not ``http``, not on this machine, no port, or a path (the local stack
            serves each service at the root).
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS or port is None or parts.path.strip("/"):
        raise StackError(f"the local stack runs its services on http://127.0.0.1:<port> only; {key} is {url}")
    return port


def layout(name: str, url: str | None, key: str, run_dir: str) -> ServiceLayout | None:
    """The layout of service ``name`` at ``url`` (None when no URL is configured).

    Raises:
        StackError: ``url`` is not a local ``http://127.0.0.1:<port>``.
    """
    if not url:
        return None
    return ServiceLayout(name=name, url=url.rstrip("/"), port=local_port(url, key),
                         home=Path(run_dir) / name, key=key)


def find_binary(*names: str) -> str | None:
    """The first of ``names`` found on PATH (Debian and upstream name their binaries apart)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def http_ok(url: str, *, method: str = "GET", timeout: float = 3.0) -> tuple[bool, str]:
    """Ask ``url`` once.

    Returns:
        ``(True, body)`` on a 2xx answer, ``(False, reason)`` otherwise (refused, an error
        status with its body, a time-out).
    """
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - a configured http URL
            return True, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read().decode('utf-8', 'replace').strip()}"
    except (urllib.error.URLError, OSError) as exc:
        return False, str(getattr(exc, "reason", exc))


def ready(lay: ServiceLayout) -> bool:
    """Whether the service answers ``GET /-/ready`` with 200."""
    return http_ok(f"{lay.url}/-/ready", timeout=2.0)[0]


def reload(lay: ServiceLayout) -> None:
    """Make a running service read its configuration again (``POST /-/reload``).

    Raises:
        StackError: the service refused the new configuration (the message quotes it).
    """
    ok, answer = http_ok(f"{lay.url}/-/reload", method="POST", timeout=30.0)
    if not ok:
        raise StackError(f"{lay.name} at {lay.url} refused its new configuration: {answer}; see {lay.log_file}")


def duration(seconds: float) -> str:
    """A Prometheus/Alertmanager duration: ``15s`` for whole seconds, else milliseconds."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"
