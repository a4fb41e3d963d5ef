"""Helpers for tests that run Prometheus' and Alertmanager's own tools (promtool, amtool)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# The tool, and the Debian package that installs it (`make setup` does, as root).
TOOLS = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


def tool(name: str) -> str:
    """The path of ``name``; a test without it fails on CI (where `make setup` must have
    installed it) and is skipped elsewhere, naming the package to install."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} not found: install the Debian package {TOOLS[name]} (make setup does, as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def run_tool(name: str, *args: str | Path, cwd: Path | None = None) -> str:
    """Run promtool/amtool; its output, or a test failure quoting it."""
    done = subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{name} {' '.join(map(str, args))} failed:\n{output}"
    return output
