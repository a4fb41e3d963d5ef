"""Crash points: a named point kills the process there, and nowhere else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from advertisex.faults import ENV, crash_point

REACH = "from advertisex.faults import crash_point; crash_point('gold_replace_after', 'gold'); print('alive')"


@pytest.mark.parametrize(("spec", "dies"), [
    ("gold_replace_after@gold", True),
    ("gold_replace_after", True),
    ("gold_replace_after@silver", False),
    ("gold_replace_before@gold", False),
    ("", False),
])
def test_a_point_kills_the_process_only_when_named(spec, dies):
    done = subprocess.run([sys.executable, "-c", REACH], capture_output=True, text=True,
                          env={**os.environ, ENV: spec}, timeout=60)
    assert (done.returncode, done.stdout) == ((-signal.SIGKILL, "") if dies else (0, "alive\n"))


def test_an_unknown_point_is_an_error_naming_the_points(monkeypatch):
    monkeypatch.setenv(ENV, "gold_replcae_after")
    with pytest.raises(ValueError, match=r"unknown point 'gold_replcae_after'; the points are bronze_commit, "):
        crash_point("gold_replace_after", "gold")
