"""Listing the files of a directory, with their stat, skipping ignored ones."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from himo.objects.files import TMP_MARK
from himo.objects.hashing import hash_bytes

# (path relative to the walked directory, is it a directory) -> skip it?
IgnoreFn = Callable[[str, bool], bool]


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file in the workspace, as seen now."""

    path: str  # absolute path
    rel: str  # POSIX path relative to the tracked directory
    stat: os.stat_result  # os.stat (symlinks followed)


def walk_files(root: str, ignored: IgnoreFn | None = None) -> list[FileRef]:
    """Every file below `root` (symlinks followed for files, not for directories).

    One thread: stat() dominates, and on 2 cores threads measured slower (GIL hand-offs).
    """
    files: list[FileRef] = []
    stack = [("", root.rstrip("/") + "/")]
    while stack:
        _scan(*stack.pop(), ignored, files, stack)
    return files


def _scan(prefix: str, folder: str, ignored: IgnoreFn | None,
          files: list[FileRef], folders: list[tuple[str, str]]) -> None:
    """Add the files directly in `folder` to `files`, its sub-folders (prefix, path) to `folders`.

    `folder` is listed through an open descriptor, so each entry.stat() is an fstatat() of the
    bare name: the kernel resolves one path component instead of the whole path (measured 10%
    faster on 20,000 files).
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                name = entry.name
                if TMP_MARK in name or (name[:1] == "." and name.lower() == ".git"):
                    continue  # a temp file of ours, or git's own folder (as git does: never tracked)
                rel = prefix + name
                if entry.is_dir(follow_symlinks=False):
                    if not (ignored and ignored(rel, True)):
                        folders.append((rel + "/", folder + name + "/"))
                elif entry.is_file() and not (ignored and ignored(rel, False)):
                    files.append(FileRef(folder + name, rel, entry.stat()))
    finally:
        os.close(fd)


def fingerprint(files: list[FileRef]) -> str:
    """A digest of a listing: every file's relative path, inode, mtime and size, in walk order.

    Adding, removing, renaming, touching or rewriting any file changes it, just as each change
    misses the stat cache. An unchanged folder lists in the same order every time; were the
    order ever to differ, so would the digest, which costs a full check, never a wrong answer.
    """
    listing = "\0".join([f"{f.rel}\0{f.stat.st_ino}\0{f.stat.st_mtime_ns}\0{f.stat.st_size}" for f in files])
    return hash_bytes(listing.encode("utf-8", "surrogateescape"))
