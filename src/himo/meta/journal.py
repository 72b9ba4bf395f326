"""Journals: the records of one himo invocation, appended to `.himo/journal/*.jsonl`.

The writer holds an exclusive flock on its file for its whole life. A reader that can take
the lock knows the writer has finished, or died (the kernel drops a dead process's locks):
then a run without a `run_end` was killed or crashed, and is closed as `aborted`. A file
whose lock is held belongs to a live command; its complete lines can still be delivered
(records are idempotent) so a long run shows as running in the store.

While its command lives, the writer touches the file every second: its mtime is the last sign
of life, the end time given to a killed run (a stage killed after an hour took an hour).

A file is never seen unlocked by a delivery before its writer is done: the writer creates it,
locks it, and checks that it still has a name (a delivery that took the lock first may have
delivered the empty file and removed it); if not, it starts again under a new name.

A line that cannot be applied (not JSON, a missing id, a wrong type, a value the database refuses)
never blocks the others: they are delivered, and once its writer is done the journal is moved to
`quarantine/` with a `.errors` file naming each bad line, for a person to look at.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from himo.meta.records import FORMAT_VERSION, Record, finite, now, problem

SUFFIX = ".jsonl"
HEARTBEAT_SECONDS = 1.0  # how precisely a killed command's end is known
TAIL = 4096  # bytes read from a journal's end to find its last record
QUARANTINE = "quarantine"  # the journal folder's subfolder for journals holding bad records


class JournalWriter:
    """Appends records, one JSON line per write(2), so a crash tears at most the last line."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            # Never committed by accident, even in repositories made before .himo/.gitignore named it.
            (folder / ".gitignore").write_text("*\n")
        self.path, self._fd = _create_locked(folder)
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
        try:
            text = json.dumps(record, separators=(",", ":"), default=str, allow_nan=False)
        except ValueError:  # a NaN or infinity (rare): as text, so the journal stays strict JSON
            text = json.dumps(finite(record), separators=(",", ":"), default=str, allow_nan=False)
        line = (text + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)  # releases the lock: readers may now deliver and remove the file
                self._fd = -1


def _create_locked(folder: Path) -> tuple[Path, int]:
    """A new journal file, locked before any delivery can take it for a finished, empty one."""
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = folder / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:  # still named: no delivery removed it in between
            return path, fd
        os.close(fd)


@dataclass
class Rejected:
    """A journal line that cannot be applied."""

    line: int  # its number in the journal, from 1
    reason: str  # one line: why

    def __post_init__(self) -> None:
        # It quotes the record: one printable line of bounded length, whatever the record held.
        text = " ".join(self.reason.split())[:300]
        self.reason = text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class Claimed:
    """A journal file being delivered: its records, and whether its writer is gone."""

    path: Path
    records: list[Record]
    finished: bool  # writer closed it or died: remove after delivery
    fd: int = field(repr=False, default=-1)
    lines: list[int] = field(default_factory=list)  # each record's line number (0: made here)
    rejected: list[Rejected] = field(default_factory=list)  # lines left out

    def release(self, delivered: bool) -> Path | None:
        """Done with the file: a finished, delivered journal is removed, or moved to quarantine
        when lines were left out (then its new path is returned)."""
        moved = None
        try:
            if delivered and self.finished:
                if self.rejected:
                    moved = quarantine(self.path, self.rejected)
                else:
                    self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
        return moved


def quarantine(path: Path, rejected: list[Rejected]) -> Path:
    """Move a journal to quarantine/ whole (its good lines were delivered: delivering them again
    changes nothing), with NAME.errors beside it saying which lines were left out and why."""
    folder = path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    errors = "".join(f"line {r.line}: {r.reason}\n" for r in rejected)
    tmp = folder / f".{path.name}.errors.tmp"
    tmp.write_text(errors, encoding="utf-8")
    os.replace(tmp, folder / f"{path.name}.errors")
    os.replace(path, target)
    return target


def quarantined(folder: Path) -> list[Path]:
    """Journals kept in quarantine, oldest first."""
    try:
        return sorted(p for p in (folder / QUARANTINE).iterdir() if p.name.endswith(SUFFIX))
    except (FileNotFoundError, NotADirectoryError):
        return []


def pending(folder: Path) -> list[Path]:
    """Journal files waiting for delivery, oldest first."""
    try:
        return sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []


def signature(folder: Path) -> tuple[tuple[str, int, bool], ...]:
    """What a delivery would find: each pending journal's name, size and whether its writer is
    alive. Equal signatures mean nothing new to deliver (a journal grows with every record; its
    heartbeat changes only its mtime), so readers deliver only when it changed. A listdir, and
    per journal an open, a stat and a flock probe."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(SUFFIX))
    except OSError:
        return ()
    found = []
    for name in names:
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            size = os.fstat(fd).st_size
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                alive = False
            except BlockingIOError:
                alive = True
        finally:
            os.close(fd)
        found.append((name, size, alive))
    return tuple(found)


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
    # Empty: a dead writer recorded nothing.
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
    records, lines, rejected = parse(data, finished)
    if finished:
        # The file's mtime is the writer's last sign of life; the kernel's clock for it is
        # coarse, so it may read a little before the last record's own time.
        last = datetime.fromtimestamp(mtime, UTC).isoformat(timespec="microseconds")
        closing = close_abandoned(records, max([last, *(str(r.get("at", "")) for r in records)]))
        records += closing
        lines += [0] * len(closing)
    return Claimed(path, records, finished, fd, lines, rejected)


def parse(data: bytes, finished: bool) -> tuple[list[Record], list[int], list[Rejected]]:
    """A journal's records that can be applied, the line number of each, and the lines that
    cannot. Past the last newline is a write in progress, unless the writer is gone (then a
    torn write, kept in quarantine like any bad line)."""
    records: list[Record] = []
    lines: list[int] = []
    rejected: list[Rejected] = []
    *complete, rest = data.split(b"\n")
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        record, reason = _record(line)
        if reason:
            rejected.append(Rejected(number, reason))
        else:
            records.append(record)
            lines.append(number)
    if finished and rest.strip():
        rejected.append(Rejected(len(complete) + 1, "unfinished last line (its writer stopped mid-write)"))
    return records, lines, rejected


def _record(line: bytes) -> tuple[Record, str | None]:
    try:
        # NaN, Infinity, -Infinity (journals of an older himo): their text, as the writer writes now
        record = json.loads(line, parse_constant=str)
    except (ValueError, RecursionError) as error:
        return {}, f"not JSON ({type(error).__name__})"
    return record, problem(record)


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
