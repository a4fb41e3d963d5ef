from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from advertisex.config import ConfigError, load_config
from support import ROOT


@pytest.fixture()
def conf_dir(tmp_path: Path) -> Path:
    d = tmp_path / "conf"
    d.mkdir()
    (d / "base.yaml").write_text((ROOT / "conf" / "base.yaml").read_text())
    (d / "local.yaml").write_text("lake:\n  root: from-local\nkafka:\n  partitions: 5\n")
    (d / "other.yaml").write_text("lake:\n  root: from-overlay\n")
    return d


def test_precedence_file_overlay_env_set(conf_dir: Path, tmp_path: Path) -> None:
    base = load_config(conf_dir=conf_dir, environ={}, root=tmp_path)
    assert base.lake.root == str(tmp_path / "from-local")  # default overlay local.yaml
    assert base.kafka.partitions == 5
    assert base.kafka.topics.impressions == "ad-impressions"  # untouched base value

    overlay = load_config(conf_dir / "other.yaml", conf_dir=conf_dir, environ={}, root=tmp_path)
    assert overlay.lake.root == str(tmp_path / "from-overlay")
    assert overlay.kafka.partitions == 2  # local.yaml not applied when another overlay is given

    env = {"ADVERTISEX__LAKE__ROOT": "/from/env", "ADVERTISEX__KAFKA__TOPICS__BIDS": "bids-x"}
    with_env = load_config(conf_dir / "other.yaml", conf_dir=conf_dir, environ=env, root=tmp_path)
    assert with_env.lake.root == "/from/env"
    assert with_env.kafka.topics.bids == "bids-x"

    with_set = load_config(
        conf_dir / "other.yaml", ["lake.root=/from/set", "kafka.enabled=false"], conf_dir=conf_dir, environ=env
    )
    assert with_set.lake.root == "/from/set"
    assert with_set.kafka.enabled is False
    assert with_set.kafka.topics.bids == "bids-x"


def test_env_values_are_typed(conf_dir: Path) -> None:
    cfg = load_config(
        conf_dir=conf_dir,
        environ={"ADVERTISEX__ATTRIBUTION__CLICK_WINDOW_MINUTES": "45", "ADVERTISEX__KAFKA__ENABLED": "false"},
    )
    assert cfg.attribution.click_window_minutes == 45
    assert cfg.kafka.enabled is False


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("kafka.bootstrap=1", "unknown config key 'kafka.bootstrap'"),
        ("lakes.root=/x", "unknown config key 'lakes'"),
        ("kafka.topics.clicks=x", "unknown config key 'kafka.topics.clicks'"),
    ],
)
def test_unknown_key_names_the_key(conf_dir: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override], conf_dir=conf_dir, environ={})


def test_unknown_key_in_environment(conf_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config key 'lake.rooot'"):
        load_config(conf_dir=conf_dir, environ={"ADVERTISEX__LAKE__ROOOT": "/x"})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("attribution.click_window_minutes=thirty", "'attribution.click_window_minutes' must be an integer"),
        ("kafka.enabled=maybe", "'kafka.enabled' must be true or false"),
        ("kafka.topics=x", "'kafka.topics' must be a section"),
        ("monitoring.metrics_port=1.5", "'monitoring.metrics_port' must be an integer"),
    ],
)
def test_wrong_type_names_the_key(conf_dir: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override], conf_dir=conf_dir, environ={})


def test_spark_conf_keys_keep_their_dots(conf_dir: Path) -> None:
    """`spark.conf` holds Spark's own dotted keys: an override names one after `spark.conf.`."""
    (conf_dir / "local.yaml").write_text('spark:\n  conf: {"spark.sql.adaptive.enabled": "false"}\n')
    cfg = load_config(overrides=["spark.conf.spark.sql.files.minPartitionNum=8"], conf_dir=conf_dir,
                      environ={"ADVERTISEX__SPARK__CONF__SPARK__SQL__ANSI__ENABLED": "true",
                               "ADVERTISEX__SPARK__CONF__SPARK__SQL__FILES__maxPartitionBytes": "64m"})
    assert cfg.spark.conf == {
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.files.minPartitionNum": "8",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.files.maxPartitionBytes": "64m",
    }


def test_bad_set_syntax(conf_dir: Path) -> None:
    with pytest.raises(ConfigError, match="--set expects dotted.key=value"):
        load_config(overrides=["lake.root"], conf_dir=conf_dir, environ={})


def test_missing_overlay_file(conf_dir: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(conf_dir / "nope.yaml", conf_dir=conf_dir, environ={})


def test_relative_paths_resolve_against_project_root(conf_dir: Path, tmp_path: Path) -> None:
    cfg = load_config(overrides=["landing.clicks=data/clicks", "lake.root=s3a://b/lake"], conf_dir=conf_dir,
                      environ={})
    assert cfg.landing.clicks == str(tmp_path / "data" / "clicks")
    assert cfg.lake.root == "s3a://b/lake"  # URIs are left alone
    assert cfg.table_path("gold/campaign_daily") == "s3a://b/lake/gold/campaign_daily"
    assert cfg.checkpoint_path("ingest_bids", "bids") == str(tmp_path / ".run" / "checkpoints" / "ingest_bids" / "bids")


def test_every_shipped_overlay_is_valid() -> None:
    for name in ("local.yaml", "test.yaml", "cluster.example.yaml"):
        cfg = load_config(ROOT / "conf" / name, environ={})
        assert cfg.kafka.topics.impressions == "ad-impressions"


def test_config_show_round_trips(conf_dir: Path) -> None:
    cfg = load_config(overrides=["spark.conf={spark.sql.adaptive.enabled: 'false'}"], conf_dir=conf_dir, environ={})
    shown = yaml.safe_load(cfg.to_yaml())
    assert shown["spark"]["conf"] == {"spark.sql.adaptive.enabled": "false"}
    assert shown["lake"]["root"] == cfg.lake.root


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # The types are strict: what a lax validator would convert is refused.
        ("kafka.enabled=1", r"'kafka.enabled' must be true or false, got 1$"),
        ("kafka.enabled='true'", r"'kafka.enabled' must be true or false, got 'true'$"),
        ("kafka.partitions=true", r"'kafka.partitions' must be an integer, got True$"),
        ("kafka.partitions=2.0", r"'kafka.partitions' must be an integer, got 2.0$"),
        ("kafka.partitions='2'", r"'kafka.partitions' must be an integer, got '2'$"),
        ("schema_registry.timeout_seconds=false", r"'schema_registry.timeout_seconds' must be a number, got False$"),
        ("lake.root=true", r"'lake.root' must be a string, got True$"),
        ("alerting.webhook=https://x", r"'alerting.webhook' must be a section \(mapping\), got 'https://x'$"),
        ("stack=[1]", r"'stack' must be a section \(mapping\), got \[1\]$"),
        ("spark.conf=x", r"'spark.conf' must be a mapping, got 'x'$"),
        ("stack={run_dir: x}", r"^missing config key 'stack.kafka_jars_dir'$"),
    ],
)
def test_strict_types(conf_dir: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override], conf_dir=conf_dir, environ={})


def test_values_keep_their_declared_types(conf_dir: Path) -> None:
    cfg = load_config(
        overrides=["kafka.bootstrap_servers=9092", "kafka.topics.bids=42", "kafka.connect_timeout_seconds=3",
                   "spark.conf={a: true, b: null, c: 1.5, d: 8}", "monitoring.pushgateway_url=null"],
        conf_dir=conf_dir, environ={},
    )
    assert cfg.kafka.bootstrap_servers == "9092"
    assert cfg.kafka.topics.bids == "42"
    assert cfg.kafka.connect_timeout_seconds == 3.0 and isinstance(cfg.kafka.connect_timeout_seconds, float)
    assert cfg.spark.conf == {"a": "true", "b": "", "c": "1.5", "d": "8"}
    assert cfg.monitoring.pushgateway_url is None


def test_the_first_mistake_is_reported(conf_dir: Path) -> None:
    """Sections are read depth first; in each, unknown keys before the declared ones."""
    with pytest.raises(ConfigError, match="^unknown config key 'kafka.zz'$"):
        load_config(overrides=["kafka.partitions=x", "kafka.zz=1", "spark.zz=1"], conf_dir=conf_dir, environ={})
    with pytest.raises(ConfigError, match="^config key 'kafka.topics.bids' must be a string"):
        load_config(overrides=["kafka.partitions=x", "kafka.topics.bids=true"], conf_dir=conf_dir, environ={})


def test_config_is_frozen(conf_dir: Path) -> None:
    cfg = load_config(conf_dir=conf_dir, environ={})
    with pytest.raises(ValueError, match="frozen"):
        cfg.kafka.partitions = 3  # type: ignore[misc]
    changed = cfg.model_copy(update={"kafka": cfg.kafka.model_copy(update={"partitions": 3})})
    assert (cfg.kafka.partitions, changed.kafka.partitions) == (5, 3)


def test_monitoring_keys_per_overlay() -> None:
    """Monitoring is off by default and on for local work and tests, each on its own ports;
    Alertmanager never takes 9093/19093, the Kafka controller's ports."""
    local = load_config(ROOT / "conf" / "local.yaml", environ={})
    test = load_config(ROOT / "conf" / "test.yaml", environ={})
    assert (local.monitoring.enabled, test.monitoring.enabled) == (True, True)
    assert local.monitoring.prometheus_url == "http://127.0.0.1:9090"
    assert local.monitoring.pushgateway_url == "http://127.0.0.1:9091"
    assert local.alerting.alertmanager_url == "http://127.0.0.1:9095"
    assert (test.monitoring.prometheus_url, test.monitoring.pushgateway_url, test.alerting.alertmanager_url) == (
        "http://127.0.0.1:19090", "http://127.0.0.1:19091", "http://127.0.0.1:19095")
    assert test.monitoring.metrics_port == 19108


def test_monitoring_default_is_off(conf_dir: Path) -> None:
    (conf_dir / "local.yaml").write_text("lake:\n  root: x\n")
    cfg = load_config(conf_dir=conf_dir, environ={})
    assert cfg.monitoring.enabled is False
    assert cfg.alerting.slack.enabled is False and cfg.alerting.email.to is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # Secrets are never configuration: only the name of the variable that holds one.
        ("alerting.slack.webhook_url=https://hooks.example/x", "^unknown config key 'alerting.slack.webhook_url'$"),
        ("alerting.email.auth_password=x", "^unknown config key 'alerting.email.auth_password'$"),
        ("monitoring.scrape_interval=5", "^unknown config key 'monitoring.scrape_interval'$"),
    ],
)
def test_unknown_monitoring_keys(conf_dir: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override], conf_dir=conf_dir, environ={})


def test_anomaly_keys_in_base_are_the_defaults_and_hold_the_contract_keys() -> None:
    """conf/base.yaml documents every anomaly key with the model's default (docs/CONTRACT.md §6
    names four of them)."""
    from advertisex.config.model import AnomalyConfig

    base = yaml.safe_load((ROOT / "conf" / "base.yaml").read_text(encoding="utf-8"))["anomaly"]
    assert AnomalyConfig.model_validate(base) == AnomalyConfig()
    cfg = load_config(ROOT / "conf" / "test.yaml", ["anomaly.impressions_drop.min_baseline=50",
                                                    "anomaly.ctr_spike.min_impressions=10",
                                                    "anomaly.ctr_spike.min_clicks=2",
                                                    "anomaly.stale_table.minutes=15"], environ={})
    a = cfg.anomaly
    assert (a.impressions_drop.min_baseline, a.ctr_spike.min_impressions, a.ctr_spike.min_clicks,
            a.stale_table.minutes) == (50.0, 10, 2, 15)
    with pytest.raises(ConfigError, match="anomaly.quarantine_rate.hour"):
        load_config(ROOT / "conf" / "test.yaml", ["anomaly.quarantine_rate.hour=arrival"], environ={})
