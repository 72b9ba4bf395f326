"""Isolated runs: the pipeline run in a scratch workspace made from a commit, never in the user's.

One mechanism for experiments (`himo exp run`), scheduled runs and anything else that must run
the pipeline without touching the user's files, himo.lock, git index or HEAD:

    with isolated_workspace(repo, "HEAD", changes=workspace_changes(repo),
                            overrides=overrides.sweep(["train.alpha=0.5"])[0]) as ws:
        results = ws.run(["train"], ReproOptions(jobs=2))
        outcome = ws.outcome()        # himo.lock, params, metrics, outputs by digest

What a scratch workspace is, under `.himo/tmp/iso-PID-XXXX/` (or `scratch_dir`):
- a shared clone of the repository (its objects borrowed through objects/info/alternates, as
  `git clone --shared` does: nothing written into the user's .git; no refs copied), checked out
  detached at the commit; its origin is the user's, so records name one repo;
- the user's uncommitted changes on top when asked (`Changes`: tracked files changed or deleted,
  untracked files git does not ignore: himo.yaml, params, pointers ...), then the overrides;
- its `.himo/` sharing the repository's `cache`, `runs` (the run-cache), `logs` and `journal` by
  symlinks, so outputs stay in the one cache, unchanged stages are restored from the run-cache,
  and executions are recorded in the repository's metadata store (config.local copied, with
  `meta.url` set to the repository's store). Its own repository lock: a run here never waits for,
  nor blocks, a command in the user's workspace. Cache writes are atomic (temp name + rename),
  so workspaces running at once share the cache safely;
- pointers' data and himo.lock's outputs placed from the cache (those the cache has), so stages
  the run does not change are up to date there, as in the user's workspace.

The scratch folder is deleted when the block ends. Its owner holds a lock on `SCRATCH/.owner` while
it lives; `clean_scratch` (called by every new isolated workspace) deletes folders whose owner died
(kill -9), and nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import stat
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from himo.api.recording import RunRecorder, origin_url, recording, store_url
from himo.api.repro import Reproducer, ReproOptions, StageResult, select
from himo.errors import HimoError, ScmError
from himo.model import HashInfo
from himo.objects.leftovers import running
from himo.objects.tree import place_path, tree_objects
from himo.pipeline import overrides as ov
from himo.pipeline.loader import load_stages
from himo.pipeline.lockfile import LOCK_FILE, read_lock
from himo.pipeline.params import flatten, read_metrics
from himo.workspace.git import NO_INDEX_REFRESH, Git
from himo.workspace.repo import HIMO_DIR, Repo

SHARED = ("cache", "runs", "logs", "journal")  # .himo/ folders a scratch workspace shares by symlink
PREFIX = "iso-"  # scratch folder names: iso-PID-RANDOM
OWNER = ".owner"  # flock-held by the process using the scratch folder
MAX_CARRIED = 1024 * 1024  # bytes: a changed file bigger than this is not kept in an outcome


@dataclass(frozen=True)
class Changes:
    """Uncommitted work to carry into a scratch workspace: git-root-relative path -> the file
    holding its content now (None: deleted). Files are read when the workspace is made."""

    files: dict[str, Path | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.files)


@dataclass
class Outcome:
    """What a run in a scratch workspace produced, read before the folder goes."""

    lock_text: str  # its himo.lock ('' if none)
    params: dict[str, dict[str, Any]]  # params file -> {dotted key: value}, as the stages read them
    metrics: dict[str, dict[str, Any]]  # metrics file -> {dotted key: value}
    outputs: dict[str, str]  # cached output path -> digest (himo.lock's outs)
    files: dict[str, str | None]  # git-root-relative text files that differ from the base commit
    executables: list[str] = field(default_factory=list)  # those of `files` that are executable


def _git(repo: Repo) -> Git:
    if repo.git is None:
        raise ScmError("isolated runs need git: the workspace is made from a commit",
                       "run `git init && git add -A && git commit -m init`, then retry")
    return repo.git


def workspace_changes(repo: Repo) -> Changes:
    """The user's uncommitted changes: tracked files that differ from HEAD (deleted ones as
    None) and untracked files that git does not ignore."""
    git = _git(repo)
    files: dict[str, Path | None] = {}
    if git.has_commits():
        # diff-index (plumbing): `git diff` may rewrite the user's index to refresh stat data
        changed = git.run("diff-index", "--name-status", "--no-renames", "-z", "HEAD").decode().split("\0")
        for status, path in zip(changed[::2], changed[1::2], strict=False):
            files[path] = None if status == "D" else git.root / path
    untracked = git.run("ls-files", "--others", "--exclude-standard", "-z").decode().split("\0")
    files.update({p: git.root / p for p in untracked if p})
    return Changes(files)


def snapshot_changes(changes: Changes, dest: Path) -> Changes:
    """A copy of `changes` in `dest` (for a queued run: the workspace may change before it runs)."""
    copied: dict[str, Path | None] = {}
    for rel, source in changes.files.items():
        if source is None or not source.is_file():
            copied[rel] = None
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        copied[rel] = target
    return Changes(copied)


class IsolatedWorkspace:
    """A scratch workspace (see the module's docstring): `repo` is it, `source` the user's."""

    def __init__(self, source: Repo, repo: Repo, git_root: Path, commit: str) -> None:
        self.source = source
        self.repo = repo
        self.git_root = git_root  # the clone's root (repo.root, or above it)
        self.commit = commit  # the base commit, resolved

    def run(self, targets: list[str] | None = None, opts: ReproOptions | None = None,
            echo: Callable[[str], None] = lambda _: None, command: str = "repro",
            args: list[str] | None = None,
            on_end: Callable[[RunRecorder, list[StageResult]], None] | None = None) -> list[StageResult]:
        """Run the pipeline here as `himo repro` would (never raising for a failed stage: see each
        result's status), recorded as a run of `command` in the repository's store. `on_end` is
        called with the recorder before the run's record closes, to add records of its own."""
        opts = opts or ReproOptions()
        with self.repo.lock():
            reproducer = Reproducer(self.repo, opts, echo)
            names = select(reproducer.dag, list(targets or []), opts)
            with recording(self.repo, command, list(args or []), deliver_from=self.source) as recorder:
                reproducer.recorder = recorder
                with _running(reproducer):
                    results = reproducer.run(names)
                statuses = {r.status for r in results}
                recorder.outcome = "aborted" if "aborted" in statuses else \
                    "failed" if "failed" in statuses else "succeeded"
                if on_end is not None:
                    on_end(recorder, results)
        return results

    def outcome(self) -> Outcome:
        lock = read_lock(self.repo.root)
        lock_file = self.repo.root / LOCK_FILE
        params: dict[str, dict[str, Any]] = {}
        for entry in lock.values():
            for file, values in entry.params.items():
                params.setdefault(file, {}).update(flatten(values) if isinstance(values, dict) else {})
        outputs = {o.path: o.digest for e in lock.values() for o in e.outs if o.digest}
        files = self.changed_files()
        return Outcome(lock_file.read_text(encoding="utf-8") if lock_file.exists() else "", params,
                       self._metrics(), outputs, files, self._executables(files))

    def _executables(self, files: dict[str, str | None]) -> list[str]:
        """The changed files with the owner's execute bit: git commits them 100755 (scripts)."""
        return sorted(p for p, text in files.items()
                      if text is not None and os.stat(self.git_root / p).st_mode & stat.S_IXUSR)

    def _metrics(self) -> dict[str, dict[str, Any]]:
        found = {}
        for stage in load_stages(self.repo.root):
            for out in stage.outs:
                values = read_metrics(self.repo.root / out.path, out.path) if out.role == "metrics" else None
                if values is not None:
                    found[out.path] = values
        return found

    def changed_files(self) -> dict[str, str | None]:
        """Text files in git's view that differ from the base commit (params, himo.lock, code ...):
        path -> content, None when deleted. Outputs are git-ignored, so not among them; files
        over MAX_CARRIED bytes or not UTF-8 text are left out (experiments change small text files)."""
        git = Git(self.git_root)
        git.run("add", "-A", "--intent-to-add")
        names = git.run("diff", "--name-status", "--no-renames", "-z", self.commit).decode().split("\0")
        files: dict[str, str | None] = {}
        for status, path in zip(names[::2], names[1::2], strict=False):
            if status == "D":
                files[path] = None
                continue
            with contextlib.suppress(UnicodeDecodeError, OSError):
                with open(self.git_root / path, "rb") as f:
                    data = f.read(MAX_CARRIED + 1)
                if len(data) <= MAX_CARRIED:
                    files[path] = data.decode("utf-8")
        return files


_ACTIVE: set[Reproducer] = set()  # runs in scratch workspaces of this process, for stop_all
_ACTIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def _running(reproducer: Reproducer) -> Iterator[None]:
    with _ACTIVE_LOCK:
        _ACTIVE.add(reproducer)
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(reproducer)


def stop_all() -> None:
    """Stop every isolated run of this process (their running stages end, recorded as aborted):
    what Ctrl-C does to runs in threads other than the one it interrupts."""
    with _ACTIVE_LOCK:
        running = list(_ACTIVE)
    for reproducer in running:
        reproducer.executor.stop()


@contextlib.contextmanager
def isolated_workspace(repo: Repo, commit: str = "HEAD", changes: Changes | None = None,
                       overrides: list[ov.Override] | None = None, scratch_dir: Path | None = None,
                       place: bool = True, resolved: bool = False) -> Iterator[IsolatedWorkspace]:
    """A scratch workspace of `repo` at `commit` with `changes` and `overrides` applied (see the
    module's docstring), deleted when the block ends. `place`: put pointers' data and himo.lock's
    outputs there from the cache; `resolved`: `commit` is a commit id git gave the caller already
    (not asked again). ScmError for an unknown commit, PipelineError for a bad override."""
    git = _git(repo)
    commit = commit if resolved else git.resolve(commit)
    base = scratch_dir or repo.himo_dir / "tmp"
    clean_scratch(repo, base)
    folder = base / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    owner = _own(folder)
    try:
        ws = _make(repo, git, commit, folder / "w", changes, overrides or [], place)
        yield ws
        ws.repo.close()
    finally:
        _remove(folder)
        os.close(owner)


def _own(folder: Path) -> int:
    fd = os.open(folder / OWNER, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _remove(folder: Path) -> None:
    def writable(func: Any, path: str, _exc: Any) -> None:  # a read-only folder a stage made
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o755)
            func(path)

    shutil.rmtree(folder, onerror=writable)


def clean_scratch(repo: Repo, base: Path | None = None) -> list[Path]:
    """Delete scratch folders under `base` whose owner died (its `.owner` lock is free); the ones
    deleted. Folders of living owners, and anything not named like a scratch folder, stay."""
    base = base or repo.himo_dir / "tmp"
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(base):
            if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                fd = os.open(os.path.join(entry.path, OWNER), os.O_RDWR)
            except FileNotFoundError:  # its maker was killed between mkdir and the lock, or is
                if _maker_alive(entry.name):  # there now (a second scheduler, a parallel exp)
                    continue
                fd = None
            try:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # type: ignore[arg-type]
                continue
            _remove(Path(entry.path))
            if fd is not None:
                os.close(fd)
            removed.append(Path(entry.path))
    return removed


def _maker_alive(name: str) -> bool:
    """Whether the process named in scratch folder `name` (iso-PID-RANDOM) still runs."""
    pid = name[len(PREFIX):].partition("-")[0]
    return pid.isdigit() and (int(pid) == os.getpid() or running(int(pid)))


def _make(source: Repo, git: Git, commit: str, dest: Path, changes: Changes | None,
          overrides: list[ov.Override], place: bool) -> IsolatedWorkspace:
    _shared_clone(source, git, commit, dest)
    root = dest / source.root.relative_to(git.root)
    for rel, content in (changes.files.items() if changes else ()):
        _carry(dest / rel, content)
    _share(source, root / HIMO_DIR)
    ws = IsolatedWorkspace(source, Repo(root), dest, commit)
    if overrides:
        ov.apply(root, overrides)
    if place:
        _place(ws.repo)
    return ws


def _shared_clone(source: Repo, git: Git, commit: str, dest: Path) -> None:
    """What `git clone --shared --no-checkout`, a detached checkout and `git remote set-url origin`
    make, in two git processes instead of three, and without copying the source's refs (the
    scratch needs one commit; a scheduled run waits for this): a new repository borrowing the
    source's objects through objects/info/alternates (as --shared does: nothing written into the
    user's .git), its origin the source's (so its records name the same repository)."""
    _run_git(["init", "--quiet", "--template=", str(dest)], git.root)  # no hook samples copied
    info = dest / ".git" / "objects" / "info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "alternates").write_text(f"{_objects_dir(git.root)}\n")
    with open(dest / ".git" / "config", "a", encoding="utf-8") as config:
        config.write(f'[remote "origin"]\n\turl = {_origin_value(source)}\n')
    Git(dest).run("checkout", "--quiet", "--detach", commit)


@functools.lru_cache(maxsize=8)
def _objects_dir(git_root: Path) -> Path:
    """The object folder of the repository at `git_root` (a worktree's is its main repository's),
    asked once per process: a scheduler makes a scratch workspace per run."""
    common = Git(git_root).run("rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(common.decode().strip()) / "objects"


def _origin_value(source: Repo) -> str:
    """remote.origin.url for the scratch's .git/config: the source's line as written there (valid
    config syntax already), else the source folder, quoted when git's syntax needs it."""
    found = origin_url(source)
    if found is not None:
        return found
    path = str(source.root)
    if any(c in path for c in '"\\;#') or path != path.strip():
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return path


def _run_git(args: list[str], cwd: Path) -> None:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False,
                          env={**os.environ, **NO_INDEX_REFRESH})
    if proc.returncode:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ScmError(f"git {args[0]} failed: {lines[-1] if lines else proc.returncode}",
                       "check that git works in this repository (`git status`)")


def _carry(target: Path, content: Path | None) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif os.path.lexists(target):
        target.unlink()
    if content is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(content, target)


def _share(source: Repo, himo_dir: Path) -> None:
    """The scratch's .himo/: the source's shared folders by symlink, its local config with the
    store named explicitly (a default SQLite store would otherwise be the scratch's own)."""
    if not himo_dir.is_dir():
        raise HimoError(f"the commit has no {HIMO_DIR}/ folder: it predates `himo init`",
                        "commit .himo/config and .himo/.gitignore first, then retry")
    for name in SHARED:
        (source.himo_dir / name).mkdir(exist_ok=True)
        os.symlink(source.himo_dir / name, himo_dir / name)
    local = source.himo_dir / "config.local"
    if local.exists():
        shutil.copy2(local, himo_dir / "config.local")
    config = Repo(himo_dir.parent).config.file(local=True)
    config.set(["meta", "url"], store_url(source))
    config.save()


def _place(repo: Repo) -> None:
    """Pointers' data and himo.lock's cached outputs from the cache, those whose objects it has
    (the rest: the run makes them, or the stage needing them fails naming them)."""
    from himo.api.contents import tracked

    ingester = repo.ingester()
    for pointer in tracked(repo):
        info = pointer.hash_info
        objects = tree_objects(ingester, info) if _has(ingester, info) else None
        if objects is not None and all(ingester.odb.exists(o) for o in objects):
            place_path(ingester, pointer.target, info)


def _has(ingester: Any, info: HashInfo) -> bool:
    return not info.isdir or ingester.odb.exists(info.digest)
