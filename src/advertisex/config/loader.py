"""Loading the configuration: YAML files, then environment, then ``--set`` overrides.

Precedence, lowest first (docs/CONTRACT.md §4):

1. ``conf/base.yaml``
2. one overlay file (``--config FILE``; default ``conf/local.yaml``)
3. environment variables ``ADVERTISEX__SECTION__KEY=value`` (``ADVERTISEX__LAKE__ROOT``
   overrides ``lake.root``)
4. ``--set dotted.key=value`` arguments

Values given as text (environment, ``--set``) are read as YAML scalars, so ``true``,
``42`` and ``null`` get their natural types before validation. The merged tree is checked
against the models of :mod:`advertisex.config.model`: an unknown key or a value of the
wrong type raises :class:`ConfigError` naming the dotted key. Relative paths are then
resolved against the project root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from advertisex.config.model import PATH_KEYS, Config, ConfigError
from advertisex.config.validation import validate

ENV_PREFIX = "ADVERTISEX__"


def folder_overrides(folder: str | os.PathLike[str]) -> list[str]:
    """``--set`` overrides that put the lake, checkpoints, landing and reference files and the
    quality reports (Data Docs, GX validation results) of a run under one folder (tests,
    benchmarks, throw-away experiments).

    Args:
        folder: the folder to hold everything of the run.

    Returns:
        ``dotted.key=value`` strings for :func:`load_config`'s ``overrides``.
    """
    root = Path(folder)
    return [
        f"lake.root={root / 'lake'}",
        f"checkpoints.root={root / 'checkpoints'}",
        f"landing.impressions={root / 'landing' / 'impressions'}",
        f"landing.clicks={root / 'landing' / 'clicks'}",
        f"reference.campaigns={root / 'reference' / 'campaigns.csv'}",
        f"reference.users={root / 'reference' / 'users.csv'}",
        f"quality.data_docs_dir={root / 'quality' / 'data_docs'}",
        f"quality.validations_dir={root / 'quality' / 'validations'}",
    ]


def project_root() -> Path:
    """The folder holding ``conf/``.

    Returns:
        ``$ADVERTISEX_HOME`` when set, else the source checkout this package runs from,
        else the current directory.
    """
    env = os.environ.get("ADVERTISEX_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "conf" / "base.yaml").is_file():
            return parent
    return Path.cwd()


def default_conf_dir() -> Path:
    """The folder holding ``base.yaml`` and the overlays.

    Returns:
        ``{project_root()}/conf``.
    """
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
    """The mapping a configuration file holds (an empty file holds none)."""
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
    """Set ``a.b.c`` in the nested ``tree``, creating the sections on the way."""
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
    """``over`` laid on ``base`` section by section; ``spark.conf`` merges one level only,
    as its keys are Spark's own (dotted) names, not sections."""
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

    Args:
        environ: the environment (names to values).

    Returns:
        ``(dotted key, text)`` pairs, in the order of the sorted variable names.
    """
    pairs = []
    for name, value in sorted(environ.items()):
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            dotted = ".".join(p.lower() if p.isupper() else p for p in name[len(ENV_PREFIX) :].split("__"))
            pairs.append((dotted, value))
    return pairs


def parse_set_args(items: Iterable[str]) -> list[tuple[str, str]]:
    """``["a.b=1"]`` → ``[("a.b", "1")]``.

    Args:
        items: ``dotted.key=value`` strings, as given to ``--set``.

    Returns:
        ``(dotted key, text)`` pairs, in the given order.

    Raises:
        ConfigError: an item without ``=`` or without a key.
    """
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
    cfg = validate(tree)
    base = Path(root) if root is not None else conf.resolve().parent
    return _resolve_paths(cfg, base)


def _resolve_paths(cfg: Config, base: Path) -> Config:
    """``cfg`` with each relative path of :data:`PATH_KEYS` made absolute under ``base``
    (URIs such as ``s3a://b/x`` and empty values are left alone)."""
    sections: dict[str, Any] = {}
    for dotted in PATH_KEYS:
        name, key = dotted.split(".")
        section = sections.get(name, getattr(cfg, name))
        if section is None:
            continue  # an optional section left out (`stack: null`)
        value = getattr(section, key)
        if value and "://" not in value and not os.path.isabs(value):
            sections[name] = section.model_copy(update={key: str((base / value).resolve())})
    return cfg.model_copy(update=sections)
