"""Validation of a merged configuration tree against :class:`~advertisex.config.model.Config`:
the first wrong key, in reading order, named in one line."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from advertisex.config.model import Config, ConfigError

# What a value of the wrong type is told, by pydantic's error type.
_WRONG_TYPE = {
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "model_type": "must be a section (mapping)",
    "dict_type": "must be a mapping",
}


def validate(tree: Mapping[str, Any]) -> Config:
    """Check a merged configuration tree against :class:`Config`.

    Args:
        tree: nested mappings, as read from YAML and overrides.

    Returns:
        The frozen :class:`Config`.

    Raises:
        ConfigError: one line naming the first wrong key (unknown, missing or mistyped).
    """
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        first = min(exc.errors(), key=lambda err: _check_order(err, tree))
        raise ConfigError(_message(first)) from None


def _message(err: ErrorDetails) -> str:
    key = ".".join(str(part) for part in err["loc"])
    if err["type"] in ("extra_forbidden", "invalid_key"):  # invalid_key: a YAML key that is no string
        return f"unknown config key {key!r}"
    if err["type"] == "missing":
        return f"missing config key {key!r}"
    wrong = _WRONG_TYPE.get(err["type"])
    if wrong is None:
        return f"config key {key!r}: {err['msg']}"
    return f"config key {key!r} {wrong}, got {err['input']!r}"


def _check_order(err: ErrorDetails, tree: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    """Where ``err`` stands in a reading of the tree section by section, depth first: in each
    section its unknown keys (as written) come before its own keys (as declared).

    Pydantic reports every error; the one reported is the first in that order, so that a
    file with several mistakes names the same one whatever pydantic's own order.
    """
    model: type[BaseModel] | None = Config
    node: Any = tree
    order = []
    for part in err["loc"]:
        if model is None:
            break  # below a value that holds no section (inside `spark.conf`)
        names = list(model.model_fields)
        if part not in model.model_fields:
            written = list(node) if isinstance(node, Mapping) else []
            order.append((0, written.index(part) if part in written else 0))
            break
        order.append((1, names.index(part)))
        model = _section_model(model.model_fields[part].annotation)
        node = node.get(part) if isinstance(node, Mapping) else None
    return tuple(order)


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds (``StackConfig`` for ``StackConfig | None``), if any."""
    for tp in (annotation, *typing.get_args(annotation)):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
    return None
