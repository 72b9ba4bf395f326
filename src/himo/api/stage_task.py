"""One stage run away from the user's workspace, sharing nothing with it but git and the remote.

What a Dask worker does with a stage (`himo.api.dask_executor` ships it as a `StageTask`):

1. materialise the stage's commit in a scratch folder of its own: its files are read once per
   worker (`git archive` from a bare mirror kept in the worker's scratch root, fetched from the
   client's folder or its origin when the commit is new to it), then written for each stage;
2. write over it the files shipped with the task (the client's himo.yaml and params files as they
   are now: uncommitted changes and overrides included);
3. fetch the stage's deps from the remote by digest (each object verified) into the worker's own
   cache, and place them;
4. run the commands (`pipeline.executor`, the same runner as local repro: its log, its watchdog);
5. store every output in the worker's cache and push it to the remote;
6. hand back the outputs' digests and the log. The scratch folder is then deleted (in the
   background).

Nothing else is made per stage: no git process, no stat cache database, no config read.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import queue
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from himo.api.transfer import fetch_objects, push_objects, remote_errors
from himo.errors import ExecutorError
from himo.model import HashInfo
from himo.model.stage import DepState, Stage
from himo.objects.ingest import Ingester
from himo.objects.links import Linker
from himo.objects.odb import ObjectDB
from himo.objects.state import NoState, StateDB
from himo.objects.tree import place_path, store_path
from himo.pipeline.executor import Executor
from himo.remotes.base import Remote
from himo.remotes.local import LocalRemote
from himo.remotes.registry import open_remote
from himo.workspace.ignore import ignored_in
from himo.workspace.repo import HIMO_DIR, Repo

REMOTE_JOBS = 4  # transfers at once between a worker and the remote


@dataclass
class StageTask:
    """A stage and everything a worker needs to run it, by value (pickled to the worker)."""

    token: str  # this stage in this run, the same for every attempt
    stage: Stage
    git_urls: list[str]  # where the commit can be fetched, tried in order (client folder, origin)
    commit: str | None  # None: the repository has no commit yet; the scratch starts empty
    subdir: str  # the himo root below the git root, POSIX ("" when they are the same)
    files: dict[str, bytes]  # written over the commit: himo.yaml and params files as the client has them
    inputs: tuple[DepState, ...]  # deps (and persistent outputs) to fetch by digest
    remote: dict[str, Any]  # the remote's options, its URL absolute, plus its "name"
    prefix: str = ""


@dataclass
class TaskResult:
    attempt: str  # this attempt's id
    host: str  # where it ran
    code: int  # as StageOutcome.code
    outs: tuple[DepState, ...] = ()  # stored and pushed, if code == 0 and nothing is missing
    missing: list[str] = field(default_factory=list)
    log: bytes = b""
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, for benchmarks


def run_stage(task: StageTask, scratch: Path, attempt: str, host: str,
              running: Callable[[Executor | None], None] = lambda _: None) -> TaskResult:
    """Run `task` in a fresh folder below `scratch` (the worker's: its git mirrors and its cache
    live there too); `running` is told the command runner while the commands run (to stop it)."""
    folder = scratch / "runs" / attempt
    timings: dict[str, float] = {}
    try:
        with _timed(timings, "checkout"):
            root = _materialise(task, scratch, folder)
        repo = ScratchRepo(root, scratch / "cache")
        ingester = repo.ingester()
        store = open_remote(task.remote["name"], task.remote, REMOTE_JOBS, str(root))
        with repo, _timed(timings, "fetch"):
            fetch_objects(repo, store, {d.path: _info(d) for d in task.inputs})
            for dep in task.inputs:
                place_path(ingester, root / dep.path, _info(dep))
        result = _run(task, repo, ingester, store, running, timings)
        result.attempt, result.host, result.timings = attempt, host, timings
        return result
    finally:
        _discard(folder)


DISCARDED: queue.SimpleQueue[Path] = queue.SimpleQueue()  # scratch folders to delete
DELETER_LOCK = threading.Lock()
_deleter: list[threading.Thread] = []  # the worker's one deleting thread, once started


def _discard(folder: Path) -> None:
    """Delete `folder` in the background: the stage's result need not wait for it (deleting a
    folder's files was a fifth of a no-op stage's time on a worker)."""
    with DELETER_LOCK:
        if not _deleter:
            _deleter.append(threading.Thread(target=_delete_discarded, name="himo-scratch-deleter",
                                             daemon=True))
            _deleter[0].start()
    DISCARDED.put(folder)


def _delete_discarded() -> None:
    while True:
        shutil.rmtree(DISCARDED.get(), ignore_errors=True)


def _run(task: StageTask, repo: Repo, ingester: Ingester, store: Remote,
         running: Callable[[Executor | None], None], timings: dict[str, float]) -> TaskResult:
    commands = Executor(repo.root, lambda _line: None)
    log = repo.himo_dir / "stage.log"
    running(commands)
    try:
        with _timed(timings, "run"):
            code = commands.run(task.stage, log, task.prefix)
    finally:
        running(None)
    text = log.read_bytes() if log.exists() else b""
    if code != 0:
        return TaskResult("", "", code, log=text)
    missing = [o.path for o in task.stage.outs if not (repo.root / o.path).exists()]
    if missing:
        return TaskResult("", "", 0, missing=missing, log=text)
    with repo, _timed(timings, "push"):
        infos = {o.path: store_path(ingester, repo.root / o.path, ignored_in(repo.root, repo.root / o.path))
                 for o in task.stage.outs}
        push_objects(repo, store, infos)
    outs = tuple(DepState(path, i.digest, i.size, i.nfiles) for path, i in infos.items())
    return TaskResult("", "", 0, outs, log=text)


def _info(state: DepState) -> HashInfo:
    return HashInfo(state.digest or "", state.size, state.nfiles)


@contextlib.contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = time.perf_counter() - started


def _materialise(task: StageTask, scratch: Path, folder: Path) -> Path:
    """The commit, then the shipped files, in `folder`; the himo root inside it."""
    folder.mkdir(parents=True)
    for entry in _tree(scratch, task):
        _write(folder / entry.path, entry)
    root = folder / task.subdir if task.subdir else folder
    for path, data in task.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


@dataclass(frozen=True)
class Entry:
    """One file of a commit, as `git archive` gives it."""

    path: str  # relative, POSIX
    kind: str  # "dir", "file" or "link"
    mode: int  # permission bits
    data: bytes  # a file's content, a link's target


TREES: dict[tuple[str, str], tuple[Entry, ...]] = {}  # (scratch, commit) -> its files: one archive per commit
KEPT_TREES = 4
TREES_LOCK = threading.Lock()


def _tree(scratch: Path, task: StageTask) -> tuple[Entry, ...]:
    """The files of the task's commit, read once per worker (a tar parsed anew for each stage
    cost more than writing the files)."""
    if task.commit is None:
        return ()
    key = (str(scratch), task.commit)
    with TREES_LOCK:  # a worker's threads share it
        if key not in TREES:
            mirror = _mirror(scratch, task.git_urls, task.commit)
            while len(TREES) >= KEPT_TREES:
                TREES.pop(next(iter(TREES)))
            TREES[key] = _entries(_git(mirror, "archive", "--format=tar", task.commit))
        return TREES[key]


def _entries(archive: bytes) -> tuple[Entry, ...]:
    entries = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if member.name.startswith("/") or ".." in parts:  # git never writes these: refuse them anyway
                continue
            if member.isdir():
                entries.append(Entry(member.name, "dir", member.mode, b""))
            elif member.issym():
                entries.append(Entry(member.name, "link", member.mode, member.linkname.encode()))
            elif member.isfile():
                data = tar.extractfile(member)
                entries.append(Entry(member.name, "file", member.mode, data.read() if data else b""))
    return tuple(entries)


def _write(target: Path, entry: Entry) -> None:
    if entry.kind == "dir":
        target.mkdir(parents=True, exist_ok=True)
    elif entry.kind == "link":
        os.symlink(entry.data.decode(), target)
    else:
        with open(target, "wb") as f:
            f.write(entry.data)
        if entry.mode & 0o111:
            os.chmod(target, entry.mode & 0o777)


def _mirror(scratch: Path, urls: list[str], commit: str) -> Path:
    """A bare mirror (one per repository, kept between tasks) that holds `commit`. Named after the
    last URL, the repository's origin: an experiment's scratch clone (first in `urls`, new each
    time) shares the mirror of the user's repository."""
    key = hashlib.sha256(urls[-1].encode()).hexdigest()[:16]
    mirror = scratch / "git" / f"{key}.git"
    mirror.parent.mkdir(parents=True, exist_ok=True)
    with open(mirror.parent / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the worker's threads share its mirrors
        if not mirror.exists():
            subprocess.run(["git", "init", "--quiet", "--bare", str(mirror)], check=True, capture_output=True)
        if _has_commit(mirror, commit):
            return mirror
        errors = []
        for url in urls:
            try:
                _git(mirror, "fetch", "--quiet", "--no-tags", url, commit)
                return mirror
            except ExecutorError as error:
                errors.append(error.message)
        raise ExecutorError(f"commit {commit[:12]} cannot be fetched on the worker: {'; '.join(errors)}",
                            "push the commit to the repository's origin (git push), which the workers read")


def _has_commit(mirror: Path, commit: str) -> bool:
    return subprocess.run(["git", "--git-dir", str(mirror), "cat-file", "-e", f"{commit}^{{commit}}"],
                          capture_output=True).returncode == 0


def _git(mirror: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", "--git-dir", str(mirror), *args], capture_output=True)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ExecutorError(f"git {args[0]} failed: {lines[-1] if lines else proc.returncode}")
    return proc.stdout


class ScratchRepo(Repo):
    """A himo repository in a worker's scratch folder whose cache is the worker's (kept between
    tasks). Its services are fixed, none read from its config (read per stage, it cost more than
    the rest of the set-up): a null stat cache (its files live for this task only), copies (a
    command that writes into a dep must never write into the cache), REMOTE_JOBS transfers."""

    def __init__(self, root: Path, cache: Path) -> None:
        super().__init__(root)
        self.cache = cache
        (root / HIMO_DIR).mkdir(exist_ok=True)

    @cached_property
    def odb(self) -> ObjectDB:
        return ObjectDB(self.cache)

    @cached_property
    def state(self) -> StateDB:
        return NoState()

    @cached_property
    def linker(self) -> Linker:
        return Linker(("copy",))

    @cached_property
    def jobs(self) -> int:
        return REMOTE_JOBS


def check_remote(remote: dict[str, Any]) -> str | None:
    """On a worker, before any stage: can it reach the remote? None, or what went wrong."""
    try:
        store = open_remote(remote["name"], remote, 1, os.getcwd())
        with remote_errors(store):
            store.existing(["0" * 64])
            if isinstance(store, LocalRemote) and not os.path.isdir(store.root):
                return f"remote {remote['name']!r}: folder {store.root} does not exist on this worker"
    except Exception as exc:  # boundary: whatever it is, the client reports it as one line
        return str(exc)
    return None
