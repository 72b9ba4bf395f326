"""The object database: bytes stored by their blake3 digest at `cache/ab/cdef...`.

Objects are written under a temporary name and renamed into place, then made read-only;
an object is never modified in place, so a crash leaves a temp file at worst, never a bad
object. `tmp/` holds those temp files; `himo gc` clears stale ones.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from himo.model import is_digest
from himo.objects.hashing import hash_bytes

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class ObjectDB:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"

    def path(self, oid: str) -> str:
        return f"{self.root}/{oid[:2]}/{oid[2:]}"

    def exists(self, oid: str) -> bool:
        return os.path.exists(self.path(oid))

    def tmp_path(self) -> str:
        """A fresh temp file name on the cache's filesystem (not created)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return str(self.tmp_dir / uuid.uuid4().hex)

    def commit_tmp(self, tmp: str, oid: str) -> str:
        """Move a finished temp file into place as object `oid` (read-only)."""
        dest = self.path(oid)
        if os.path.exists(dest):
            os.unlink(tmp)
            return dest
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.chmod(tmp, READ_ONLY)
        os.replace(tmp, dest)
        return dest

    def add_bytes(self, data: bytes, oid: str | None = None) -> str:
        """Store `data`, returning its digest."""
        oid = oid or hash_bytes(data)
        if self.exists(oid):
            return oid
        tmp = self.tmp_path()
        try:
            with open(tmp, "xb") as f:
                f.write(data)
            self.commit_tmp(tmp, oid)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return oid

    def read_bytes(self, oid: str) -> bytes:
        with open(self.path(oid), "rb") as f:
            return f.read()

    def remove(self, oid: str) -> None:
        _unlink_quietly(self.path(oid))

    def all_oids(self) -> Iterator[str]:
        """Every object in the cache (temp files excluded)."""
        if not self.root.is_dir():
            return
        for shard in os.scandir(self.root):
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for entry in os.scandir(shard.path):
                oid = shard.name + entry.name
                if is_digest(oid):
                    yield oid

    def clear_tmp(self) -> int:
        """Delete temp files left by interrupted writes; return how many."""
        if not self.tmp_dir.is_dir():
            return 0
        names = os.listdir(self.tmp_dir)
        for name in names:
            _unlink_quietly(str(self.tmp_dir / name))
        return len(names)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
