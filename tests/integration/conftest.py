"""Integration fixtures: the real local stack (Kafka in KRaft mode + Apicurio Registry), and
its monitoring services notifying a webhook.

One stack per test session, on the test ports of ``conf/test.yaml`` (Kafka 19092,
controller 19093, registry 18081) with its data in a temporary folder; it is stopped at
the end of the session even when a test fails. Needs ``make deps`` (the broker jars and
the registry) and a JDK (17+ for Kafka, 21+ for Apicurio 3.3). ``mon_cfg`` starts (or
reconfigures) Prometheus, Alertmanager and the Pushgateway of that run dir, with
Alertmanager notifying ``webhook``, per test module.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from advertisex import stack
from advertisex.config import Config, folder_overrides, load_config
from advertisex.stack import alertmanager, monitoring, prometheus, pushgateway
from support import ROOT, isolated_cfg
from support_monitoring import Webhook
from support_pipeline import GeneratedLake, build


def stack_overrides(base_tmp: Path, run_dir: Path) -> list[str]:
    """Overrides that keep every path of a test run under ``base_tmp``."""
    return [
        f"stack.run_dir={run_dir}",
        *folder_overrides(base_tmp),
    ]


MakeConfig = Callable[..., Config]


@pytest.fixture(scope="session")
def make_stack_cfg(base_tmp: Path) -> MakeConfig:
    """``make_stack_cfg(run_dir, "k=v", ...)``: the test configuration with that stack run dir
    (all other paths under the session's temporary folder) and extra overrides."""

    def make(run_dir: Path, *overrides: str) -> Config:
        return load_config(
            ROOT / "conf" / "test.yaml",
            [*stack_overrides(base_tmp, run_dir), *overrides],
            environ={},
        )

    return make


SASL_PASSWORD_ENV = "ADVERTISEX_TEST_KAFKA_PASSWORD"


@pytest.fixture(scope="session")
def stack_cfg(base_tmp: Path, make_stack_cfg: MakeConfig) -> Iterator[Config]:
    """The test configuration with a running local stack; ``stack.down`` at teardown. The
    broker's SASL user (conf/test.yaml) gets a password made for the session."""
    os.environ.setdefault(SASL_PASSWORD_ENV, secrets.token_urlsafe(16))
    cfg = make_stack_cfg(base_tmp / "stack")
    try:
        stack.up(cfg)
        yield cfg
    finally:
        stack.down(cfg)


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def mon_cfg(make_stack_cfg: MakeConfig, base_tmp: Path, webhook: Webhook) -> Iterator[Config]:
    """The test configuration with Alertmanager notifying ``webhook``, and the monitoring
    services of the session's stack run dir started (or, when the session's stack already
    runs them, reconfigured); put back as found at the end."""
    missing = [pkg for pkg, exe in ((prometheus.DEBIAN_PACKAGE, prometheus.binary()),
                                    (alertmanager.DEBIAN_PACKAGE, alertmanager.binary()),
                                    (pushgateway.DEBIAN_PACKAGE, pushgateway.binary())) if exe is None]
    assert not missing, f"install the Debian packages {missing} (make setup does, as root)"
    run_dir = base_tmp / "stack"
    plain = make_stack_cfg(run_dir)
    cfg = make_stack_cfg(run_dir, f"alerting.webhook.url={webhook.url}")
    was_running = monitoring.status(plain, plain.stack)["prometheus"]["pid"] is not None
    assert monitoring.up(cfg, cfg.stack, environ={}) == []
    try:
        yield cfg
    finally:
        if was_running:
            monitoring.up(plain, plain.stack, environ={})
        else:
            monitoring.down(cfg.stack)


@pytest.fixture(scope="session")
def generated_lake(spark, stack_cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> GeneratedLake:
    """Generated traffic (files and both Kafka feeds) after three ``pipeline --once`` runs
    (tests/support_pipeline.py): judged by the end-to-end test, read by the report and the
    notebooks."""
    tmp = tmp_path_factory.mktemp("generated_lake")
    return build(spark, isolated_cfg(stack_cfg, tmp), tmp)
