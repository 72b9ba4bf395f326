"""Parameter files (YAML, JSON, TOML) and dotted keys into them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

from himo.errors import PipelineError
from himo.pipeline.textfile import read_text
from himo.workspace import yamlload

DEFAULT_PARAMS = "params.yaml"
MAX_NESTING = 100  # as for YAML (workspace.yamlload): deeper values overflow what walks them
METRICS_MAX_BYTES = 1024 * 1024  # metrics files are small: a bigger one is cut here (and fails to parse)


def parse_params_text(text: str, name: str) -> dict[str, Any]:
    """Parse the text of a params file, chosen by its extension."""
    data = parse_document(text, name, "{}")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise PipelineError(f"{name}: expected a mapping of parameters at the top level", f"fix {name}")
    return string_keys(data, name)


def parse_document(text: str, name: str, empty: str = "null") -> Any:
    """The value in the text of a JSON, TOML or YAML file (by the extension of `name`), whatever
    its shape (`empty`: what an empty JSON file means); PipelineError naming the file and line."""
    try:
        if name.endswith(".json"):
            return json.loads(text or empty)
        if name.endswith(".toml"):
            return tomllib.loads(text)
        return yamlload.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(f"{where}: cannot parse: {problem}", f"fix {name}") from exc
    except Exception as exc:  # json and toml errors name the line themselves
        raise PipelineError(f"{name}: cannot parse: {str(exc).splitlines()[0]}", f"fix {name}") from exc


def string_keys(value: Any, name: str, where: str = "", depth: int = 0) -> Any:
    """`value` with every mapping key a string, as dotted keys name them (`1: x` is `a.1`):
    YAML keys may be numbers, booleans or null, and a mapping that mixes them with strings cannot
    be sorted (run keys, records). Two keys that become the same string are refused."""
    if depth > MAX_NESTING:
        raise PipelineError(f"{name}: {where or 'the document'} is nested deeper than {MAX_NESTING} levels",
                            f"fix {name}")
    if isinstance(value, list):
        return [string_keys(v, name, _dotted(where, str(i)), depth + 1) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    converted: dict[str, Any] = {}
    spelled: dict[str, Any] = {}
    for key, item in value.items():
        text = _key_text(key)
        if text in spelled:
            raise PipelineError(f"{name}: key {_dotted(where, text)!r} is written twice"
                                f" ({spelled[text]!r} and {key!r})", f"fix {name}: keep one of them")
        spelled[text] = key
        converted[text] = string_keys(item, name, _dotted(where, text), depth + 1)
    return converted


def _dotted(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _key_text(key: Any) -> str:
    """A key as its dotted name: YAML's own spelling for booleans and null, str() otherwise."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def load_params_file(path: Path, name: str) -> dict[str, Any]:
    try:
        return parse_params_text(read_text(path, name, f"fix {name}"), name)
    except FileNotFoundError as exc:
        raise PipelineError(f"{name}: params file not found", f"create {name}") from exc


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
