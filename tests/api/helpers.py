"""Helpers shared by the data-versioning tests (tests/api, objects, workspace, cli)."""

from __future__ import annotations

import ctypes
import os
import stat
import subprocess
from pathlib import Path

import yaml
from blake3 import blake3

PR_CAPBSET_DROP = 24
# CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root ignore permission bits.
DAC_CAPS = (1, 2, 3)
# Files that change on every command and say nothing about the user's data.
# The metadata store (and its journal) records failed commands too (docs/metadata.md).
VOLATILE = {".himo/lock", ".himo/state.db", ".himo/state.db-wal", ".himo/state.db-shm",
            ".himo/meta.db", ".himo/meta.db-wal", ".himo/meta.db-shm"}


def digest_of(data: bytes) -> str:
    return blake3(data).hexdigest()


def object_path(root: Path, digest: str) -> Path:
    return root / ".himo" / "cache" / digest[:2] / digest[2:]


def pointer_doc(file: Path) -> dict[str, object]:
    return yaml.safe_load(file.read_text())


def is_read_only(path: Path) -> bool:
    """No write bit for anyone (the mode bits, not os.access: tests may run as root)."""
    return os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0


def drop_root_powers() -> None:
    """preexec_fn: make the child obey permission bits even when it runs as root.

    Drops the capabilities that bypass them from the bounding set, so the exec'ed process
    never has them. Without those capabilities to start with, there is nothing to drop.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in DAC_CAPS:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def assert_error(proc: subprocess.CompletedProcess[str], message: str, code: int = 1) -> None:
    """The command failed with exit `code`, one `Error: message` line first, no traceback."""
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.splitlines()[0] == f"Error: {message}", proc.stderr
    assert "Traceback" not in proc.stderr


def snapshot(root: Path, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, tuple[int, bytes]]:
    """Every file and symlink below `root` (not .git, volatile state or `skip`): mode, content."""
    files: dict[str, tuple[int, bytes]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if rel in VOLATILE or rel in skip or rel.startswith(".himo/journal/"):
                continue
            st = os.lstat(path)
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            files[rel] = (st.st_mode, data)
    return files


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Contents of every file below `root`, by POSIX path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def cache_temp_files(repo: Path) -> list[Path]:
    """Temp files of half-done writes in the repo's cache (in `tmp/` or beside objects)."""
    cache = repo / ".himo" / "cache"
    leftovers = list((cache / "tmp").iterdir()) if (cache / "tmp").is_dir() else []
    return leftovers + list(cache.glob("??/.himo-tmp-*"))
