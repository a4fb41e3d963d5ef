"""Typed configuration: YAML files + environment + ``--set`` overrides.

:mod:`advertisex.config.model` holds the sections (frozen pydantic models),
:mod:`advertisex.config.validation` checks a tree against them; :mod:`advertisex.config.loader` reads the files, the environment and the
overrides and resolves relative paths. Everything public is importable from here::

    from advertisex.config import Config, load_config
"""

from __future__ import annotations

from advertisex.config.loader import (
    ENV_PREFIX,
    default_conf_dir,
    env_overrides,
    folder_overrides,
    load_config,
    parse_set_args,
    project_root,
)
from advertisex.config.model import (
    PATH_KEYS,
    AlertingConfig,
    AttributionConfig,
    CheckpointsConfig,
    Config,
    ConfigError,
    EmailConfig,
    KafkaConfig,
    LakeConfig,
    LandingConfig,
    MaintenanceConfig,
    MonitoringConfig,
    PipelineConfig,
    QualityConfig,
    ReferenceConfig,
    SchemaRegistryConfig,
    SlackConfig,
    SparkConfig,
    StackConfig,
    StreamingConfig,
    TopicsConfig,
    WebhookConfig,
    join_path,
)

__all__ = [
    "ENV_PREFIX",
    "PATH_KEYS",
    "AlertingConfig",
    "AttributionConfig",
    "CheckpointsConfig",
    "Config",
    "ConfigError",
    "EmailConfig",
    "KafkaConfig",
    "LakeConfig",
    "LandingConfig",
    "MaintenanceConfig",
    "MonitoringConfig",
    "PipelineConfig",
    "QualityConfig",
    "ReferenceConfig",
    "SchemaRegistryConfig",
    "SlackConfig",
    "SparkConfig",
    "StackConfig",
    "StreamingConfig",
    "TopicsConfig",
    "WebhookConfig",
    "default_conf_dir",
    "env_overrides",
    "folder_overrides",
    "join_path",
    "load_config",
    "parse_set_args",
    "project_root",
]
