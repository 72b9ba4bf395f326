"""Finding pointer files: all of them in the workspace, or the ones a user named."""

from __future__ import annotations

import os
from pathlib import Path

from himo.errors import PathError
from himo.workspace.pointer import SUFFIX, Pointer, load_pointer, pointer_file_for
from himo.workspace.repo import HIMO_DIR, Repo

SKIP_DIRS = {".git", HIMO_DIR}


def all_pointer_files(repo: Repo) -> list[Path]:
    if repo.git is not None:
        git_root = repo.git.root
        files = (git_root / p for p in repo.git.pointer_files(skip=SKIP_DIRS))
        return [f for f in files if f.is_relative_to(repo.root) and f.is_file()]
    return _walk_pointer_files(repo.root)


def _walk_pointer_files(root: Path) -> list[Path]:
    """Without git: walk the tree, not descending into tracked directories."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        pointers = {name for name in files if name.endswith(SUFFIX)}
        found.extend(Path(folder, name) for name in sorted(pointers))
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and d + SUFFIX not in pointers]
    return found


def pointers_for(repo: Repo, targets: list[str] | tuple[str, ...]) -> list[Pointer]:
    """The pointers named by `targets` (paths or PATH.himo files); all of them if none."""
    if not targets:
        return [load_pointer(f, repo.root) for f in all_pointer_files(repo)]
    files: dict[Path, None] = {}
    for target in targets:
        files.update(dict.fromkeys(_pointer_files_of(repo, target)))
    return [load_pointer(f, repo.root) for f in files]


def _pointer_files_of(repo: Repo, target: str) -> list[Path]:
    path = repo.resolve(target)
    if path.name.endswith(SUFFIX) and not path.is_dir():
        return [path]
    if pointer_file_for(path).exists():
        return [pointer_file_for(path)]
    if path.is_dir():
        inside = [f for f in all_pointer_files(repo) if f.is_relative_to(path)]
        if inside:
            return inside
    raise PathError(f"{target}: not tracked by himo", f"run `himo add {target}` to track it")


def tracked_ancestor(repo: Repo, path: Path) -> Path | None:
    """The tracked directory that contains `path`, if any."""
    for parent in path.parents:
        if parent == repo.root or not parent.is_relative_to(repo.root):
            return None
        if pointer_file_for(parent).exists():
            return parent
    return None
