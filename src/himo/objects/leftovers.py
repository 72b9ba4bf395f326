"""Temp entries that an interrupted himo command left in the workspace: finding and cleaning them.

himo writes every workspace file (and builds every absent tracked folder) under a temp name
beside its place, `.NAME.himo-tmp-<pid>-<12 hex>`, then renames it over NAME. A kill -9 between
the two leaves the temp entry behind: a link or a half-written copy, or a whole half-built folder.
The pid in the name is the process that made it: an entry is stale once that process is gone,
so a live command's temp files are never touched. Entries from an older himo carry no pid
(`.NAME.himo-tmp-<12 hex>`) and are stale as soon as no himo holds the repository lock: callers
clean only while they hold it.

Cleaning removes a stale entry, except a complete link into the cache (a symlink to an object, or
a hard link) whose NAME is missing: that one was about to become NAME, and is renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass

from himo.objects.files import TMP_MARK

TEMP_NAME = re.compile(r"\.(?P<name>.+)\.himo-tmp-(?:(?P<pid>[0-9]+)-)?[0-9a-f]{12}")


@dataclass(frozen=True)
class Leftover:
    """A stale temp entry, and what cleaning it did."""

    path: str  # absolute path of the temp entry
    size: int  # bytes it held (a folder: all its files)
    folder: bool = False  # a half-built folder
    restored: str | None = None  # the path it was renamed to, when it became the missing file


def owner_gone(name: str) -> bool:
    """Whether `name` is a himo temp name whose process no longer runs (no pid: an older himo)."""
    match = TEMP_NAME.fullmatch(name)
    if match is None:
        return False
    if match["pid"] is None:
        return True
    pid = int(match["pid"])
    return pid != os.getpid() and not running(pid)


def running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie: a killed command's forked workers die
    with it but may stay zombies for a while (until their new parent, often PID 1 in a
    container, reaps them), with every file closed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]  # the field after "(command name)"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust kill()
    return state not in (b"Z", b"X")


def stale_beside(folder: str, names: set[str] | None = None) -> list[str]:
    """Stale temp entries directly in `folder` (of any NAME, or only of `names`)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    found = []
    for entry in entries:
        match = TEMP_NAME.fullmatch(entry)
        if match and (names is None or match["name"] in names) and owner_gone(entry):
            found.append(os.path.join(folder, entry))
    return sorted(found)


def stale_inside(folder: str) -> list[str]:
    """Stale temp entries anywhere below `folder` (names only: no stat per file)."""
    found: list[str] = []
    _scan(folder, found)
    return sorted(found)


def _scan(folder: str, found: list[str]) -> None:
    try:
        entries = os.scandir(folder)
    except OSError:
        return
    with entries:
        for entry in entries:
            if TMP_MARK in entry.name:
                if owner_gone(entry.name):
                    found.append(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                _scan(entry.path, found)


def clean(paths: list[str], cache_root: str) -> list[Leftover]:
    """Remove each stale temp entry, or rename it into place (see the module's docstring)."""
    return [_clean_one(path, cache_root) for path in paths if os.path.lexists(path)]


def _clean_one(path: str, cache_root: str) -> Leftover:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        size = _folder_size(path)
        shutil.rmtree(path)
        return Leftover(path, size, folder=True)
    folder, name = os.path.split(path)
    match = TEMP_NAME.fullmatch(name)
    real = os.path.join(folder, match["name"]) if match else None
    if real and not os.path.lexists(real) and _complete_link(path, st, cache_root):
        os.rename(path, real)
        return Leftover(path, os.stat(real).st_size, restored=real)
    os.unlink(path)
    return Leftover(path, 0 if stat.S_ISLNK(st.st_mode) else st.st_size)


def _complete_link(path: str, st: os.stat_result, cache_root: str) -> bool:
    """A symlink to a plain file in the cache, or a hard link: made whole in one system call,
    so it holds all of its bytes (a copy may have been cut short)."""
    if stat.S_ISREG(st.st_mode):
        return st.st_nlink > 1
    if not stat.S_ISLNK(st.st_mode):
        return False
    target = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    inside = os.path.commonpath([cache_root, target]) == cache_root
    try:
        return inside and stat.S_ISREG(os.lstat(target).st_mode)
    except OSError:
        return False


def _folder_size(folder: str) -> int:
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:
                continue
    return total
