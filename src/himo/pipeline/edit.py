"""Writing stages into himo.yaml while keeping the file's comments and order (ruamel.yaml)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from himo.errors import PipelineError
from himo.pipeline.loader import PIPELINE_FILE
from himo.pipeline.textfile import read_text
from himo.pipeline.yamlfile import load_yaml_lines

_KEY = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")  # `key:` opening a nested block
_ITEM = re.compile(r"^( *)- ")


def _yaml(text: str) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    mapping, offset = _indents(text)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return yaml


def _indents(text: str) -> tuple[int, int]:
    """The file's own (mapping indent, offset of `-` under its key); (2, 2) when it has none.

    ruamel.yaml writes the whole file with one style: take the user's, so only the new stage differs.
    """
    mapping = offset = None
    key_indent = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        item = _ITEM.match(line)
        if key_indent is not None and item and offset is None:
            offset = indent - key_indent
        elif key_indent is not None and not item and mapping is None and indent > key_indent:
            mapping = indent - key_indent
        key_indent = indent if _KEY.match(line) else None
    return mapping or 2, 2 if offset is None or offset < 0 else offset


def with_stage(root: Path, name: str, body: dict[str, Any], force: bool) -> str:
    """himo.yaml's new text with stage `name` set to `body` (not written yet)."""
    from ruamel.yaml.comments import CommentedMap

    path = root / PIPELINE_FILE
    text, tail = _split_tail(read_text(path, PIPELINE_FILE, f"fix {PIPELINE_FILE}") if path.exists() else "")
    parsed = load_yaml_lines(text, PIPELINE_FILE)  # our errors, with line numbers, before ruamel's
    if parsed is not None and not isinstance(parsed, dict):
        raise _not_stages("himo.yaml:1: expected a mapping with a 'stages' key")
    if parsed and parsed.get("stages") is not None and not isinstance(parsed["stages"], dict):
        raise _not_stages(f"himo.yaml:{parsed.lines['stages']}: 'stages' must be a mapping of name: stage")
    yaml = _yaml(text)
    doc = yaml.load(text) if parsed is not None else None
    if doc is None:
        doc = CommentedMap()
    if doc.get("stages") is None:
        doc["stages"] = CommentedMap()
    stages = doc["stages"]
    if name in stages and not force:
        raise PipelineError(f"stage '{name}' already exists in {PIPELINE_FILE}",
                            "use -f to overwrite it, or choose another name with -n")
    stages[name] = CommentedMap(body)
    out = io.StringIO()
    yaml.dump(doc, out)
    head = _keep_leading_comments(text) if parsed is None else ""
    return head + out.getvalue() + tail


def without_stages(root: Path, names: list[str]) -> str:
    """himo.yaml's new text without the stages `names` (not written yet); the rest, comments
    included, as it was. PipelineError naming a stage himo.yaml does not define."""
    path = root / PIPELINE_FILE
    text = read_text(path, PIPELINE_FILE, f"fix {PIPELINE_FILE}") if path.exists() else ""
    parsed = load_yaml_lines(text, PIPELINE_FILE) if text else None
    stages = parsed.get("stages") if isinstance(parsed, dict) else None
    missing = [n for n in names if not isinstance(stages, dict) or n not in stages]
    if missing:
        known = ", ".join(map(str, stages)) if isinstance(stages, dict) and stages else "none"
        raise PipelineError(f"no stage named {missing[0]!r} in {PIPELINE_FILE} (stages: {known})",
                            "see `himo stage list` for the stage names")
    text, tail = _split_tail(text)
    yaml = _yaml(text)
    doc = yaml.load(text)
    for name in names:
        del doc["stages"][name]
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue() + tail


def _split_tail(text: str) -> tuple[str, str]:
    """(text, comments at its end): unindented comments closing the file stay at its end.

    ruamel.yaml attaches them to the last stage, so a new stage would land below them.
    """
    lines = text.splitlines(keepends=True)
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    if end == 0 or end == len(lines):
        return text, ""
    return "".join(lines[:end]), "".join(lines[end:])


def _not_stages(message: str) -> PipelineError:
    return PipelineError(message, f"fix {PIPELINE_FILE}, then add the stage again")


def _keep_leading_comments(text: str) -> str:
    """A himo.yaml of comments only loads as nothing: keep its text above the new stages."""
    return text if not text.strip() or text.endswith("\n") else text + "\n"
