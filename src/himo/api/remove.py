"""`himo remove` and `himo unprotect`: stop tracking, or make tracked files editable."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from himo.api.contents import workspace_files
from himo.api.ignores import release_ignore
from himo.api.leftovers import clean_targets
from himo.errors import PathError
from himo.objects.leftovers import Leftover
from himo.objects.links import tmp_name
from himo.workspace.pointer import SUFFIX, load_pointer
from himo.workspace.repo import Repo
from himo.workspace.tracked import pointers_for


def remove(repo: Repo, pointer_files: list[str],
           on_cleaned: Callable[[list[Leftover]], None] | None = None) -> list[str]:
    """Stop tracking: delete the pointers and their .gitignore lines (unless a stage output or DVC
    needs the line too), keep the data (writable).

    Temp entries that an interrupted command left in a target are cleaned first (told to
    `on_cleaned`): once the pointer is gone, nothing would find them again."""
    pointers = []
    for name in pointer_files:
        file = repo.resolve(name if name.endswith(SUFFIX) else name + SUFFIX)
        if not file.is_file():
            raise PathError(f"{name}: no such pointer file", "give the PATH.himo file of a tracked path")
        pointers.append(load_pointer(file, repo.root))
    with repo.lock():
        for pointer in pointers:
            cleaned = clean_targets(repo, [pointer.target])
            if cleaned and on_cleaned is not None:
                on_cleaned(cleaned)
            if pointer.target.exists():
                make_private(repo, pointer.target)
            release_ignore(repo, pointer.target, pointer=False)  # a line a stage or DVC needs stays
            # Last: until the pointer goes, `himo remove` run again (after a kill or an
            # error above) finds it and finishes the work.
            pointer.file.unlink()
    return [repo.rel(p.file) for p in pointers]


def unprotect(repo: Repo, paths: list[str]) -> int:
    """Replace links into the cache by private writable copies; return how many files."""
    with repo.lock():
        return sum(make_private(repo, p.target) for p in pointers_for(repo, paths))


def make_private(repo: Repo, target: Path) -> int:
    """Replace the files at `target` that share bytes with the cache (a symlink, a hard link or
    a read-only file) by private writable copies, so that writing to them can never change a
    cache object; how many were replaced."""
    if not target.exists():
        return 0
    count = 0
    for f in workspace_files(repo, target):
        # mode bits, not os.access(): root may write anything, but a read-only file is still protected
        if os.path.islink(f.path) or f.stat.st_nlink > 1 or not f.stat.st_mode & stat.S_IWUSR:
            _private_copy(f.path)
            count += 1
    return count


def _private_copy(path: str) -> None:
    tmp = tmp_name(path)
    shutil.copyfile(path, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
