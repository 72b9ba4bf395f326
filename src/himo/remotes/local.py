"""A remote that is a folder on this machine (or a mounted network share)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable

from himo.objects.files import TMP_MARK, read_small, write_new
from himo.remotes.base import Remote

SMALL = 1 << 20  # objects below this are read whole and written in one go
FILE_MODE = 0o666  # less the umask: as copy_into_place leaves objects


class LocalRemote(Remote):
    forkable = True

    def __init__(self, name: str, url: str, root: str, jobs: int = 1) -> None:
        super().__init__(name, url, jobs)
        self.root = root

    def _path(self, oid: str) -> str:
        return os.path.join(self.root, oid[:2], oid[2:])

    def existing(self, oids: Iterable[str]) -> set[str]:
        wanted = set(oids)
        shards = {oid[:2] for oid in wanted}
        present: set[str] = set()
        for shard in shards:
            try:
                names = os.listdir(os.path.join(self.root, shard))
            except FileNotFoundError:
                continue
            present.update(shard + name for name in names)
        return wanted & present

    def upload(self, local_path: str, oid: str) -> None:
        data = read_small(local_path, SMALL)
        if data is None:
            copy_into_place(local_path, self._path(oid))
            return
        self.put_bytes(oid, data)

    def put_bytes(self, oid: str, data: bytes) -> None:
        dest = self._path(oid)
        try:
            write_new(dest, data, FILE_MODE)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            write_new(dest, data, FILE_MODE)

    def download(self, oid: str, local_path: str) -> None:
        shutil.copyfile(self._path(oid), local_path)

    def read_small(self, oid: str, limit: int) -> bytes | None:
        return read_small(self._path(oid), limit)

    def all_oids(self) -> set[str]:
        if not os.path.isdir(self.root):
            return set()
        found: set[str] = set()
        for shard in os.scandir(self.root):
            if shard.is_dir() and len(shard.name) == 2:
                found.update(filter(None, (self.oid_of(shard.name, n) for n in os.listdir(shard.path))))
        return found

    def delete(self, oids: list[str]) -> None:
        for oid in oids:
            try:
                os.unlink(self._path(oid))
            except FileNotFoundError:
                pass


def copy_into_place(src: str, dest: str) -> None:
    """Copy `src` to `dest` under a temp name in dest's folder, then rename: readers never see
    half a file, and an interrupted copy leaves only a temp file (`gc --cloud` knows the prefix)."""
    folder = os.path.dirname(dest)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f"{TMP_MARK}{uuid.uuid4().hex}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
