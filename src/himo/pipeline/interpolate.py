"""`${...}` interpolation in himo.yaml, as in dvc.yaml.

A whole-string `${x}` keeps x's type (a list stays a list); inside a longer string the value
is formatted. Names resolve against a context: `vars`, params.yaml, and `item`/`key` of
`foreach` / `matrix`.
"""

from __future__ import annotations

import re
from typing import Any

from himo.pipeline.params import lookup

PATTERN = re.compile(r"\$\{\s*([A-Za-z_][\w.\-]*)\s*\}")


class Unresolved(Exception):
    """`${name}` names nothing in the context."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def resolve(value: Any, context: dict[str, Any]) -> Any:
    """`value` with every `${...}` replaced, recursively through lists and mappings."""
    if isinstance(value, str):
        return _resolve_str(value, context)
    if isinstance(value, list):
        return [resolve(v, context) for v in value]
    if isinstance(value, dict):
        return {resolve(k, context): resolve(v, context) for k, v in value.items()}
    return value


def _resolve_str(text: str, context: dict[str, Any]) -> Any:
    whole = PATTERN.fullmatch(text)
    if whole:
        return _value(whole.group(1), context)
    return PATTERN.sub(lambda m: _format(_value(m.group(1), context)), text)


def _value(name: str, context: dict[str, Any]) -> Any:
    try:
        return lookup(context, name)
    except KeyError:
        raise Unresolved(name) from None


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise TypeError("a mapping or list cannot be embedded in a longer string")
    return str(value)
