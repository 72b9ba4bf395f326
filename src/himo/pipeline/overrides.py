"""Parameter overrides, `-S [FILE:]KEY=VALUE` (DVC's syntax), and sweeps over them.

    train.alpha=0.5                 params.yaml's train.alpha becomes 0.5 (values are YAML)
    conf/model.yaml:depth=3         the key of another params file
    +train.new=1                    a key the file does not have yet ('+' adds it)
    train.alpha=0.1,0.5,1.0         a sweep: one experiment per value (commas at the top level;
                                    '[1,2]' and '"a,b"' are one value each)

Several sweeps give their cartesian product. An override of a key the file lacks (without '+'),
a file outside the repository or missing, or a path into a value that is not a mapping, is
refused with the file and key named, before anything runs.
"""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from himo.errors import PipelineError
from himo.model.paths import path_problem
from himo.pipeline.params import DEFAULT_PARAMS
from himo.pipeline.textfile import read_text
from himo.workspace import yamlload
from himo.workspace.atomic import write_text_atomic

HINT = "write -S [FILE:]KEY=VALUE, e.g. -S train.alpha=0.5 or -S params.yaml:train.alpha=0.5"


@dataclass(frozen=True)
class Override:
    file: str  # params file, repository-relative (params.yaml unless named)
    key: str  # dotted key in it: `train.alpha`, `layers.0.size`
    value: Any  # the new value, parsed as YAML
    add: bool = False  # written `+key=...`: the key may be new

    @property
    def text(self) -> str:
        """As the user would write it (the value as YAML flow), for records and names."""
        return f"{'+' if self.add else ''}{self.file}:{self.key}={dump_value(self.value)}"


def dump_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip().removesuffix("\n...")


def parse(text: str) -> list[Override]:
    """The overrides one `-S` asks for: one, or one per value of a sweep; PipelineError if malformed."""
    key_part, eq, value_part = text.partition("=")
    if not eq:
        raise PipelineError(f"-S {text!r}: no '=' between the key and the value", HINT)
    add = key_part.startswith("+")
    file, colon, key = key_part.removeprefix("+").rpartition(":")
    file = file if colon else DEFAULT_PARAMS
    if not key or any(not part for part in key.split(".")):
        raise PipelineError(f"-S {text!r}: {key!r} is not a dotted key", HINT)
    problem = path_problem(file)
    if problem:
        raise PipelineError(f"-S {text!r}: the params file {file!r} {problem}",
                            "name a params file inside the repository, relative to its root")
    return [Override(file, key, _value(text, v), add) for v in split_sweep(value_part)]


def _value(text: str, raw: str) -> Any:
    try:
        return yamlload.load(raw)
    except yaml.YAMLError as exc:
        raise PipelineError(f"-S {text!r}: the value {raw!r} is not YAML: {str(exc).splitlines()[0]}",
                            "quote a string value, e.g. -S 'model=\"a: b\"'") from exc


def split_sweep(value: str) -> list[str]:
    """`value` cut at the commas outside brackets and quotes; one part if it has none."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(value):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return [p.strip() for p in parts]


def sweep(texts: list[str]) -> list[list[Override]]:
    """The runs `-S texts` ask for: the cartesian product of every override's values (one run
    with no overrides when there are none); a later override of the same key wins."""
    choices = [parse(text) for text in texts]
    return [list({(o.file, o.key): o for o in combo}.values()) for combo in itertools.product(*choices)]


def apply(root: Path, overrides: list[Override], write: bool = True) -> dict[str, dict[str, Any]]:
    """Set the overrides in the params files under `root` (with write=False: only check them).
    Returns {file: {key: value}} of what was set; PipelineError naming the file and key if one
    cannot be (a missing file or key, a key inside a value that is not a mapping)."""
    by_file: dict[str, list[Override]] = {}
    for override in overrides:
        by_file.setdefault(override.file, []).append(override)
    for file, items in by_file.items():
        path = root / file
        try:
            text = read_text(path, file, f"fix {file}")
        except FileNotFoundError:
            raise PipelineError(f"-S {items[0].text}: the params file {file} does not exist",
                                f"create {file}, or name another file: -S FILE:KEY=VALUE") from None
        data = _load(text, file)
        for override in items:
            _set(data, override)
        if write:
            write_text_atomic(path, _dump(data, file))
    return {file: {o.key: o.value for o in items} for file, items in by_file.items()}


def _load(text: str, file: str) -> Any:
    if file.endswith(".json"):
        return json.loads(text or "{}")
    if file.endswith(".toml"):
        import tomllib

        return tomllib.loads(text)
    from ruamel.yaml import YAML

    try:
        data = YAML().load(text)  # round trip: the file keeps its comments and order
    except Exception as exc:  # ruamel's errors have no common base worth naming
        raise PipelineError(f"{file}: cannot parse: {str(exc).splitlines()[0]}", f"fix {file}") from exc
    return {} if data is None else data


def _dump(data: Any, file: str) -> str:
    if file.endswith(".json"):
        return json.dumps(data, indent=2) + "\n"
    if file.endswith(".toml"):
        import tomli_w

        return tomli_w.dumps(data)
    from ruamel.yaml import YAML

    out = io.StringIO()
    YAML().dump(data, out)
    return out.getvalue()


def _set(data: Any, override: Override) -> None:
    *parents, last = override.key.split(".")
    node = data
    for i, part in enumerate(parents):
        node = _child(node, part, override, ".".join(parents[: i + 1]))
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = override.value
        return
    if not isinstance(node, dict):
        raise PipelineError(f"-S {override.text}: {'.'.join(parents) or 'the top level'} in {override.file}"
                            " is not a mapping", f"check the key's spelling in {override.file}")
    if last not in node and not override.add:
        raise _missing(override)
    node[last] = override.value


def _child(node: Any, part: str, override: Override, where: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            if not override.add:
                raise _missing(override)
            node[part] = {}
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise PipelineError(f"-S {override.text}: {where} in {override.file} is not a mapping",
                        f"check the key's spelling in {override.file}")


def _missing(override: Override) -> PipelineError:
    return PipelineError(f"-S {override.text}: {override.file} has no key {override.key!r}",
                         f"check its spelling in {override.file}, or write -S +{override.file}:"
                         f"{override.key}=... to add it")
