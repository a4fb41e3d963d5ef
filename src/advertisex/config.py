"""Typed configuration: YAML files + environment + ``--set`` overrides.

Precedence, lowest first (CONTRACT.md §4):

1. ``conf/base.yaml``
2. one overlay file (``--config FILE``; default ``conf/local.yaml``)
3. environment variables ``ADVERTISEX__SECTION__KEY=value`` (``ADVERTISEX__LAKE__ROOT``
   overrides ``lake.root``)
4. ``--set dotted.key=value`` arguments

Values given as text (environment, ``--set``) are read as YAML scalars, so ``true``,
``42`` and ``null`` get their natural types before validation. Every key is checked
against the dataclasses below: an unknown key or a value of the wrong type raises
:class:`ConfigError` naming the dotted key.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "ADVERTISEX__"


class ConfigError(ValueError):
    """A configuration file, key or value is wrong; the message names the key."""


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class LakeConfig:
    root: str


@dataclass(frozen=True)
class CheckpointsConfig:
    root: str


@dataclass(frozen=True)
class LandingConfig:
    impressions: str
    clicks: str


@dataclass(frozen=True)
class ReferenceConfig:
    campaigns: str
    users: str


@dataclass(frozen=True)
class TopicsConfig:
    impressions: str = "ad-impressions"
    bids: str = "bid-requests"


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str
    enabled: bool = True
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    partitions: int = 2
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int = 500_000
    fail_on_data_loss: bool = True
    connect_timeout_seconds: float = 15.0


@dataclass(frozen=True)
class SchemaRegistryConfig:
    url: str
    subject: str = "bid-requests-value"
    timeout_seconds: float = 10.0
    unknown_id_recheck_seconds: float = 300.0


@dataclass(frozen=True)
class AttributionConfig:
    click_window_minutes: int = 30
    conversion_window_days: int = 7
    view_through_window_hours: int = 24


@dataclass(frozen=True)
class StreamingConfig:
    trigger_interval_seconds: float = 10.0
    txn_app_id: str = "advertisex"
    max_files_per_trigger: int = 1000


@dataclass(frozen=True)
class MonitoringConfig:
    metrics_port: int = 9108
    pushgateway_url: str | None = None


@dataclass(frozen=True)
class WebhookConfig:
    url: str | None = None


@dataclass(frozen=True)
class AlertingConfig:
    webhook: WebhookConfig = field(default_factory=WebhookConfig)


@dataclass(frozen=True)
class SparkConfig:
    master: str | None = "local[2]"
    shuffle_partitions: int = 4
    delta_snapshot_partitions: int = 1
    driver_memory: str | None = "4g"
    log_level: str = "WARN"
    jars_dir: str | None = None
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackConfig:
    run_dir: str
    kafka_jars_dir: str
    registry_dir: str
    kafka_controller_port: int = 9093
    start_timeout_seconds: float = 120.0


@dataclass(frozen=True)
class PipelineConfig:
    concurrent: bool = True


@dataclass(frozen=True)
class MaintenanceConfig:
    optimize_days: int | None = None


@dataclass(frozen=True)
class Config:
    lake: LakeConfig
    checkpoints: CheckpointsConfig
    landing: LandingConfig
    reference: ReferenceConfig
    kafka: KafkaConfig
    schema_registry: SchemaRegistryConfig
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    maintenance: MaintenanceConfig = field(default_factory=MaintenanceConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    stack: StackConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (what ``config show`` prints)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def table_path(self, table: Any) -> str:
        """Path of a lake table (an :class:`advertisex.tables.Table`, or its name such as
        ``"gold/campaign_daily"``)."""
        return join_path(self.lake.root, getattr(table, "name", table))

    def checkpoint_path(self, job: str, query: str) -> str:
        """The one checkpoint folder of ``query`` in ``job``: ``{checkpoints.root}/{job}/{query}``."""
        return join_path(self.checkpoints.root, job, query)


# Keys whose values are filesystem paths (resolved against the project root when relative).
PATH_KEYS = (
    "lake.root",
    "checkpoints.root",
    "landing.impressions",
    "landing.clicks",
    "reference.campaigns",
    "reference.users",
    "spark.jars_dir",
    "stack.run_dir",
    "stack.kafka_jars_dir",
    "stack.registry_dir",
)


def folder_overrides(folder: str | os.PathLike[str]) -> list[str]:
    """``--set`` overrides that put the lake, checkpoints, landing and reference files of a
    run under one ``folder`` (tests, benchmarks, throw-away experiments)."""
    root = Path(folder)
    return [
        f"lake.root={root / 'lake'}",
        f"checkpoints.root={root / 'checkpoints'}",
        f"landing.impressions={root / 'landing' / 'impressions'}",
        f"landing.clicks={root / 'landing' / 'clicks'}",
        f"reference.campaigns={root / 'reference' / 'campaigns.csv'}",
        f"reference.users={root / 'reference' / 'users.csv'}",
    ]


def join_path(base: str, *parts: str) -> str:
    """Join path segments for local paths and URIs (``s3a://b/x``) alike."""
    out = base.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


# --------------------------------------------------------------------------- loading


def project_root() -> Path:
    """The folder holding ``conf/``: ``$ADVERTISEX_HOME``, else the source checkout, else cwd."""
    env = os.environ.get("ADVERTISEX_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "conf" / "base.yaml").is_file():
            return parent
    return Path.cwd()


def default_conf_dir() -> Path:
    return project_root() / "conf"


def _packaged_base() -> Path | None:
    """``base.yaml`` shipped inside ``dist/advertisex.zip`` (``make package``), for a
    spark-submit driver that has the package but not the repository's ``conf/``."""
    from importlib import resources

    try:
        candidate = resources.files("advertisex") / "_conf" / "base.yaml"
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    if not candidate.is_file():
        return None
    with resources.as_file(candidate) as real:
        return Path(real)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _scalar(text: str) -> Any:
    """Read an override given as text as a YAML scalar (``42``, ``true``, ``null``, ``a,b``)."""
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    parts = dotted.split(".")
    if parts[:2] == ["spark", "conf"] and len(parts) > 2:
        # `spark.conf` maps Spark's own dotted keys: `spark.conf.spark.sql.x=1` sets "spark.sql.x".
        parts = [*parts[:2], ".".join(parts[2:])]
    if not all(parts):
        raise ConfigError(f"bad config key {dotted!r} ({origin})")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            key = ".".join(parts[: i + 1])
            raise ConfigError(f"config key {key!r} is a value, not a section ({origin})")
        node = child
    node[parts[-1]] = value


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key != "conf":
            out[key] = _deep_merge(out[key], value)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def env_overrides(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """``ADVERTISEX__LAKE__ROOT=/x`` → ``("lake.root", "/x")``.

    A part written in capitals is lower-cased (project keys are lower case); any other part
    keeps its case, so Spark's camel-case keys can be named:
    ``ADVERTISEX__SPARK__CONF__SPARK__SQL__FILES__minPartitionNum`` →
    ``spark.conf.spark.sql.files.minPartitionNum``.
    """
    pairs = []
    for name, value in sorted(environ.items()):
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            dotted = ".".join(p.lower() if p.isupper() else p for p in name[len(ENV_PREFIX) :].split("__"))
            pairs.append((dotted, value))
    return pairs


def parse_set_args(items: Iterable[str]) -> list[tuple[str, str]]:
    """``["a.b=1"]`` → ``[("a.b", "1")]``; a missing ``=`` is an error."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects dotted.key=value, got {item!r}")
        pairs.append((key.strip(), value))
    return pairs


def load_config(
    config_file: str | os.PathLike[str] | None = None,
    overrides: Iterable[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
    conf_dir: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Config:
    """Load and validate the effective configuration.

    Args:
        config_file: the overlay file; ``None`` means ``conf/local.yaml``.
        overrides: ``dotted.key=value`` strings, as given to ``--set``.
        environ: environment to read ``ADVERTISEX__*`` from (default ``os.environ``).
        conf_dir: folder holding ``base.yaml`` (default: the project's ``conf/``).
        root: folder relative paths are resolved against (default: parent of ``conf_dir``).

    Returns:
        The frozen :class:`Config`.

    Raises:
        ConfigError: unreadable file, unknown key or wrong type; the message names the key.
    """
    environ = os.environ if environ is None else environ
    conf = Path(conf_dir) if conf_dir is not None else default_conf_dir()
    base_file = conf / "base.yaml"
    if conf_dir is None and not base_file.is_file():
        base_file = _packaged_base() or base_file
    tree = _read_yaml(base_file)
    overlay = Path(config_file) if config_file is not None else conf / "local.yaml"
    if config_file is not None or overlay.is_file():
        tree = _deep_merge(tree, _read_yaml(overlay))
    for key, text in env_overrides(environ):
        _set_dotted(tree, key, _scalar(text), f"environment {ENV_PREFIX}{key.upper().replace('.', '__')}")
    for key, text in parse_set_args(overrides):
        _set_dotted(tree, key, _scalar(text), "--set")
    cfg = _build(Config, tree, "")
    base = Path(root) if root is not None else conf.resolve().parent
    return _resolve_paths(cfg, base)


def _resolve_paths(cfg: Config, base: Path) -> Config:
    tree = cfg.to_dict()
    for dotted in PATH_KEYS:
        section, key = dotted.split(".")
        if tree.get(section) is None:
            continue
        value = tree[section][key]
        if value and "://" not in value and not os.path.isabs(value):
            tree[section][key] = str((base / value).resolve())
    return _build(Config, tree, "")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"config key {key!r}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r} must be a section (mapping), got {value!r}")
        return _build(tp, value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r} must be a mapping, got {value!r}")
        return {str(k): ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"config key {key!r} must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. a port-only value or a numeric topic name
        raise ConfigError(f"config key {key!r} must be a string, got {value!r}")
    raise ConfigError(f"config key {key!r}: unsupported type {_type_name(tp)}")


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(f"unknown config key {dotted!r}")
    kwargs = {}
    for name, fdef in fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], dotted)
        elif fdef.default is dataclasses.MISSING and fdef.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing config key {dotted!r}")
    return cls(**kwargs)
