"""himo.lock: for each stage that ran, the digests it read and wrote and the params it used.

    schema: '1'
    stages:
      train:
        cmd: [python train.py]
        deps:
        - {path: data/features, digest: 1f2e..., size: 1234, nfiles: 3}
        params:
          params.yaml: {train.lr: 0.1}
        outs:
        - {path: model.pkl, digest: 9a8b..., size: 5678}
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from himo.errors import PipelineError
from himo.model import is_digest
from himo.model.paths import INSIDE_GIT, path_problem
from himo.model.stage import DepState, LockEntry
from himo.pipeline.params import string_keys
from himo.pipeline.textfile import read_text
from himo.workspace import yamlload
from himo.workspace.atomic import write_text_atomic

LOCK_FILE = "himo.lock"
SCHEMA = "1"
RESTORE = f"restore it with `git checkout -- {LOCK_FILE}`, or delete it and run `himo repro`"


def read_lock(root: Path) -> dict[str, LockEntry]:
    try:
        return parse_lock(read_text(root / LOCK_FILE, LOCK_FILE, RESTORE))
    except FileNotFoundError:
        return {}


def parse_lock(text: str) -> dict[str, LockEntry]:
    """The entries of himo.lock's `text`, a new dict each call (callers change theirs)."""
    return dict(_parse_lock(text))


@functools.lru_cache(maxsize=1)
def _parse_lock(text: str) -> dict[str, LockEntry]:
    """Kept for the next call with the same text: `status` reads the lock twice (outputs as
    data, stages as stages), and parsing YAML is most of its time on a large pipeline. The
    entries are frozen; the dict is copied by parse_lock."""
    try:
        doc = yamlload.load(text) or {}
        if str(doc.get("schema", SCHEMA)) != SCHEMA:
            raise PipelineError(f"{LOCK_FILE}: schema {doc['schema']!r}, this himo reads {SCHEMA!r}",
                                "it was written by a newer himo: upgrade himo")
        return {name: _entry(body) for name, body in (doc.get("stages") or {}).items()}
    except (yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PipelineError(
            f"{LOCK_FILE}: unreadable: {_problem(exc)}",
            RESTORE,
        ) from exc


def _problem(exc: Exception) -> str:
    if isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        return f"invalid YAML{f' on line {mark.line + 1}' if mark else ''}: {getattr(exc, 'problem', '')}"
    if isinstance(exc, KeyError):
        return f"a stage lacks {exc.args[0]!r}"
    return str(exc) if isinstance(exc, ValueError) else f"unexpected structure ({type(exc).__name__})"


def _entry(body: dict[str, Any]) -> LockEntry:
    return LockEntry(
        cmd=tuple(body["cmd"]),
        deps=tuple(_dep(d) for d in body.get("deps") or []),
        params={str(f): string_keys(dict(v), LOCK_FILE) for f, v in (body.get("params") or {}).items()},
        outs=tuple(_dep(d) for d in body.get("outs") or []),
    )


def _dep(item: dict[str, Any]) -> DepState:
    digest = item.get("digest")
    if digest is not None and not is_digest(digest):
        raise ValueError(f"bad digest {digest!r}")
    nfiles = item.get("nfiles")
    if nfiles is not None and (type(nfiles) is not int or nfiles < 0):
        raise ValueError(f"bad nfiles {nfiles!r}")
    size = item.get("size", 0)
    if type(size) is not int or size < 0:
        raise ValueError(f"bad size {size!r}")
    return DepState(_path(item["path"]), digest, size, nfiles)


def _path(raw: Any) -> str:
    """A repository-relative path as himo.yaml's loader makes them: normalised, inside the
    repository ('.' is the whole of it, a dep; a dep may read git's own files)."""
    path = str(raw)
    problem = None if path == "." else path_problem(path)
    if problem not in (None, INSIDE_GIT):
        raise ValueError(f"path {path!r} {problem}")
    return path


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# himo.lock is rewritten after every stage: each entry's YAML is made once and reused while the
# entry is the same object (the whole file cost 70 ms per write on 30 stages, now ~1 ms).
_fragments: dict[str, tuple[LockEntry, str]] = {}


def dump_lock(entries: dict[str, LockEntry]) -> str:
    return f"schema: '{SCHEMA}'\nstages:\n" + "".join(_fragment(n, e) for n, e in entries.items())


def _fragment(name: str, entry: LockEntry) -> str:
    cached = _fragments.get(name)
    if cached is None or cached[0] is not entry:
        text = yaml.dump({name: _dump_entry(entry)}, Dumper=_DUMPER, sort_keys=False, width=1000)
        cached = _fragments[name] = (entry, "".join(f"  {line}\n" for line in text.splitlines()))
    return cached[1]


def _dump_entry(entry: LockEntry) -> dict[str, Any]:
    body: dict[str, Any] = {"cmd": list(entry.cmd)}
    if entry.deps:
        body["deps"] = [_dump_dep(d) for d in entry.deps]
    if entry.params:
        body["params"] = entry.params
    if entry.outs:
        body["outs"] = [_dump_dep(d) for d in entry.outs]
    return body


def _dump_dep(dep: DepState) -> dict[str, Any]:
    item: dict[str, Any] = {"path": dep.path, "digest": dep.digest, "size": dep.size}
    if dep.nfiles is not None:
        item["nfiles"] = dep.nfiles
    return item


def write_lock(root: Path, entries: dict[str, LockEntry], order: list[str]) -> None:
    """Write himo.lock atomically, stages in pipeline order."""
    ordered = {n: entries[n] for n in order if n in entries}
    ordered.update((n, e) for n, e in entries.items() if n not in ordered)
    write_text_atomic(root / LOCK_FILE, dump_lock(ordered))
