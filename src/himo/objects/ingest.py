"""Hashing workspace files (through the stat cache) and storing them in the object DB.

Work is spread over threads: file reads, writes and large-file hashing release the GIL.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from himo.errors import PathError
from himo.objects.files import read_small, unlink_quietly
from himo.objects.hashing import MMAP_THRESHOLD, hash_bytes, hash_file
from himo.objects.links import UNSUPPORTED, Linker, reflink
from himo.objects.odb import ObjectDB
from himo.objects.parallel import run_forked
from himo.objects.state import StateDB
from himo.objects.walk import FileRef


class Ingester:
    def __init__(self, odb: ObjectDB, state: StateDB, linker: Linker, jobs: int) -> None:
        self.odb = odb
        self.state = state
        self.linker = linker
        self.jobs = jobs

    # -- reading only ------------------------------------------------------------------
    def hash_files(
        self, files: list[FileRef], on_hashed: Callable[[int], None] | None = None
    ) -> dict[str, str]:
        """Digest of every file, by its `rel` path; only files the stat cache misses are read."""
        known = self.state.lookup(f.stat for f in files)
        digests: dict[str, str] = {}
        misses: list[FileRef] = []
        for f in files:
            digest = known.get(f.stat.st_ino)
            if digest is None:
                misses.append(f)
            else:
                digests[f.rel] = digest
        fresh = run_forked(_hash_ref, misses, self.jobs)
        digests.update((f.rel, d) for f, d in zip(misses, fresh, strict=True))
        self.state.save((f.stat, d) for f, d in zip(misses, fresh, strict=True))
        self.hashed = len(misses)
        return digests

    # -- storing -----------------------------------------------------------------------
    def store_files(
        self, files: list[FileRef], on_done: Callable[[int], None] | None = None
    ) -> dict[str, str]:
        """Put every file in the cache and link it back; digests by `rel` path."""
        known = self.state.lookup(f.stat for f in files)

        relinks = self.linker.preferred in ("hardlink", "symlink")

        def store(f: FileRef) -> tuple[os.stat_result, str]:
            digest = self._store_one(f, known.get(f.stat.st_ino))
            # Copy modes leave the workspace file as it was; link modes replace it.
            return (os.stat(f.path) if relinks else f.stat), digest

        results = run_forked(store, files, self.jobs, on_done)
        self.hashed = sum(1 for f in files if f.stat.st_ino not in known)
        self.state.save(results)
        return {f.rel: digest for f, (_, digest) in zip(files, results, strict=True)}

    def _store_one(self, f: FileRef, digest: str | None) -> str:
        kind = self.linker.preferred
        if kind not in ("hardlink", "symlink"):
            if digest is not None and self.odb.exists(digest):
                return digest
            return self._copy_in(f, kind)
        digest = digest or hash_file(f.path)
        if not self._holds(digest, f.stat.st_size):
            # Never move or link the workspace entry itself when it is a symlink: copy its bytes.
            digest = self._copy_over(f) if os.path.islink(f.path) else self._link_in(f, digest)
        self._link_back(f, digest, kind)
        return digest

    def _copy_in(self, f: FileRef, kind: str) -> str:
        data = read_small(f.path, MMAP_THRESHOLD) if f.stat.st_size < MMAP_THRESHOLD else None
        if data is not None:
            return self.odb.add_bytes(data, hash_bytes(data))
        tmp = self.odb.tmp_path()
        try:
            if kind == "reflink" and _try_reflink(f.path, tmp):
                digest = hash_file(tmp)
            else:
                digest = _copy_while_hashing(f, tmp)
            self.odb.commit_tmp(tmp, digest)
        except BaseException:
            unlink_quietly(tmp)
            raise
        return digest

    def _holds(self, digest: str, size: int) -> bool:
        """Whether object `digest` is in the cache as a plain file of `size` bytes.

        Then the workspace file is only linked to it: one that already is the object (a hard
        link of it, or a symlink to it, after `state.db` was lost or a kill) is left as it is,
        never moved or linked in again (that renamed a symlink over its own object). A missing
        object, or one that is a link or has the wrong size, is stored again from the workspace.
        """
        try:
            st = os.lstat(self.odb.path(digest))
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == size

    def _link_in(self, f: FileRef, digest: str) -> str:
        """Link modes, a regular workspace file: its inode becomes the object, no bytes copied.

        It gets a second name (a hard link) in the cache, replacing a bad object stored under its
        digest, if any. The workspace name is never moved: it holds the bytes until `_link_back`
        renames a link over it, so a kill at any moment loses nothing.
        """
        tmp = self.odb.tmp_path(digest)
        try:
            os.link(f.path, tmp, follow_symlinks=False)
            _refuse_if_changed(f, os.stat(tmp))
            self.odb.commit_tmp(tmp, digest)
        except OSError as exc:
            unlink_quietly(tmp)
            if exc.errno not in UNSUPPORTED:
                raise
            return self._copy_over(f)
        except BaseException:
            unlink_quietly(tmp)
            raise
        return digest

    def _copy_over(self, f: FileRef) -> str:
        """Copy the bytes at `f.path` into the cache, replacing whatever is stored under their
        digest; for a workspace symlink (its target's bytes are copied, the link itself never
        enters the cache) and where hard links are not possible."""
        tmp = self.odb.tmp_path()
        try:
            digest = _copy_while_hashing(f, tmp)
            self.odb.commit_tmp(tmp, digest)
        except BaseException:
            unlink_quietly(tmp)
            raise
        return digest

    def _link_back(self, f: FileRef, digest: str, kind: str) -> None:
        obj = self.odb.path(digest)
        if not os.path.lexists(f.path) or not Linker.is_placed(kind, obj, f.path, f.stat):
            self.linker.place(obj, f.path)


def _hash_ref(f: FileRef) -> str:
    return hash_file(f.path)


def _copy_while_hashing(f: FileRef, dst: str) -> str:
    """Copy in the kernel (copy_file_range/sendfile) while another core hashes the source.

    Measured on a 1 GiB file: a user-space read-hash-write loop took 5x `cp`; this takes about
    as long as `cp` alone. The source is read twice, from the page cache; a file that changes
    meanwhile is refused rather than stored under a digest that is not its bytes'.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(hash_file, f.path)
        shutil.copyfile(f.path, dst)
        result = digest.result()
    _refuse_if_changed(f, os.stat(f.path))
    return result


def _refuse_if_changed(f: FileRef, now: os.stat_result) -> None:
    """A file that changed since it was listed is refused rather than stored under a digest
    that is not its bytes'."""
    if (now.st_mtime_ns, now.st_size) != (f.stat.st_mtime_ns, f.stat.st_size):
        raise PathError(f"{f.path}: changed while it was being added", "run the command again")


def _try_reflink(src: str, dst: str) -> bool:
    try:
        reflink(src, dst)
    except OSError as exc:
        if exc.errno not in UNSUPPORTED:
            raise
        return False
    return True
