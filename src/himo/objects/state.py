"""The stat cache: (inode, mtime_ns, size) -> digest, so unchanged files are never re-read.

A row is trusted only while the file's inode, mtime and size all match what was recorded
when its bytes were hashed; any change (even touching the file) forces a re-hash.

The `dirs` table does the same for a whole tracked directory: the fingerprint of its listing
(every file's path, inode, mtime and size) and the manifest it was verified to hold, so
`himo status` on an unchanged directory reads neither its files' digests nor its manifest.
`dir_files` keeps, beside it, that verified listing itself with each file's digest: when a few
files of a large directory changed, status compares the new listing with it and re-reads only
the changed files, without loading the whole stat cache or parsing the manifest.
"""

from __future__ import annotations

import marshal
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Both tables are created if missing, so a state.db from an older himo gains `dirs` on first use.
SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS state (
    inode INTEGER PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    digest TEXT NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS dirs (
    path TEXT PRIMARY KEY,
    listing TEXT NOT NULL,
    manifest TEXT NOT NULL,
    cache_stamp TEXT
)
""",
    """
CREATE TABLE IF NOT EXISTS dir_files (
    path TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    files BLOB NOT NULL
)
""",
)
# Looking up more keys than this loads the whole table once: one scan beats many queries.
BULK_THRESHOLD = 2000
CHUNK = 900


@dataclass(frozen=True)
class DirRecord:
    """What a tracked directory was last verified to hold."""

    listing: str  # walk.fingerprint() of its files when it was verified
    manifest: str  # digest of the manifest its files matched then
    cache_stamp: str | None  # ObjectDB.stamp() when every object of that manifest was in the cache


@dataclass(frozen=True)
class DirFiles:
    """A directory's verified files, as parallel lists in walk order (compared by position)."""

    rels: list[str]
    inodes: list[int]
    mtimes: list[int]
    sizes: list[int]
    digests: list[str]


class StateDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        # The whole table, once loaded: (inode, mtime_ns, size) -> digest.
        self._table: dict[tuple[int, int, int], str] | None = None
        self._lock = threading.RLock()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            # Shared by worker threads; every use below holds self._lock.
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            for statement in SCHEMA:
                self._conn.execute(statement)
        return self._conn

    def lookup(self, stats: Iterable[os.stat_result], bulk: bool = True) -> dict[int, str]:
        """Digests of the files whose stat still matches the recorded one, by inode.

        `bulk=False`: never load the whole table, query by inode (the table may hold many
        more rows than there are files to look up).
        """
        stats = list(stats)
        try:
            with self._lock:
                if self._table is None and len(stats) > BULK_THRESHOLD and bulk:
                    rows = self.conn.execute("SELECT inode, mtime_ns, size, digest FROM state").fetchall()
                    self._table = {(i, m, s): d for i, m, s, d in rows}
                if self._table is None:
                    return self._query(stats)
                table = self._table
        except sqlite3.Error:
            return {}  # an unreadable stat cache only costs re-hashing
        found = {}
        for st in stats:
            digest = table.get((st.st_ino, st.st_mtime_ns, st.st_size))
            if digest is not None:
                found[st.st_ino] = digest
        return found

    def get(self, st: os.stat_result) -> str | None:
        return self.lookup([st]).get(st.st_ino)

    def _query(self, stats: list[os.stat_result]) -> dict[int, str]:
        wanted = {(st.st_ino, st.st_mtime_ns, st.st_size) for st in stats}
        inodes = [st.st_ino for st in stats]
        found: dict[int, str] = {}
        for start in range(0, len(inodes), CHUNK):
            chunk = inodes[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT inode, mtime_ns, size, digest FROM state WHERE inode IN ({marks})"
            for inode, mtime_ns, size, digest in self.conn.execute(sql, chunk):
                if (inode, mtime_ns, size) in wanted:
                    found[inode] = digest
        return found

    def save(self, items: Iterable[tuple[os.stat_result, str]]) -> None:
        """Record (stat, digest) pairs in one transaction."""
        rows = [(st.st_ino, st.st_mtime_ns, st.st_size, digest) for st, digest in items]
        if not rows:
            return
        try:
            self._save_rows(rows)
        except sqlite3.Error:
            pass  # full disk or read-only state.db: the next run re-hashes, nothing is lost

    def _save_rows(self, rows: list[tuple[int, int, int, str]]) -> None:
        with self._lock:
            if self._table is not None:
                self._table.update(((inode, mtime, size), digest) for inode, mtime, size, digest in rows)
            with self.conn:
                self.conn.execute("BEGIN")
                self.conn.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)", rows)

    def dir_record(self, path: str) -> DirRecord | None:
        """The last record of the tracked directory `path` (repository-relative), if any."""
        try:
            with self._lock:
                sql = "SELECT listing, manifest, cache_stamp FROM dirs WHERE path = ?"
                row = self.conn.execute(sql, (path,)).fetchone()
        except sqlite3.Error:
            return None  # an unreadable stat cache only costs a full check
        return DirRecord(*row) if row else None

    def save_dir_record(self, path: str, record: DirRecord) -> None:
        """Remember that directory `path` held `record.manifest` while its listing was `record.listing`."""
        row = (path, record.listing, record.manifest, record.cache_stamp)
        try:
            with self._lock:
                self.conn.execute("INSERT OR REPLACE INTO dirs VALUES (?, ?, ?, ?)", row)
        except sqlite3.Error:
            pass  # full disk or read-only state.db: the next status checks in full, nothing is lost

    def dir_files(self, path: str, manifest: str) -> DirFiles | None:
        """The files directory `path` held when it last matched `manifest`, with their digests."""
        try:
            with self._lock:
                sql = "SELECT files FROM dir_files WHERE path = ? AND manifest = ?"
                row = self.conn.execute(sql, (path, manifest)).fetchone()
            if row is None:
                return None
            files = DirFiles(*marshal.loads(row[0]))
        except (sqlite3.Error, ValueError, EOFError, TypeError):
            return None  # unreadable: a full check
        columns = (files.rels, files.inodes, files.mtimes, files.sizes, files.digests)
        return files if len({len(column) for column in columns}) == 1 else None

    def save_dir_files(self, path: str, manifest: str, files: DirFiles) -> None:
        """Remember the files (stat and digest) of directory `path` while it matches `manifest`."""
        # marshal: 10x faster than JSON for 200,000 rows
        blob = marshal.dumps((files.rels, files.inodes, files.mtimes, files.sizes, files.digests))
        try:
            with self._lock:
                self.conn.execute("INSERT OR REPLACE INTO dir_files VALUES (?, ?, ?)", (path, manifest, blob))
        except sqlite3.Error:
            pass  # the next status after a change checks in full, nothing is lost

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class NoState(StateDB):
    """The null stat cache (dvc-data's StateNoop): remembers nothing, so every file is hashed.
    For folders whose files live for one use only, a Dask worker's scratch folder: a database
    there would cost its creation, a transaction per save and a close (~60 ms a stage) and never
    be read again."""

    def __init__(self) -> None:
        super().__init__(Path(os.devnull))

    def lookup(self, stats: Iterable[os.stat_result], bulk: bool = True) -> dict[int, str]:
        return {}

    def save(self, items: Iterable[tuple[os.stat_result, str]]) -> None:
        pass

    def dir_record(self, path: str) -> DirRecord | None:
        return None

    def save_dir_record(self, path: str, record: DirRecord) -> None:
        pass

    def dir_files(self, path: str, manifest: str) -> DirFiles | None:
        return None

    def save_dir_files(self, path: str, manifest: str, files: DirFiles) -> None:
        pass
