"""Cleaning up after an interrupted command: stale temp entries beside and inside tracked paths.

`himo add`, `commit` and `checkout` clean those of their targets, `himo gc` those of every
tracked path, always under the repository lock; `himo status` only reports them. What a stale
entry is, and how it is cleaned: `himo.objects.leftovers`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from himo.api.contents import tracked
from himo.objects.leftovers import Leftover, clean, running, stale_beside, stale_inside
from himo.workspace.pointer import SUFFIX
from himo.workspace.repo import Repo


def stale_of(repo: Repo, targets: list[Path]) -> list[str]:
    """Stale temp entries of `targets`: their own and their pointers' beside them, and any inside."""
    names: dict[str, set[str]] = defaultdict(set)
    for target in targets:
        names[str(target.parent)].update((target.name, target.name + SUFFIX))
    found = [path for folder, wanted in names.items() for path in stale_beside(folder, wanted)]
    for target in targets:
        if target.is_dir() and not target.is_symlink():
            found += stale_inside(str(target))
    return found


def clean_targets(repo: Repo, targets: list[Path]) -> list[Leftover]:
    """Clean the stale temp entries of `targets`; the caller holds the repository lock."""
    return clean(stale_of(repo, targets), str(repo.odb.root))


def workspace_leftovers(repo: Repo) -> list[str]:
    """Every stale temp entry of the workspace: inside tracked directories, and of any name in
    the folders holding tracked paths or pointers, and at the root (himo.lock, params, config)."""
    pointers = tracked(repo)
    folders = {str(repo.root)} | {str(p.target.parent) for p in pointers} | {
        str(Path(p.file).parent) for p in pointers}
    found = {path for folder in folders for path in stale_beside(folder)}
    found.update(stale_of(repo, [p.target for p in pointers]))
    return sorted(found)


def clean_workspace(repo: Repo) -> list[Leftover]:
    """`himo gc`: clean every stale temp entry of the workspace, under the repository lock."""
    with repo.lock():
        return clean(workspace_leftovers(repo), str(repo.odb.root))


@contextlib.contextmanager
def scratch_folder(repo: Repo, purpose: str) -> Iterator[Path]:
    """An empty folder `.himo/tmp/PURPOSE-PID` for one command's intermediate files (bytes being
    checked before they enter the cache), deleted after; those of a killed command (its pid gone)
    are deleted first, so a kill -9 leaves nothing for long."""
    base = repo.himo_dir / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob(f"{purpose}-*"):
        pid = old.name.rsplit("-", 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = base / f"{purpose}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
