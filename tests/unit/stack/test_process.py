"""Pid files of the local stack's services: trusted only for a live process with the marker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advertisex.stack import process

MARKER = "advertisex-test-marker"


def _start(tmp_path: Path, code: str) -> int:
    pid = process.start_detached([sys.executable, "-c", code, MARKER], cwd=tmp_path,
                                 log_file=tmp_path / "svc.log", pid_file=tmp_path / "svc.pid")
    deadline = time.monotonic() + 30
    while MARKER not in process._cmdline(pid):  # the interpreter replaced the forked child
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return pid


def test_a_stale_pid_file_is_removed(tmp_path: Path) -> None:
    pid_file = tmp_path / "svc.pid"
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    for text in ("not a pid", done.stdout, str(os.getpid())):  # garbage, an exited process, one without the marker
        pid_file.write_text(text)
        assert process.read_pid(pid_file, MARKER) is None
        assert not pid_file.exists()


def test_stop_kills_what_ignores_sigterm_and_reaps_it(tmp_path: Path) -> None:
    pid = _start(tmp_path, "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)")
    pid_file = tmp_path / "svc.pid"
    assert process.read_pid(pid_file, MARKER) == pid

    assert process.stop(pid_file, MARKER, what="a stubborn service", timeout=0.5) is True

    assert not process.pid_alive(pid)
    with pytest.raises(ChildProcessError):  # our own child, already reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)
    assert not pid_file.exists()
    assert process.stop(pid_file, MARKER, what="a stubborn service", timeout=0.5) is False
