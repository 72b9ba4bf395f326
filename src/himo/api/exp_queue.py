"""The experiment queue: `himo exp run --queue`, `himo queue start/status/remove`.

Each queued experiment is a folder `.himo/exp-queue/SEQ-NAME/`, made under a temp name and renamed
into place (a reader sees it whole or not at all): `entry.json` (name, base commit, overrides,
targets) and `changes/`, a copy of the uncommitted changes when it was queued (`changes.json`
lists them, deleted ones as false), so the workspace may change while it waits.

A runner claims an entry by an exclusive `flock` on its `entry.json` (another runner, in this
process or another, passes over it), runs it, and deletes the folder once the experiment is
recorded. A runner killed (kill -9) lets go of its locks with its death: the next `queue start`
runs what was left, from the experiment it was running (that run's journal says it was aborted).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from himo.api.exp import ExpRecord, ExpSpec, local_dir, run_one
from himo.api.isolated import Changes, snapshot_changes, stop_all
from himo.errors import UsageError
from himo.workspace.atomic import write_text_atomic
from himo.workspace.repo import Repo

QUEUE_DIR = "exp-queue"
ENTRY = "entry.json"


@dataclass(frozen=True)
class QueueEntry:
    spec: ExpSpec
    folder: Path
    running: bool  # a runner holds it now

    @property
    def name(self) -> str:
        return self.spec.name


def queue_dir(repo: Repo) -> Path:
    return repo.himo_dir / QUEUE_DIR


def enqueue(repo: Repo, specs: list[ExpSpec], changes: Changes) -> list[QueueEntry]:
    """Queue `specs`, each with its own copy of `changes`."""
    folder = local_dir(queue_dir(repo))
    seq = max((int(p.name.split("-", 1)[0]) for p in _folders(repo)), default=0)
    made = []
    for spec in specs:
        seq += 1
        tmp = folder / f".tmp-{os.getpid()}-{spec.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        copied = snapshot_changes(changes, tmp / "changes")
        tmp.mkdir(exist_ok=True)
        listed = {rel: path is not None for rel, path in copied.files.items()}
        write_text_atomic(tmp / "changes.json", json.dumps(listed))
        write_text_atomic(tmp / ENTRY, json.dumps({"name": spec.name, "commit": spec.commit,
                                                   "overrides": spec.overrides, "targets": spec.targets,
                                                   "executor": spec.executor}))
        final = folder / f"{seq:06d}-{spec.name}"
        os.rename(tmp, final)
        made.append(QueueEntry(spec, final, False))
    return made


def _folders(repo: Repo) -> list[Path]:
    folder = queue_dir(repo)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name[:1].isdigit() and (p / ENTRY).is_file())


def _spec(folder: Path) -> ExpSpec:
    doc = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
    return ExpSpec(doc["name"], doc["commit"], list(doc["overrides"]), list(doc.get("targets", [])),
                   doc.get("executor", "local"))


def entries(repo: Repo) -> list[QueueEntry]:
    """The queue, in order; `running` for those a runner holds."""
    found = []
    for folder in _folders(repo):
        with contextlib.suppress(OSError, ValueError, KeyError):
            found.append(QueueEntry(_spec(folder), folder, _held(folder)))
    return found


def queued_names(repo: Repo) -> set[str]:
    return {e.name for e in entries(repo)}


def _held(folder: Path) -> bool:
    with _claim(folder) as claimed:
        return not claimed


@contextlib.contextmanager
def _claim(folder: Path) -> Iterator[bool]:
    """Hold the entry for the block (True), or False if another runner has it or it is gone."""
    try:
        fd = os.open(folder / ENTRY, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    try:
        yield folder.exists()
    finally:
        os.close(fd)


def remove(repo: Repo, names: list[str], all_: bool = False) -> list[str]:
    """Take experiments out of the queue (all with `all_`); refuses running ones, and unknown names."""
    queued = {e.name: e for e in entries(repo)}
    wanted = list(queued) if all_ else names
    unknown = [n for n in wanted if n not in queued]
    if unknown:
        raise UsageError(f"no queued experiment named {unknown[0]!r}", "see `himo queue status`")
    removed = []
    for name in wanted:
        with _claim(queued[name].folder) as claimed:
            if not claimed:
                raise UsageError(f"experiment {name!r} is running", "wait for it, or stop its `queue start`")
            shutil.rmtree(queued[name].folder)
            removed.append(name)
    return removed


def start(repo: Repo, jobs: int = 1, echo: Callable[[str], None] = lambda _: None,
          only: list[str] | None = None) -> list[ExpRecord]:
    """Run the queue (only the experiments `only`, if given), `jobs` at once; the records made."""
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be at least 1", "run with -j 1 or more")
    done: list[ExpRecord] = []
    mutex = threading.Lock()
    pending = [e.folder for e in entries(repo) if only is None or e.name in only]

    def worker() -> None:
        while True:
            with mutex:
                if not pending:
                    return
                folder = pending.pop(0)
            record = _run_entry(repo, folder, echo if jobs == 1 else _prefixed(echo, folder))
            if record is not None:
                with mutex:
                    done.append(record)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(worker) for _ in range(min(jobs, len(pending)) or 1)]
        try:
            for future in futures:
                future.result()
        except BaseException:  # Ctrl-C, SIGTERM, a failure: the others stop too, and stay queued
            with mutex:
                pending.clear()
            stop_all()
            raise
    return done


def _prefixed(echo: Callable[[str], None], folder: Path) -> Callable[[str], None]:
    name = folder.name.split("-", 1)[1]
    return lambda line: echo(f"[{name}] {line}")


def _run_entry(repo: Repo, folder: Path, echo: Callable[[str], None]) -> ExpRecord | None:
    with _claim(folder) as claimed:
        if not claimed:
            return None
        spec = _spec(folder)
        echo(f"Running experiment '{spec.name}'")
        listed = json.loads((folder / "changes.json").read_text(encoding="utf-8"))
        changes = Changes({rel: (folder / "changes" / rel) if kept else None for rel, kept in listed.items()})
        record = run_one(repo, spec, changes, echo)
        shutil.rmtree(folder)
    return record
