"""Which `.gitignore` lines himo may take back: a target's `/name` line goes only when nothing else
still keeps that path out of git. Another owner may be himo's (a pointer, a cached stage output)
or DVC's (a `PATH.dvc` file, an output in dvc.yaml or dvc.lock): DVC writes the very same lines,
and a migrated project keeps them."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import yaml

from himo.errors import HimoError
from himo.workspace import yamlload
from himo.workspace.gitignore import unignore_target
from himo.workspace.pointer import SUFFIX
from himo.workspace.repo import Repo

DVC_SUFFIX = ".dvc"


def release_ignore(repo: Repo, target: Path, *, pointer: bool = True,
                   stage: str | None = None) -> Path | None:
    """Remove target's line from its folder's .gitignore unless another owner keeps it: the
    pointer (unless `pointer` is False: it is the owner going away), a cached output of a stage
    other than `stage`, or DVC. The .gitignore changed, or None."""
    rel = repo.rel(target)
    if pointer and (target.parent / (target.name + SUFFIX)).exists():
        return None
    if (target.parent / (target.name + DVC_SUFFIX)).exists():  # DVC's pointer
        return None
    outputs = _stage_outputs(repo, stage)
    if outputs is None or rel in outputs or rel in dvc_outputs(repo):
        return None
    return unignore_target(target)


def _stage_outputs(repo: Repo, leaving: str | None) -> set[str] | None:
    """Cached outputs of the stages but `leaving`; None if himo.yaml cannot be read (it may name
    the path: the line stays)."""
    from himo.pipeline.loader import load_stages

    try:
        return {o.path for s in load_stages(repo.root) if s.name != leaving for o in s.outs if o.cache}
    except HimoError:
        return None


def dvc_outputs(repo: Repo) -> set[str]:
    """The outputs of dvc.yaml and dvc.lock (repository-relative), which DVC keeps out of git."""
    found: set[str] = set()
    for name in ("dvc.yaml", "dvc.lock"):
        for wdir, path in _dvc_paths(_load(repo.root / name)):
            found.add(posixpath.normpath(posixpath.join(wdir, path)))
    return found


def _load(file: Path) -> Any:
    """DVC's file as YAML; None when absent or unreadable (it only ever keeps a line)."""
    try:
        return yamlload.load(file.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, yaml.YAMLError, HimoError):
        return None


def _dvc_paths(doc: Any) -> list[tuple[str, str]]:
    """(wdir, path) of every output a dvc.yaml or dvc.lock document lists."""
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        return []
    paths = []
    for body in stages.values():
        body = body.get("do", body) if isinstance(body, dict) else {}  # foreach: its `do`
        wdir = body.get("wdir") if isinstance(body.get("wdir"), str) else "."
        for key in ("outs", "metrics", "plots"):
            items = body.get(key)
            paths += [(wdir, p) for p in map(_item_path, items if isinstance(items, list) else [])
                      if p is not None]
    return paths


def _item_path(item: Any) -> str | None:
    """`path`, `{path: flags}` (dvc.yaml) or `{path: path, md5: ...}` (dvc.lock)."""
    if isinstance(item, str):
        return item
    if not isinstance(item, dict) or not item:
        return None
    path = item["path"] if "path" in item else next(iter(item))
    return path if isinstance(path, str) else None
