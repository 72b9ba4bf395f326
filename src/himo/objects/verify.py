"""Checking what leaves the cache: a checkout, a push or an export gets an object's bytes only
once they are known to be the bytes its name promises.

An object may have been edited through a hardlink or symlink of the workspace, truncated or
bit-flipped on disk, or replaced by a link to another file. So, for every object read out:

- it is opened (or lstat-ed) without following a link, and must be a regular file;
- its size must be the one its pointer or manifest records (where known): always, it is free;
- its digest must be its name. Bytes that are read whole anyway (objects below `WHOLE`, which
  a copy or an upload reads into memory) are hashed there, at the cost of hashing only. Large
  objects, and objects that are linked rather than read (hardlink, symlink), are hashed unless
  the stat cache vouches for them: a row (inode, mtime, size) -> this digest, recorded when the
  object's bytes were last hashed, and still matching. Any write to the object (an edit
  through a link, a truncation) moves its mtime and voids the row.

Objects found bad are reported, never passed on; the caller moves them aside
(`ObjectDB.quarantine`) once its workers are done, so two workers never race over one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from blake3 import blake3

from himo.errors import CorruptCacheObjectError
from himo.objects.files import read_fd
from himo.objects.hashing import hash_fd
from himo.objects.odb import MISMATCH, ObjectDB
from himo.objects.state import StateDB

WHOLE = 1 << 20  # objects below this are read whole (one read) and hashed in memory
PROC_FD = "/proc/self/fd"
_has_proc = os.path.isdir(PROC_FD)

StatKey = tuple[int, int, int]  # (inode, mtime_ns, size), as the stat cache keys files


@dataclass
class Source:
    """An object ready to leave the cache, verified: its bytes, an open descriptor, or (for a
    link, whose bytes are not read) just its path. Close it (a context manager) when done."""

    oid: str
    path: str  # where the object is in the cache
    data: bytes | None = None  # its bytes, when read whole
    fd: int | None = None  # an open descriptor of it (large objects)
    hashed: os.stat_result | None = None  # its stat, when hashed here: worth recording

    def readable_path(self) -> str:
        """A path that opens the very file that was verified (not whatever is at `path` now)."""
        return f"{PROC_FD}/{self.fd}" if self.fd is not None and _has_proc else self.path

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Verifier:
    """Hands out verified `Source`s of cache objects; safe to use in forked workers (it reads
    only the object files and a dict of stat-cache rows taken before the fork)."""

    def __init__(self, odb: ObjectDB, vouched: Mapping[StatKey, str] | None = None) -> None:
        self.odb = odb
        self.vouched: Mapping[StatKey, str] = vouched or {}

    @classmethod
    def prepare(cls, odb: ObjectDB, state: StateDB, sizes: Mapping[str, int | None],
                linking: bool = False) -> Verifier:
        """A verifier for the objects `sizes` (oid -> recorded size, None if unknown), with the
        stat-cache rows that may vouch for them looked up now, in this process.

        `linking`: the objects are to be hardlinked or symlinked, so none is read whole and
        every one may need vouching; else only those that may be large.
        """
        candidates = [oid for oid, size in sizes.items() if linking or size is None or size >= WHOLE]
        if not candidates:
            return cls(odb)
        stats = []
        for oid in candidates:
            try:
                stats.append(os.lstat(odb.path(oid)))
            except OSError:
                continue  # absent: reported when it is opened
        # By inode, never the whole table: it holds a row per file version ever hashed.
        found = state.lookup(stats, bulk=False)
        return cls(odb, {(st.st_ino, st.st_mtime_ns, st.st_size): found[st.st_ino]
                         for st in stats if st.st_ino in found})

    def _is_vouched(self, oid: str, st: os.stat_result) -> bool:
        return self.vouched.get((st.st_ino, st.st_mtime_ns, st.st_size)) == oid

    def read(self, oid: str, size: int | None = None, whole: bool = True) -> Source:
        """The object for copying or uploading: its bytes if small (and `whole`), else an open
        descriptor; CorruptCacheObjectError if it is not what its name promises."""
        fd, st = self.odb.open_object(oid, size)
        if st.st_size < WHOLE and whole:  # the common case, kept to few Python steps
            try:
                data = os.read(fd, st.st_size + 1)  # one byte more: a short read is the end
                if len(data) > st.st_size:  # grew since the fstat: read on (and fail the hash)
                    data += read_fd(fd, 0)
            finally:
                os.close(fd)
            if blake3(data).hexdigest() != oid:
                raise self.odb.corrupt(oid, MISMATCH)
            return Source(oid, self.odb.path(oid), data)
        try:
            hashed = None
            if st.st_size < WHOLE or not self._is_vouched(oid, st):
                if hash_fd(fd, st.st_size) != oid:
                    raise self.odb.corrupt(oid, MISMATCH)
                hashed = st
            source = Source(oid, self.odb.path(oid), fd=fd, hashed=hashed)
        except BaseException:
            os.close(fd)
            raise
        return source

    def link(self, oid: str, size: int | None = None) -> Source:
        """The object for linking (hardlink, symlink): checked by lstat and the stat cache, its
        bytes read and hashed only where the stat cache does not vouch for them."""
        st = self.odb.lstat_object(oid, size)
        if self._is_vouched(oid, st):
            return Source(oid, self.odb.path(oid))
        return self.read(oid, size)


def corrupt_of(results: list[object]) -> list[CorruptCacheObjectError]:
    """The errors among workers' results (a worker returns the error instead of raising it, so
    that one bad object does not stop the others)."""
    return [r for r in results if isinstance(r, CorruptCacheObjectError)]
