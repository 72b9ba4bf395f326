"""Listing the files of a directory, with their stat, skipping ignored ones."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

# (path relative to the walked directory, is it a directory) -> skip it?
IgnoreFn = Callable[[str, bool], bool]
TMP_MARK = ".himo-tmp-"


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file in the workspace, as seen now."""

    path: str  # absolute path
    rel: str  # POSIX path relative to the tracked directory
    stat: os.stat_result  # os.stat (symlinks followed)


def walk_files(root: str, ignored: IgnoreFn | None = None) -> list[FileRef]:
    """Every file below `root` (symlinks followed for files, not for directories)."""
    files: list[FileRef] = []
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if TMP_MARK in entry.name:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if not (ignored and ignored(rel, True)):
                        stack.append((rel + "/", entry.path))
                elif entry.is_file() and not (ignored and ignored(rel, False)):
                    files.append(FileRef(entry.path, rel, entry.stat()))
    return files
