"""Reading YAML with the line of every mapping key, for messages that point at the line."""

from __future__ import annotations

from typing import Any

import yaml

from himo.errors import PipelineError
from himo.workspace import yamlload


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that remembers the 1-based line of each key."""

    lines: dict[Any, int]
    line: int


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> LineDict:
    _refuse_duplicate_keys(loader, node)
    mapping = LineDict(yaml.SafeLoader.construct_mapping(loader, node, deep=True))
    mapping.lines = {loader.construct_object(k): k.start_mark.line + 1 for k, _ in node.value}
    mapping.line = node.start_mark.line + 1
    return mapping


def _refuse_duplicate_keys(loader: Any, node: yaml.MappingNode) -> None:
    """YAML keeps the last of two equal keys silently; in himo.yaml that hides a stage."""
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (dict, list)) and first.setdefault(key, line) != line:
            raise _DuplicateKey(f"duplicate key {key!r} (also on line {first[key]})", line)


class _DuplicateKey(Exception):
    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.problem, self.line = problem, line


# Bounded like every YAML himo reads (workspace.yamlload), with the line of every key.
_LINE_LOADERS = yamlload.loader_pair("Line")
for _loader in _LINE_LOADERS:
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_lines(text: str, name: str) -> Any:
    """Parse YAML; PipelineError with the line number on bad syntax."""
    try:
        return yamlload.load(text, _LINE_LOADERS)
    except _DuplicateKey as exc:  # himo's own signal: the message says all it says
        raise PipelineError(f"{name}:{exc.line}: {exc.problem}",
                            f"remove or rename one of them in {name}") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{name}{_syntax_problem(exc)}", _syntax_hint(exc, text, name)) from exc


def _syntax_hint(exc: yaml.YAMLError, text: str, name: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    lines = text.splitlines()
    line = lines[mark.line] if mark and mark.line < len(lines) else ""
    if "${" in line and ("[" in line or "{" in line.replace("${", "")):
        return ("inside [...] or {...}, YAML reads '{' as a mapping: quote the value ('${x}.txt')"
                " or write one item per line (- ${x}.txt)")
    return f"fix the syntax of {name}"


def _syntax_problem(exc: yaml.YAMLError) -> str:
    """`:LINE: invalid YAML: problem (while ... on line N)` from a yaml error."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    text = f"{f':{line}' if line else ''}: invalid YAML: {getattr(exc, 'problem', None) or 'bad syntax'}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark and context_mark.line + 1 != line:
        text += f" ({context} that starts on line {context_mark.line + 1})"
    return text


def line_of(mapping: Any, key: Any) -> int:
    return getattr(mapping, "lines", {}).get(key, getattr(mapping, "line", 0))
