"""`${...}` interpolation in himo.yaml, as in dvc.yaml.

A whole-string `${x}` keeps x's type (a list stays a list); inside a longer string the value
is formatted. Names resolve against a context: `vars`, params.yaml, and `item`/`key` of
`foreach` / `matrix`. `\\${...}` is left alone (as `${...}`), for the shell's own variables.
"""

from __future__ import annotations

import re
from typing import Any

from himo.pipeline.params import lookup
from himo.pipeline.yamlfile import LineDict

PATTERN = re.compile(r"(?<!\\)\$\{\s*([A-Za-z_][\w.\-]*)\s*\}")
ANY = re.compile(r"(?<!\\)\$\{[^}]*\}?")  # anything that looks like `${...}`, valid or not


class Unresolved(Exception):
    """`${name}` names nothing in the context."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Unusable(TypeError):
    """`${...}` that cannot be used where it is: bad syntax, or a mapping/list inside a string."""


def resolve(value: Any, context: dict[str, Any]) -> Any:
    """`value` with every `${...}` replaced, recursively through lists and mappings."""
    if isinstance(value, str):
        return _resolve_str(value, context)
    if isinstance(value, list):
        return [resolve(v, context) for v in value]
    if isinstance(value, dict):
        return _resolve_mapping(value, context)
    return value


def _resolve_mapping(value: dict[Any, Any], context: dict[str, Any]) -> dict[Any, Any]:
    """A resolved copy that still knows the line of each key (for messages)."""
    resolved = LineDict()
    resolved.lines = {}
    resolved.line = getattr(value, "line", 0)
    lines = getattr(value, "lines", {})
    for key, item in value.items():
        new_key = resolve(key, context)
        resolved[new_key] = resolve(item, context)
        resolved.lines[new_key] = lines.get(key, resolved.line)
    return resolved


def _resolve_str(text: str, context: dict[str, Any]) -> Any:
    if "${" not in text:
        return text
    whole = PATTERN.fullmatch(text)
    if whole:
        return _value(whole.group(1), context)
    bad = next((m.group(0) for m in ANY.finditer(text) if not PATTERN.fullmatch(m.group(0))), None)
    if bad is not None:
        raise Unusable(f"cannot parse {bad!r}: write ${{name}} or ${{a.b}}, or \\${{...}} for the shell")
    resolved = PATTERN.sub(lambda m: _format(m.group(1), _value(m.group(1), context)), text)
    return resolved.replace("\\${", "${")


def _value(name: str, context: dict[str, Any]) -> Any:
    try:
        return lookup(context, name)
    except KeyError:  # the missing name is the whole story, and Unresolved carries it
        raise Unresolved(name) from None


def _format(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise Unusable(f"${{{name}}} is a {'mapping' if isinstance(value, dict) else 'list'}:"
                       " it can only be a whole value, not part of a longer string")
    return str(value)
