"""DVC's own files, read only to know which paths DVC keeps out of git (a migrated project keeps
them): dvc.yaml's and dvc.lock's outputs. Unreadable or absent files name nothing."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import yaml

from himo.errors import HimoError
from himo.workspace import yamlload


def dvc_outputs(root: Path) -> set[str]:
    """The outputs of dvc.yaml and dvc.lock (repository-relative), which DVC keeps out of git."""
    found: set[str] = set()
    for name in ("dvc.yaml", "dvc.lock"):
        for wdir, path in _dvc_paths(_load(root / name)):
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
