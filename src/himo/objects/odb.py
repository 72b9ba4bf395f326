"""The object database: bytes stored by their blake3 digest at `cache/ab/cdef...`.

Objects appear whole or not at all, read-only, and are never modified in place: a small one
is written as a nameless file and linked in under its name (`objects.files.write_new`);
others are written under a temporary name and renamed into place. So a crash leaves a temp
file at worst, never a bad object. A temp file whose digest is known lives in the object's
own shard folder (a rename within one folder skips the filesystem-wide lock a cross-folder
rename takes: 2x faster for many small objects on two threads, measured on ext4); one whose
digest is not yet known (a large file hashed while it is copied) lives in `tmp/`. `himo gc`
clears stale ones.

A writer (an open ObjectDB that made temp files) holds a shared lock on `cache/tmp.lock` until it
is closed or its process exits, and
`clear_tmp` deletes temp files only when it can take that lock exclusively: a gc never deletes
the temp file of a live fetch (or of anything else writing the cache without the repository
lock), and a killed process's lock dies with it, so what it left is cleared next time.

Objects are read out without following links (O_NOFOLLOW): an object replaced by a symbolic
link is refused, never read through. One found corrupted is moved aside to `corrupt/`, out of
the object namespace, so that the cache no longer claims to hold it and the next fetch
restores it, while its bytes stay for inspection (in hardlink or symlink mode they may be the
only copy of a workspace edit).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from himo.errors import CorruptCacheObjectError
from himo.model import is_digest
from himo.objects.files import READ_ONLY, TMP_MARK, read_fd, unlink_quietly, write_new
from himo.objects.hashing import hash_bytes

LIST_THRESHOLD = 256  # more objects than this: list shard folders instead of stat-ing each
WRITERS_LOCK = "tmp.lock"  # shared-locked by every process that makes temp files in the cache
# O_NONBLOCK: a FIFO put in the cache must not hang the open (no effect on regular files).
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
CORRUPT_DIR = "corrupt"  # where corrupted objects are moved aside

IS_LINK = "it is a symbolic link (not followed: a cache object must be a file)"
NOT_A_FILE = "it is not a regular file"
MISMATCH = "its bytes do not match its digest"


class ObjectDB:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self._tmp_ready = False
        self._shards: set[str] = set()  # shard folders known to exist
        self._writer_fd: int | None = None  # our shared lock on WRITERS_LOCK, once we write
        self._writer_fd_guard = threading.Lock()  # many threads write at once: open the lock once
        self._checked: set[str] = set()  # shard folders known to be folders, not links

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

    def tmp_path(self, oid: str | None = None) -> str:
        """A fresh temp file name (not created): beside object `oid`, or in `tmp/` if unknown."""
        self._hold_writer_lock()
        name = TMP_MARK + os.urandom(8).hex()
        if oid is not None:
            self._ensure_shard(oid[:2])
            return f"{self.root}/{oid[:2]}/{name}"
        if not self._tmp_ready:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            self._tmp_ready = True
        return f"{self.tmp_dir}/{name}"

    def commit_tmp(self, tmp: str, oid: str) -> str:
        """Move a finished temp file into place as object `oid` (read-only).

        Renaming over an existing object is harmless: same name, same bytes.
        """
        dest = self.path(oid)
        self._ensure_shard(oid[:2])
        os.chmod(tmp, READ_ONLY)
        os.replace(tmp, dest)
        return dest

    def _hold_writer_lock(self) -> None:
        """Tell gc that this process may have temp files in the cache (kept until `close`).

        Forked workers share the lock of the parent's open file, or take their own. Under the
        guard: two threads that both found no lock each opened one, and the first one's file, never
        closed, kept gc from clearing temp files for as long as the process lived."""
        if self._writer_fd is not None:
            return
        with self._writer_fd_guard:
            if self._writer_fd is not None:
                return
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / WRITERS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a gc is clearing temp files
            self._writer_fd = fd

    def close(self) -> None:
        """Let go of the writers' lock: a process that runs many commands (a script, `himo ui`,
        the tests) must not keep gc from clearing temp files after its command ended."""
        if self._writer_fd is not None:
            os.close(self._writer_fd)
            self._writer_fd = None

    def _ensure_shard(self, shard: str) -> None:
        if shard not in self._shards:
            os.makedirs(f"{self.root}/{shard}", exist_ok=True)
            self._shards.add(shard)

    def add_bytes(self, data: bytes, oid: str | None = None) -> str:
        """Store `data`, returning its digest."""
        oid = oid or hash_bytes(data)
        self._ensure_shard(oid[:2])
        self._hold_writer_lock()  # write_new falls back to a temp name where O_TMPFILE is refused
        write_new(self.path(oid), data)
        return oid

    def read_bytes(self, oid: str, size: int | None = None) -> bytes:
        """The bytes of object `oid`, verified against its digest.

        CorruptCacheObjectError if they are not its bytes (the object is moved aside).
        """
        try:
            fd, st = self.open_object(oid, size)
            try:
                data = read_fd(fd, st.st_size)
            finally:
                os.close(fd)
            if hash_bytes(data) != oid:
                raise self.corrupt(oid, MISMATCH)
        except CorruptCacheObjectError as exc:
            self.quarantine(oid)
            raise self.corrupt(oid, exc.reason, moved=True) from None  # the same error, now moved
        return data

    def open_object(self, oid: str, size: int | None = None) -> tuple[int, os.stat_result]:
        """An open descriptor of object `oid` and its stat, never opened through a link.

        CorruptCacheObjectError if the object is a link or not a regular file of `size` bytes
        (when given); FileNotFoundError if it is absent. Moves nothing: see `quarantine`.
        """
        self.check_shard(oid)
        try:
            fd = os.open(self.path(oid), READ_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # "too many levels of symlinks": IS_LINK says it in words
                raise self.corrupt(oid, IS_LINK) from None
            raise
        try:
            st = os.fstat(fd)
            self.check_stat(oid, st, size)
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    def lstat_object(self, oid: str, size: int | None = None) -> os.stat_result:
        """The stat of object `oid` itself (a link is not followed), checked as `open_object` does."""
        self.check_shard(oid)
        st = os.lstat(self.path(oid))
        self.check_stat(oid, st, size)
        return st

    def check_stat(self, oid: str, st: os.stat_result, size: int | None) -> None:
        """CorruptCacheObjectError unless `st` is a regular file of `size` bytes (when given)."""
        if not stat.S_ISREG(st.st_mode):
            raise self.corrupt(oid, IS_LINK if stat.S_ISLNK(st.st_mode) else NOT_A_FILE)
        if size is not None and st.st_size != size:
            raise self.corrupt(oid, f"it holds {st.st_size} bytes where {size} are recorded")

    def check_shard(self, oid: str) -> None:
        """A shard folder replaced by a link would lead every read (and a move aside) elsewhere:
        refuse it, once checked per process."""
        shard = oid[:2]
        if shard in self._checked:
            return
        try:
            st = os.lstat(f"{self.root}/{shard}")
        except FileNotFoundError:
            return  # no object in it: the open reports the missing object
        if not stat.S_ISDIR(st.st_mode):
            raise self.corrupt(oid, f"its folder {self.root}/{shard} is not a folder"
                               " (a link is not followed); move that away")
        self._checked.add(shard)

    def corrupt(self, oid: str, reason: str, moved: bool = False) -> CorruptCacheObjectError:
        """The error for object `oid`, found bad for `reason` (`moved`: already moved aside)."""
        where = f"; moved aside to {self.corrupt_dir}/" if moved else ""
        return CorruptCacheObjectError(oid, reason, f"cache object {oid[:12]} is corrupted: {reason}{where}",
                                       moved=moved)

    @property
    def corrupt_dir(self) -> str:
        return f"{self.root}/{CORRUPT_DIR}"

    def quarantine(self, oid: str) -> bool:
        """Move object `oid` aside to `corrupt/` (replacing an earlier bad copy there): the cache
        no longer holds it, so a fetch brings it back. False if it could not be moved."""
        try:
            self.check_shard(oid)
            os.makedirs(self.corrupt_dir, exist_ok=True)
            os.replace(self.path(oid), f"{self.corrupt_dir}/{oid}")
        except (OSError, CorruptCacheObjectError):
            return False
        return True

    def remove(self, oid: str) -> None:
        unlink_quietly(self.path(oid))

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

    def clear_tmp(self) -> int | None:
        """Delete temp files left by interrupted writes (in `tmp/` and in shards); how many.

        None, deleting nothing, while another live process may be writing them."""
        if not self.root.is_dir():
            return 0
        with self._no_other_writers() as alone:
            if not alone:
                return None
            stale = []
            for folder in os.scandir(self.root):
                if folder.is_dir() and (len(folder.name) == 2 or folder.name == "tmp"):
                    stale += [e.path for e in os.scandir(folder.path)
                              if folder.name == "tmp" or e.name.startswith(TMP_MARK)]
            for path in stale:
                unlink_quietly(path)
            return len(stale)

    @contextlib.contextmanager
    def _no_other_writers(self) -> Iterator[bool]:
        """Hold WRITERS_LOCK exclusively for the block (True), or False if another process has it.

        A process that wrote temp files itself converts its own shared lock, and gets it back."""
        fd = self._writer_fd
        if fd is None:
            fd = os.open(self.root / WRITERS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            if fd == self._writer_fd:
                fcntl.flock(fd, fcntl.LOCK_SH)
            else:
                os.close(fd)

    def stamp(self) -> str | None:
        """A digest of the shard folders' names and mtimes, or None if it cannot vouch for them.

        Adding or removing an object updates its shard folder's mtime, so while the stamp stays
        the same, so does the set of objects. A change in the same clock tick as the previous
        one would not move the mtime, though, so while any folder changed less than a tick ago
        there is no stamp. The tick: 2 s where mtimes are whole seconds (FAT, ext3), else 50 ms
        (ext4, xfs, btrfs, APFS keep nanoseconds from a clock of a few milliseconds).
        """
        try:
            with os.scandir(self.root) as entries:
                shards = sorted((e.name, e.stat().st_mtime_ns) for e in entries
                                if len(e.name) == 2 and e.is_dir())
        except OSError:
            return None
        fine = any(mtime % 1_000_000_000 for _, mtime in shards)
        settle_ns = 50_000_000 if fine else 2_000_000_000
        if any(mtime > time.time_ns() - settle_ns for _, mtime in shards):
            return None
        return hash_bytes(repr(shards).encode())
