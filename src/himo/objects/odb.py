"""The object database: bytes stored by their blake3 digest at `cache/ab/cdef...`.

Objects are written under a temporary name and renamed into place, then made read-only;
an object is never modified in place, so a crash leaves a temp file at worst, never a bad
object. `tmp/` holds those temp files; `himo gc` clears stale ones.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from himo.model import is_digest
from himo.objects.hashing import hash_bytes, write_all

LIST_THRESHOLD = 256  # more objects than this: list shard folders instead of stat-ing each
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class ObjectDB:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self._tmp_ready = False
        self._shards: set[str] = set()  # shard folders known to exist

    def path(self, oid: str) -> str:
        return f"{self.root}/{oid[:2]}/{oid[2:]}"

    def exists(self, oid: str) -> bool:
        return os.path.exists(self.path(oid))

    def existing(self, oids: Iterable[str]) -> set[str]:
        """Which of `oids` are in the cache: one listing per shard when there are many."""
        wanted = set(oids)
        if len(wanted) < LIST_THRESHOLD:
            return {oid for oid in wanted if os.path.exists(self.path(oid))}
        present: set[str] = set()
        for shard in {oid[:2] for oid in wanted}:
            try:
                present.update(shard + name for name in os.listdir(f"{self.root}/{shard}"))
            except FileNotFoundError:
                continue
        return wanted & present

    def tmp_path(self) -> str:
        """A fresh temp file name on the cache's filesystem (not created)."""
        if not self._tmp_ready:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            self._tmp_ready = True
        return str(self.tmp_dir / uuid.uuid4().hex)

    def commit_tmp(self, tmp: str, oid: str) -> str:
        """Move a finished temp file into place as object `oid` (read-only).

        Renaming over an existing object is harmless: same name, same bytes.
        """
        dest = self.path(oid)
        self._ensure_shard(oid[:2])
        os.chmod(tmp, READ_ONLY)
        os.replace(tmp, dest)
        return dest

    def _ensure_shard(self, shard: str) -> None:
        if shard not in self._shards:
            os.makedirs(f"{self.root}/{shard}", exist_ok=True)
            self._shards.add(shard)

    def add_bytes(self, data: bytes, oid: str | None = None) -> str:
        """Store `data`, returning its digest."""
        oid = oid or hash_bytes(data)
        if self.exists(oid):
            return oid
        self._ensure_shard(oid[:2])
        tmp = self.tmp_path()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, self.path(oid))
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
