"""Writing stages into himo.yaml while keeping the file's comments and order (ruamel.yaml).

A stage is added, replaced or removed as lines of text where `stages:` is a block mapping (as
dvc.yaml and himo.yaml nearly always are): every other line stays as the user wrote it, even
where one file mixes styles (DVC's example project indents the items of `outs:` but not those
of its top-level `metrics:` and `plots:`, and ruamel.yaml writes a whole file in one style).
ruamel.yaml renders the new stage in the style of the stages around it, and writes the whole
file only where there is no such block (no stages yet, flow style)."""

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
    path = root / PIPELINE_FILE
    whole = read_text(path, PIPELINE_FILE, f"fix {PIPELINE_FILE}") if path.exists() else ""
    parsed = load_yaml_lines(whole, PIPELINE_FILE)  # our errors, with line numbers, before ruamel's
    if parsed is not None and not isinstance(parsed, dict):
        raise _not_stages("himo.yaml:1: expected a mapping with a 'stages' key")
    if parsed and parsed.get("stages") is not None and not isinstance(parsed["stages"], dict):
        raise _not_stages(f"himo.yaml:{parsed.lines['stages']}: 'stages' must be a mapping of name: stage")
    if parsed and isinstance(parsed.get("stages"), dict) and name in parsed["stages"] and not force:
        raise _exists(name)
    blocks = _StageBlocks.of(whole, parsed)
    if blocks is not None:
        return blocks.with_stage(name, body)
    return _with_stage_rewritten(whole, parsed, name, body)


def _exists(name: str) -> PipelineError:
    return PipelineError(f"stage '{name}' already exists in {PIPELINE_FILE}",
                         "use -f to overwrite it, or choose another name with -n")


def _with_stage_rewritten(whole: str, parsed: Any, name: str, body: dict[str, Any]) -> str:
    """with_stage by ruamel.yaml's round trip of the whole file (no block of stages to edit)."""
    from ruamel.yaml.comments import CommentedMap

    text, tail = _split_tail(whole)
    parsed = load_yaml_lines(text, PIPELINE_FILE)
    yaml = _yaml(text)
    doc = yaml.load(text) if parsed is not None else None
    if doc is None:
        doc = CommentedMap()
    if doc.get("stages") is None:
        doc["stages"] = CommentedMap()
    doc["stages"][name] = CommentedMap(body)
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
    blocks = _StageBlocks.of(text, parsed)
    if blocks is not None:
        return blocks.without(names)
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


class _StageBlocks:
    """himo.yaml's lines, and where each stage of its block-style `stages:` mapping lies."""

    def __init__(self, lines: list[str], key: int, spans: dict[str, tuple[int, int]], indent: int) -> None:
        self.lines = lines  # the file's lines, each with its line end
        self.key = key  # the index of the line of `stages:`
        self.spans = spans  # stage name -> [first, end) line indexes: its key, its body, its comments
        self.indent = indent  # the stages' keys' indentation

    @classmethod
    def of(cls, text: str, parsed: Any) -> _StageBlocks | None:
        """The stages of `text` (`parsed` by load_yaml_lines), or None if they are no block
        mapping with one key per line (then the whole file is rewritten)."""
        stages = parsed.get("stages") if isinstance(parsed, dict) else None
        if not isinstance(stages, dict) or not stages or not hasattr(stages, "lines"):
            return None
        lines = text.splitlines(keepends=True)
        starts = {name: line - 1 for name, line in stages.lines.items()}
        indents = {_indent(lines[i]) for i in starts.values()}
        if len(indents) != 1 or min(starts.values()) < parsed.lines["stages"] or any(
                not _is_key_line(lines[i], name) for name, i in starts.items()):
            return None
        (indent,) = indents
        order = sorted(starts.items(), key=lambda item: item[1])
        spans = {}
        for number, (name, first) in enumerate(order):
            limit = order[number + 1][1] if number + 1 < len(order) else len(lines)
            spans[str(name)] = (first, _block_end(lines, first, limit, indent))
        return cls(lines, parsed.lines["stages"] - 1, spans, indent)

    def without(self, names: list[str]) -> str:
        gone = {i for name in names for i in range(*self.spans[name])}
        lines = list(self.lines)
        if set(names) >= set(self.spans):  # none left: `stages: {}`, as `stages:` alone means null
            lines[self.key] = re.sub(r"^( *stages *:)", r"\1 {}", lines[self.key], count=1)
        return "".join(line for i, line in enumerate(lines) if i not in gone)

    def with_stage(self, name: str, body: dict[str, Any]) -> str:
        rendered = self._render(name, body)
        first, end = self.spans.get(name) or (self._end(), self._end())
        lines = self.lines[:first]
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        return "".join(lines) + rendered + "".join(self.lines[end:])

    def _end(self) -> int:
        return max(end for _, end in self.spans.values())

    def _render(self, name: str, body: dict[str, Any]) -> str:
        """`name: body` in the style of the stages block, indented as its keys are."""
        from ruamel.yaml.comments import CommentedMap

        first = min(start for start, _ in self.spans.values())
        block = "".join(self.lines[first:self._end()])
        has_lists = any(_ITEM.match(line) for line in self.lines[first:self._end()])
        yaml = _yaml(block if has_lists else "".join(self.lines))  # the stages' own style first
        out = io.StringIO()
        yaml.dump(CommentedMap({name: CommentedMap(body)}), out)
        pad = " " * self.indent
        return "".join(pad + line if line.strip() else line
                       for line in out.getvalue().splitlines(keepends=True))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_key_line(line: str, name: Any) -> bool:
    """Whether `line` opens the block of stage `name` (`name:`, quoted or not)."""
    pattern = rf"""^ *(?P<q>['"]?){re.escape(str(name))}(?P=q) *:(\s|$)"""
    return re.match(pattern, line) is not None


def _block_end(lines: list[str], first: int, limit: int, indent: int) -> int:
    """The end of the stage block opened on line `first`: before the next line at the stages'
    indentation or less (the next stage at `limit`, the next top-level key, the end), the blank
    lines and comments just above it left to what follows."""
    end = limit
    for i in range(first + 1, limit):
        text = lines[i].strip()
        if text and not text.startswith("#") and _indent(lines[i]) <= indent:
            end = i
            break
    while end > first + 1 and (not lines[end - 1].strip() or (
            lines[end - 1].lstrip().startswith("#") and _indent(lines[end - 1]) <= indent)):
        end -= 1
    return end
