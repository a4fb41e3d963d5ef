"""Helpers for tests that run Prometheus' and Alertmanager's own tools (promtool, amtool),
and a webhook receiver for Alertmanager's notifications."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


class Webhook:
    """An HTTP receiver on 127.0.0.1 recording every JSON body POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notifications_for(self, alertname: str) -> list[dict[str, Any]]:
        return [n for n in list(self.received) if any(a["labels"]["alertname"] == alertname for a in n["alerts"])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
