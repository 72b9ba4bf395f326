"""Reading YAML with the line of every mapping key, for messages that point at the line."""

from __future__ import annotations

from typing import Any

import yaml

from himo.errors import PipelineError

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that remembers the 1-based line of each key."""

    lines: dict[Any, int]
    line: int


class _LineLoader(_Base):  # type: ignore[misc, valid-type]
    pass


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> LineDict:
    mapping = LineDict(yaml.SafeLoader.construct_mapping(loader, node, deep=True))
    mapping.lines = {loader.construct_object(k): k.start_mark.line + 1 for k, _ in node.value}
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_lines(text: str, name: str) -> Any:
    """Parse YAML; PipelineError with the line number on bad syntax."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "bad syntax"
        raise PipelineError(f"{name}{line}: invalid YAML: {problem}", f"fix the syntax of {name}") from None


def line_of(mapping: Any, key: Any) -> int:
    return getattr(mapping, "lines", {}).get(key, getattr(mapping, "line", 0))
