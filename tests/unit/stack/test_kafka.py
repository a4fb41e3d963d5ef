"""The local broker's configuration: a SASL listener beside the plain one when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from advertisex.config import load_config
from advertisex.stack import kafka
from advertisex.stack.errors import StackError


def test_a_sasl_listener_for_the_configured_users(tmp_path: Path):
    cfg = load_config(None, [f"stack.run_dir={tmp_path}", "stack.kafka_sasl_port=9094",
                             "stack.kafka_sasl_users={ax: AX_PW}"], environ={})
    lay = kafka.layout(cfg, cfg.stack)
    props = dict(line.split("=", 1) for line in kafka.server_properties(
        lay, kafka.sasl_users(cfg.stack, {"AX_PW": "s3cret"})).splitlines() if "=" in line)
    assert props["listeners"].endswith(",SASL_PLAINTEXT://127.0.0.1:9094")
    assert props["advertised.listeners"].endswith(",SASL_PLAINTEXT://127.0.0.1:9094")
    assert props["listener.security.protocol.map"].endswith(",SASL_PLAINTEXT:SASL_PLAINTEXT")
    assert props["listener.name.sasl_plaintext.plain.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.plain.PlainLoginModule required user_ax="s3cret";')
    with pytest.raises(StackError, match=r"not set: AX_PW \(ax\)$"):
        kafka.sasl_users(cfg.stack, {})
    plain = load_config(None, [f"stack.run_dir={tmp_path}"], environ={})
    assert "SASL" not in kafka.server_properties(kafka.layout(plain, plain.stack))
