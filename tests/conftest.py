"""Shared fixtures: one local Spark session per test run, per-test temporary folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from advertisex.config import Config, folder_overrides, load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def base_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("advertisex")


@pytest.fixture(scope="session")
def test_cfg(base_tmp: Path) -> Config:
    """The test configuration (conf/test.yaml) with the lake under a temporary folder."""
    return load_config(
        ROOT / "conf" / "test.yaml",
        [
            *folder_overrides(base_tmp),
        ],
        environ={},
    )


@pytest.fixture(scope="session")
def spark(test_cfg: Config) -> Iterator:
    """``local[2]``, one shuffle partition, no UI, UTC, Delta: one JVM for the whole run.

    Expressions run interpreted (no whole-stage code generation): on the small frames of
    these tests compiling the generated code is most of the work, and Spark's interpreted
    and generated paths compute the same values. The integration tests run the CLI with
    the project's own settings, generated code included.
    """
    from advertisex.session import build_spark

    cfg = load_config(
        ROOT / "conf" / "test.yaml",
        [
            f"lake.root={test_cfg.lake.root}",
            "spark.shuffle_partitions=1",
            "spark.conf={spark.ui.enabled: 'false', spark.sql.streaming.forceDeleteTempCheckpointLocation: 'true', "
            "spark.sql.codegen.wholeStage: 'false', spark.sql.codegen.factoryMode: 'NO_CODEGEN'}",
        ],
        environ={},
    )
    session = build_spark("advertisex-tests", cfg)
    yield session
    session.stop()


def make_cfg(tmp: Path, *overrides: str) -> Config:
    """Test config with every path under ``tmp`` (a per-test lake, checkpoints and landing)."""
    return load_config(
        ROOT / "conf" / "test.yaml",
        [
            *folder_overrides(tmp),
            f"streaming.txn_app_id=test-{tmp.name}",
            *overrides,
        ],
        environ={},
    )


@pytest.fixture()
def lake_cfg(tmp_path: Path) -> Config:
    """A per-test configuration: own lake, checkpoints and landing folders."""
    cfg = make_cfg(tmp_path)
    Path(cfg.landing.clicks).mkdir(parents=True)
    Path(cfg.landing.impressions).mkdir(parents=True)
    return cfg
