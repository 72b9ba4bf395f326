"""Any fsspec filesystem as a remote: S3 (s3fs), GCS (gcsfs), Azure (adlfs), SSH (sshfs)..."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from himo.objects.parallel import run_parallel
from himo.remotes.base import Remote

# Object stores publish an object only once its upload completed; others need tmp + rename.
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"}
# Fewer wanted objects than this: ask for each; more: list the shards holding them.
LIST_THRESHOLD = 64


class FsspecRemote(Remote):
    def __init__(self, name: str, url: str, fs: Any, root: str, jobs: int) -> None:
        super().__init__(name, url, jobs)
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.atomic_put = bool(ATOMIC_PUT.intersection(protocols))

    def _path(self, oid: str) -> str:
        return f"{self.root}/{self.key(oid)}"

    def existing(self, oids: Iterable[str]) -> set[str]:
        wanted = set(oids)
        if len(wanted) < LIST_THRESHOLD:
            oids = sorted(wanted)
            flags = run_parallel(lambda oid: self.fs.exists(self._path(oid)), oids, self.jobs)
            return {oid for oid, ok in zip(oids, flags, strict=True) if ok}
        shards = sorted({oid[:2] for oid in wanted})
        present: set[str] = set().union(*run_parallel(self._list_shard, shards, self.jobs))
        return wanted & present

    def _list_shard(self, shard: str) -> set[str]:
        try:
            names = self.fs.ls(f"{self.root}/{shard}", detail=False)
        except FileNotFoundError:
            return set()
        return {oid for n in names if (oid := self.oid_of(shard, n.rsplit("/", 1)[-1]))}

    def upload(self, local_path: str, oid: str) -> None:
        dest = self._path(oid)
        if self.atomic_put:
            self.fs.put_file(local_path, dest)
            return
        tmp = f"{dest}.himo-tmp-{uuid.uuid4().hex[:12]}"
        self.fs.put_file(local_path, tmp)
        self.fs.mv(tmp, dest)

    def put_bytes(self, oid: str, data: bytes) -> None:
        dest = self._path(oid)
        if self.atomic_put:
            self.fs.pipe_file(dest, data)
            return
        tmp = f"{dest}.himo-tmp-{uuid.uuid4().hex[:12]}"
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, dest)

    def download(self, oid: str, local_path: str) -> None:
        self.fs.get_file(self._path(oid), local_path)

    def all_oids(self) -> set[str]:
        try:
            paths = self.fs.find(self.root)
        except FileNotFoundError:
            return set()
        found = set()
        for path in paths:
            shard, _, name = path[len(self.root) :].strip("/").rpartition("/")
            if oid := self.oid_of(shard, name):
                found.add(oid)
        return found

    def delete(self, oids: list[str]) -> None:
        """One batched request per 1000 objects on S3 (`fs.rm` of a list)."""
        if not oids:
            return
        try:
            self.fs.rm([self._path(oid) for oid in oids])
        except FileNotFoundError:  # some went meanwhile: delete the rest one by one
            for oid in oids:
                self._delete_one(oid)

    def _delete_one(self, oid: str) -> None:
        try:
            self.fs.rm_file(self._path(oid))
        except FileNotFoundError:
            pass
