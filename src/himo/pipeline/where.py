"""Places in himo.yaml for messages, and the checks every section of it shares (keys, types, paths)."""

from __future__ import annotations

import difflib
import posixpath
from pathlib import Path
from typing import Any

from himo.errors import PipelineError
from himo.model.paths import name_problem
from himo.pipeline.yamlfile import line_of

PIPELINE_FILE = "himo.yaml"


class Where:
    """The place in himo.yaml a message is about."""

    def __init__(self, file: str, line: int, stage: str | None = None) -> None:
        self.file, self.line, self.stage = file, line, stage

    def at(self, mapping: Any, key: Any) -> Where:
        """The line of `key` in `mapping` (this place's line if unknown)."""
        return Where(self.file, line_of(mapping, key) or self.line, self.stage)

    def error(self, problem: str, hint: str = "") -> PipelineError:
        # A name from YAML may hold a line break: escaped, so the message stays on one line.
        shown = self.stage if self.stage is None or self.stage.isprintable() else repr(self.stage)[1:-1]
        stage = f" stage '{shown}':" if self.stage else ""
        return PipelineError(f"{self.file}:{self.line}:{stage} {problem}", hint or f"fix {self.file}")


def repo_path(root: Path, wdir: str, path: str, where: Where, field: str) -> str:
    """`path` (relative to wdir) as a repository-relative POSIX path; error if it escapes."""
    joined = posixpath.normpath(posixpath.join(wdir, path))  # on the hot path: no pathlib
    if path.startswith("/") or joined == ".." or joined.startswith("../"):
        raise where.error(f"{field}: {path!r} is outside the repository",
                          "pipelines read and write inside the repository only")
    problem = name_problem(joined)
    if problem is not None:  # it could not be written into himo.lock, a pointer or .gitignore
        raise where.error(f"{field}: {path!r} {problem}", "rename it")
    return joined


def check_keys(mapping: dict[str, Any], allowed: tuple[str, ...], where: Where, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid: {', '.join(allowed)}"
            raise where.at(mapping, key).error(f"unknown {what} {key!r}", hint)


def check_bool(body: dict[str, Any], key: str, where: Where, default: bool = False, field: str = "") -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise where.at(body, key).error(f"{field}'{key}' must be true or false")
    return value


def check_str(body: dict[str, Any], key: str, where: Where, field: str = "") -> str | None:
    """body[key], a string, or None when absent."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise where.at(body, key).error(f"{field}'{key}' must be a string, not {type_name(value)}")
    return value


def check_str_list(body: dict[str, Any], key: str, where: Where, field: str = "") -> tuple[str, ...]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.at(body, key).error(f"{field}'{key}' must be a list of strings")
    return tuple(value)


def type_name(value: Any) -> str:
    """How a YAML reader names the type of `value`."""
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", type(None): "null"}
    return "a mapping" if isinstance(value, dict) else names.get(type(value), type(value).__name__)
