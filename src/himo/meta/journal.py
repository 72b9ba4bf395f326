"""Journals: the records of one himo invocation, appended to `.himo/journal/*.jsonl`.

The writer holds an exclusive flock on its file for its whole life. A reader that can take
the lock knows the writer has finished, or died (the kernel drops a dead process's locks):
then a run without a `run_end` was killed or crashed, and is closed as `aborted`. A file
whose lock is held belongs to a live command; its complete lines can still be delivered
(records are idempotent) so a long run shows as running in the store.

While its command lives, the writer touches the file every second: its mtime is the last sign
of life, the end time given to a killed run (a stage killed after an hour took an hour).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from himo.meta.records import FORMAT_VERSION, Record, now

SUFFIX = ".jsonl"
HEARTBEAT_SECONDS = 1.0  # how precisely a killed command's end is known
TAIL = 4096  # bytes read from a journal's end to find its last record


class JournalWriter:
    """Appends records, one JSON line per write(2), so a crash tears at most the last line."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            # Never committed by accident, even in repositories made before .himo/.gitignore named it.
            (folder / ".gitignore").write_text("*\n")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        self.path = folder / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._lock = threading.Lock()  # stages on several threads (repro -j) share one writer
        self._closed = threading.Event()
        threading.Thread(target=self._beat, name="himo-journal", daemon=True).start()

    def _beat(self) -> None:
        """Touch the file while the command lives, even through a stage that writes no record for hours."""
        while not self._closed.wait(HEARTBEAT_SECONDS):
            with self._lock:
                if self._fd >= 0:
                    with contextlib.suppress(OSError):
                        os.utime(self._fd)

    def write(self, record: Record) -> None:
        record = {"v": FORMAT_VERSION, "at": now(), **record}
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)  # releases the lock: readers may now deliver and remove the file
                self._fd = -1


@dataclass
class Claimed:
    """A journal file being delivered: its records, and whether its writer is gone."""

    path: Path
    records: list[Record]
    finished: bool  # writer closed it or died: remove after delivery
    fd: int = field(repr=False, default=-1)

    def release(self, delivered: bool) -> None:
        if delivered and self.finished:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def pending(folder: Path) -> list[Path]:
    """Journal files waiting for delivery, oldest first."""
    try:
        return sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []


def abandoned(folder: Path) -> list[Path]:
    """Journals whose writer died before ending its run (kill -9, a crash, power loss): lock free,
    and the last record is not a `run_end`. One listdir, and a few syscalls per journal found."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(SUFFIX))
    except OSError:
        return []
    return [folder / name for name in names if _writer_died(folder / name)]


def _writer_died(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        size = os.fstat(fd).st_size
        tail = os.pread(fd, TAIL, max(0, size - TAIL))
    except OSError:  # BlockingIOError: its writer holds the lock, so it is alive
        return False
    finally:
        os.close(fd)  # drops the lock at once
    # Empty: a writer between creating the file and locking it (a dead one recorded nothing).
    return size > 0 and b'"type":"run_end"' not in tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]


def claim(path: Path) -> Claimed | None:
    """Read a journal; for a finished one, keep its lock until `release` so no one else delivers it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # delivered by someone else meanwhile
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finished = True
    except BlockingIOError:
        finished = False
    with os.fdopen(os.dup(fd), "rb") as f:
        data = f.read()
    mtime = os.fstat(fd).st_mtime
    records = list(_complete_records(data))
    if finished:
        # The file's mtime is the writer's last sign of life; the kernel's clock for it is
        # coarse, so it may read a little before the last record's own time.
        last = datetime.fromtimestamp(mtime, UTC).isoformat(timespec="microseconds")
        records += close_abandoned(records, max([last, *(str(r.get("at", "")) for r in records)]))
    return Claimed(path, records, finished, fd)


def _complete_records(data: bytes) -> Iterator[Record]:
    for line in data.split(b"\n")[:-1]:  # the part after the last newline is a torn write
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("type"):
            yield record


def close_abandoned(records: list[Record], at: str) -> list[Record]:
    """`aborted` ends for runs and executions that started in a journal and never ended."""
    ended = {r.get("run_id") for r in records if r["type"] == "run_end"}
    ended |= {r.get("exec_id") for r in records if r["type"] == "exec_end"}
    closing: list[Record] = []
    for record in records:
        if record["type"] == "exec_start" and record["exec_id"] not in ended:
            closing.append({"type": "exec_end", "exec_id": record["exec_id"], "status": "aborted",
                            "ended_at": at, "inputs": [], "outputs": [], "note": "himo was killed"})
    for record in records:
        if record["type"] == "run_start" and record["run_id"] not in ended:
            closing.append({"type": "run_end", "run_id": record["run_id"], "status": "aborted",
                            "ended_at": at})
    return closing
