"""`himo exp run / apply / branch / remove`: experiments, pipeline runs in isolated workspaces.

An experiment is the pipeline run with `-S` overrides in a scratch workspace made from a commit
plus the user's uncommitted changes (himo.api.isolated): the user's files, himo.lock, index and
HEAD are never touched. Its outputs stay in the cache; the run, its executions and the experiment
(name, base commit, overrides, params, metrics, outputs by digest, the text files that differ from
the base commit) are recorded in the metadata store, and in `.himo/exps/NAME.json`, which `exp
apply`, `exp branch` and `gc` read (so they work without reaching the store; the store answers
`exp show`, also a team's with `--meta-url`).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from himo.api.isolated import Changes, isolated_workspace, workspace_changes
from himo.api.recording import RunRecorder, _repo_identity
from himo.api.repro import EXECUTORS, ReproOptions, StageResult
from himo.errors import HimoError, UsageError
from himo.meta.records import now
from himo.model.paths import path_problem
from himo.pipeline import overrides as ov
from himo.workspace.atomic import write_text_atomic
from himo.workspace.repo import Repo

EXPS_DIR = "exps"  # .himo/exps/NAME.json
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class ExpSpec:
    """One experiment to run: what `exp run` was asked, one point of a sweep."""

    name: str
    commit: str  # the base commit, resolved
    overrides: list[str]  # -S texts, one value each
    targets: list[str] = field(default_factory=list)  # stages ([]: the whole pipeline)
    executor: str = "local"  # where its stages run: local, or dask (see check_executor)


@dataclass
class ExpRecord:
    """An experiment that ran (the contents of .himo/exps/NAME.json)."""

    name: str
    run_id: str
    base_commit: str
    status: str  # succeeded | failed (an aborted run makes no record)
    overrides: list[str]
    targets: list[str]
    params: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    outputs: dict[str, str]  # output path -> digest
    files: dict[str, str | None]  # git path -> text (None: deleted), vs the base commit
    created_at: str
    stages: list[dict[str, Any]] = field(default_factory=list)  # [{name, status}] of this run
    # Those of `files` that are executable (git mode 100755); None when not known (a record
    # from the store, or an older one): `exp branch` then keeps the base commit's modes.
    executables: list[str] | None = None


def exps_dir(repo: Repo) -> Path:
    return repo.himo_dir / EXPS_DIR


def local_dir(folder: Path) -> Path:
    """`folder` made if needed, with a .gitignore of `*`: machine-local state git must not see
    (repositories made before it existed have no line for it in .himo/.gitignore)."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        write_text_atomic(ignore, "*\n")
    return folder


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UsageError(f"experiment name {name!r} is not allowed",
                         "use letters, digits, '.', '_' and '-' (at most 100), starting with a letter"
                         " or digit")
    return name


def local_names(repo: Repo) -> set[str]:
    from himo.api.exp_queue import queued_names

    folder = exps_dir(repo)
    done = {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()
    return done | queued_names(repo)


def plan(repo: Repo, set_values: list[str], name: str | None = None, targets: list[str] | None = None,
         commit: str = "HEAD", executor: str = "local") -> list[ExpSpec]:
    """The experiments `-S set_values` ask for (a sweep's product), checked against the
    workspace's params files and named (NAME, NAME-1, NAME-2 ... for a sweep; exp-XXXXXX if none)."""
    from himo.api.isolated import _git

    points = ov.sweep(list(set_values))
    for point in points:
        ov.apply(repo.root, point, write=False)  # a missing file or key: refused before anything runs
    base = _git(repo).resolve(commit)
    taken = local_names(repo)
    names = _names(name, len(points), taken)
    return [ExpSpec(n, base, [o.text for o in point], list(targets or []), executor)
            for n, point in zip(names, points, strict=True)]


def _names(name: str | None, count: int, taken: set[str]) -> list[str]:
    if name is None:
        return [_fresh(taken) for _ in range(count)]
    check_name(name)
    names = [name] if count == 1 else [f"{name}-{i}" for i in range(1, count + 1)]
    clash = [n for n in names if n in taken]
    if clash:
        raise UsageError(f"an experiment named {clash[0]!r} exists already",
                         "choose another name with -n, or `himo exp remove` the old one")
    return names


def _fresh(taken: set[str]) -> str:
    while True:
        name = f"exp-{uuid.uuid4().hex[:6]}"
        if name not in taken:
            taken.add(name)
            return name


def run_one(repo: Repo, spec: ExpSpec, changes: Changes | None, echo: Callable[[str], None] = lambda _: None,
            jobs: int = 1) -> ExpRecord:
    """Run one experiment in an isolated workspace, record it, and return its record."""
    overrides = [o for text in spec.overrides for o in ov.parse(text)]
    record: dict[str, Any] = {}

    def finish(recorder: RunRecorder, results: list[StageResult]) -> None:
        outcome = ws.outcome()
        status = recorder.outcome
        if status == "aborted":  # stopped: no experiment (a queued one stays queued)
            record.update(name=spec.name, status=status)
            return
        record.update(name=spec.name, run_id=recorder.run_id, base_commit=spec.commit, status=status,
                      overrides=spec.overrides, targets=spec.targets, params=outcome.params,
                      metrics=outcome.metrics, outputs=outcome.outputs, files=outcome.files,
                      created_at=now(), stages=[{"name": r.name, "status": r.status} for r in results],
                      executables=outcome.executables)
        local = ("name", "run_id", "created_at", "stages", "executables")  # not in the store
        fields = {k: v for k, v in record.items() if k not in local}
        recorder.experiment(spec.name, **fields)

    with isolated_workspace(repo, spec.commit, changes, overrides) as ws:
        ws.run(spec.targets, repro_options(jobs, spec.executor), echo, "exp", _args(spec), on_end=finish)
    if record["status"] == "aborted":
        raise KeyboardInterrupt
    result = ExpRecord(**record)
    save(repo, result)
    return result


def _args(spec: ExpSpec) -> list[str]:
    return ["run", "-n", spec.name, *[a for text in spec.overrides for a in ("-S", text)], *spec.targets]


def save(repo: Repo, record: ExpRecord) -> None:
    local_dir(exps_dir(repo))
    write_text_atomic(exps_dir(repo) / f"{record.name}.json", json.dumps(asdict(record), indent=1))


def load(repo: Repo, name: str) -> ExpRecord:
    """The experiment `name`: this repository's record, else the store's (a teammate's)."""
    check_name(name)
    path = exps_dir(repo) / f"{name}.json"
    if path.is_file():
        return ExpRecord(**json.loads(path.read_text(encoding="utf-8")))
    from himo.api.recording import reading

    with reading(repo) as meta:
        rows = meta.experiments(_repo_identity(repo), [name])
    if not rows:
        raise UsageError(f"no experiment named {name!r}", "see `himo exp show` for the experiments")
    row = rows[0]
    return ExpRecord(row.name, row.id, row.base_commit, row.status, row.overrides, row.targets, row.params,
                     row.metrics, row.outputs, row.files, row.created_at.isoformat())


def records(repo: Repo) -> list[ExpRecord]:
    """Every experiment recorded in this repository (.himo/exps/), oldest first."""
    folder = exps_dir(repo)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append(ExpRecord(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(found, key=lambda r: r.created_at)


def _checked(record: ExpRecord) -> ExpRecord:
    """`record` if every path in it follows the rule for paths from outside (it may come from a
    team's store), else a UsageError naming the path: nothing is written."""
    for path in [*record.files, *record.outputs]:
        problem = path_problem(path) if isinstance(path, str) else "is not text"
        if problem:
            raise UsageError(f"experiment {record.name!r}: the path {path!r} {problem}",
                             "the experiment's record is damaged; run the experiment again")
    return record


def apply(repo: Repo, name: str) -> ExpRecord:
    """Bring the experiment's changed files (params, himo.lock ...) and its outputs into the workspace."""
    from himo.api.checkout import checkout
    from himo.api.isolated import _git

    record = _checked(load(repo, name))
    git = _git(repo)
    with repo.lock():
        for rel, text in record.files.items():
            path = git.root / rel
            if text is None:
                path.unlink(missing_ok=True)
            else:
                executable = _executable(record, rel, path)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomic(path, text)
                if executable:
                    mode = path.stat().st_mode
                    path.chmod(mode | (mode & 0o444) >> 2)  # execute wherever read, as git checks out 100755
    if record.outputs:
        checkout(repo, [str(repo.root / p) for p in record.outputs], force=True)
    return record


def _executable(record: ExpRecord, rel: str, path: Path) -> bool:
    """Whether the experiment's file `rel` is executable (unknown: as the file it replaces)."""
    if record.executables is not None:
        return rel in record.executables
    return os.access(path, os.X_OK)


def branch(repo: Repo, name: str, branch_name: str) -> str:
    """A git branch `branch_name` on the base commit with the experiment's changed files committed
    (the workspace, index and HEAD untouched); its commit id."""
    from himo.api.isolated import _git

    record = _checked(load(repo, name))
    git = _git(repo)
    message = f"himo experiment {name}\n\n" + "\n".join(f"-S {o}" for o in record.overrides)
    return git.commit_files(record.base_commit, record.files, message, branch_name, record.executables)


def remove(repo: Repo, names: list[str]) -> list[str]:
    """Forget the experiments `names` (their records here and in the store; runs stay as history)."""
    for name in names:
        check_name(name)
    local = [n for n in names if (exps_dir(repo) / f"{n}.json").is_file()]
    removed = set(local)
    try:
        from himo.api.recording import store_session
        from himo.meta.experiments import remove as remove_rows

        with store_session(repo, write=True) as session:
            removed.update(remove_rows(session, _repo_identity(repo), names))
    except HimoError:
        if not local:
            raise
    missing = [n for n in names if n not in removed]
    if missing:
        raise UsageError(f"no experiment named {missing[0]!r}", "see `himo exp show` for the experiments")
    for name in local:
        os.unlink(exps_dir(repo) / f"{name}.json")
    return sorted(removed)


def run(repo: Repo, set_values: list[str], name: str | None = None, targets: list[str] | None = None,
        queue: bool = False, jobs: int = 1, echo: Callable[[str], None] = lambda _: None,
        executor: str = "local") -> list[ExpRecord]:
    """`himo exp run`: plan the experiments; with `queue` only queue them (returns []); else run
    them, `jobs` at once (a single one runs straight from the workspace, a sweep through the queue)."""
    from himo.api import exp_queue

    check_executor(executor)
    specs = plan(repo, set_values, name, targets, executor=executor)
    if len(specs) == 1 and not queue:
        return [run_one(repo, specs[0], workspace_changes(repo), echo)]
    exp_queue.enqueue(repo, specs, workspace_changes(repo))
    if queue:
        return []
    return exp_queue.start(repo, jobs, echo, only=[s.name for s in specs])


def check_executor(executor: str) -> None:
    """UsageError for an unknown executor."""
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}", f"use one of: {', '.join(EXECUTORS)}")


def repro_options(jobs: int, executor: str) -> ReproOptions:
    """Options for an experiment's repro: the executor is repro's own (ReproOptions.executor), so
    stages of an experiment run wherever `himo repro --executor` would run them."""
    check_executor(executor)
    return ReproOptions(jobs=jobs, executor=executor)
