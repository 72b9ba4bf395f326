"""Parameter files (YAML, JSON, TOML) and dotted keys into them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

from himo.errors import PipelineError
from himo.workspace import yamlload

DEFAULT_PARAMS = "params.yaml"
METRICS_MAX_BYTES = 1024 * 1024  # metrics files are small: a bigger one is cut here (and fails to parse)


def parse_params_text(text: str, name: str) -> dict[str, Any]:
    """Parse the text of a params file, chosen by its extension."""
    try:
        if name.endswith(".json"):
            data = json.loads(text or "{}")
        elif name.endswith(".toml"):
            data = tomllib.loads(text)
        else:
            data = yamlload.load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(f"{where}: cannot parse: {problem}", f"fix {name}") from None
    except Exception as exc:  # json and toml errors name the line themselves
        raise PipelineError(f"{name}: cannot parse: {str(exc).splitlines()[0]}", f"fix {name}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{name}: expected a mapping of parameters at the top level", f"fix {name}")
    return data


def load_params_file(path: Path, name: str) -> dict[str, Any]:
    try:
        return parse_params_text(path.read_text(encoding="utf-8"), name)
    except FileNotFoundError:
        raise PipelineError(f"{name}: params file not found", f"create {name}") from None


def lookup(data: dict[str, Any], key: str) -> Any:
    """The value at dotted `key` (`train.lr`, `layers.0.size`), or KeyError."""
    node: Any = data
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(key)
    return node


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a.b": 1, ...} for every leaf of a nested mapping."""
    if not isinstance(data, dict) or not data:
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def read_metrics(path: str | Path, name: str) -> dict[str, Any] | None:
    """{dotted key: value} of a metrics file at `path` (JSON, YAML or TOML, by the extension of
    `name`); None if it cannot be read or parsed. One flattening for the dashboard and the store."""
    try:
        with open(path, "rb") as f:
            text = f.read(METRICS_MAX_BYTES).decode("utf-8", errors="replace")
        return flatten(parse_params_text(text, name))
    except (OSError, PipelineError):
        return None
