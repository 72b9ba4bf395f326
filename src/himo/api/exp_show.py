"""`himo exp show` and `himo exp diff`: experiments and commits as rows, params and metrics as
columns (the shape of `dvc exp show`), read from the metadata store, so a team's store
(`--meta-url`) shows everyone's experiments of the repository."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from himo.api.recording import _repo_identity, reading
from himo.errors import UsageError
from himo.pipeline.params import DEFAULT_PARAMS, flatten
from himo.workspace.repo import Repo


@dataclass
class ExpRow:
    kind: str  # "commit" (the baseline: what the pipeline made there) or "experiment"
    name: str  # experiment name, or the commit's short id
    commit: str  # base commit
    status: str
    created: str  # ISO time ('' for a commit without runs)
    params: dict[str, Any] = field(default_factory=dict)  # column -> value
    metrics: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)


@dataclass
class ExpTable:
    params: list[str]  # column names, in order
    metrics: list[str]
    rows: list[ExpRow]


def show(repo: Repo, all_commits: bool = False, sort_by: str | None = None, ascending: bool = True,
         only_changed: bool = False) -> ExpTable:
    """Experiments made from HEAD (from every commit with `all_commits`), each after its commit's row."""
    from himo.api.isolated import _git

    git = _git(repo)
    head = git.resolve("HEAD") if git.has_commits() else ""
    identity = _repo_identity(repo)
    with reading(repo) as meta:
        exps = [e for e in meta.experiments(identity) if all_commits or e.base_commit == head]
        commits = list(dict.fromkeys([head, *(e.base_commit for e in exps)] if head else
                                     [e.base_commit for e in exps]))
        bases = meta.baselines(identity, commits)
    rows: list[ExpRow] = []
    for commit in commits:
        base = bases.get(commit)
        params, metrics = _at_commit(repo, git, commit)
        rows.append(ExpRow("commit", commit[:7], commit, "", base.at.isoformat() if base and base.at else "",
                           columns(params or (base.params if base else {})),
                           columns(metrics or (base.metrics if base else {}))))
        mine = [ExpRow("experiment", e.name, commit, e.status, e.created_at.isoformat(), columns(e.params),
                       columns(e.metrics), e.overrides) for e in reversed(exps) if e.base_commit == commit]
        rows.extend(_sorted(mine, sort_by, ascending))
    return _table(rows, only_changed)


def _at_commit(repo: Repo, git: Any, commit: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The params himo.lock at `commit` records, and the values of its metrics outputs read from
    the cache (those it has): the commit's own row, as `dvc exp show` reads it from git."""
    from himo.errors import HimoError
    from himo.pipeline.loader import PIPELINE_FILE, parse_stages
    from himo.pipeline.lockfile import LOCK_FILE, parse_lock
    from himo.pipeline.params import read_metrics

    prefix = repo.root.relative_to(git.root).as_posix()
    here = (lambda name: f"{prefix}/{name}") if prefix != "." else (lambda name: name)
    try:
        lock = parse_lock((git.file_at(commit, here(LOCK_FILE)) or b"").decode())
        stages = parse_stages(repo.root, (git.file_at(commit, here(PIPELINE_FILE)) or b"").decode())
    except (HimoError, UnicodeDecodeError):
        return {}, {}
    params: dict[str, Any] = {}
    for entry in lock.values():
        for file, values in entry.params.items():
            params.setdefault(file, {}).update(values)
    digests = {o.path: o.digest for e in lock.values() for o in e.outs if o.digest}
    metrics = {}
    for out in (o for stage in stages for o in stage.outs if o.role == "metrics" and o.path in digests):
        values = read_metrics(repo.odb.path(digests[out.path]), out.path)
        if values is not None:
            metrics[out.path] = values
    return params, metrics


def columns(values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{column: value}: `key` for params.yaml's keys and metrics, `file:key` for other params files."""
    out: dict[str, Any] = {}
    for file, keys in sorted(values.items()):
        for key, value in flatten(keys).items() if isinstance(keys, dict) else ():
            out[key if file == DEFAULT_PARAMS else f"{file}:{key}"] = value
    return out


def _sorted(rows: list[ExpRow], sort_by: str | None, ascending: bool) -> list[ExpRow]:
    if not sort_by:
        return rows
    column = _column(rows, sort_by)

    def key(row: ExpRow) -> tuple[int, Any]:
        value = row.metrics.get(column, row.params.get(column))
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return (0, value if ascending else -value) if number else (1, 0)

    return sorted(rows, key=key)


def _column(rows: list[ExpRow], name: str) -> str:
    known = {c for r in rows for c in (*r.metrics, *r.params)}
    if name in known or not rows:
        return name
    ends = sorted(c for c in known if c.endswith(":" + name) or c.endswith("." + name))
    if len(ends) == 1:
        return ends[0]
    raise UsageError(f"--sort-by {name!r}: no such metric or param" if not ends else
                     f"--sort-by {name!r} names several columns: {', '.join(ends)}",
                     f"use one of: {', '.join(sorted(known))}")


def _table(rows: list[ExpRow], only_changed: bool) -> ExpTable:
    params = sorted({c for r in rows for c in r.params})
    metrics = sorted({c for r in rows for c in r.metrics})
    if only_changed:
        params = [c for c in params if len({repr(r.params.get(c)) for r in rows}) > 1]
        metrics = [c for c in metrics if len({repr(r.metrics.get(c)) for r in rows}) > 1]
    return ExpTable(params, metrics, rows)


@dataclass
class DiffRow:
    kind: str  # params | metrics
    column: str
    old: Any
    new: Any
    change: float | None  # new - old, for numbers


def diff(repo: Repo, a: str, b: str) -> list[DiffRow]:
    """Params and metrics that differ between experiments or commits `a` and `b`."""
    table = show(repo, all_commits=True)
    first, second = _find(repo, table, a), _find(repo, table, b)
    out = []
    for kind in ("params", "metrics"):
        old, new = getattr(first, kind), getattr(second, kind)
        for column in sorted(set(old) | set(new)):
            if old.get(column) != new.get(column):
                out.append(DiffRow(kind, column, old.get(column), new.get(column),
                                   _change(old.get(column), new.get(column))))
    return out


def _find(repo: Repo, table: ExpTable, name: str) -> ExpRow:
    for row in table.rows:
        if row.kind == "experiment" and row.name == name:
            return row
    from himo.api.isolated import _git
    from himo.errors import ScmError

    try:
        commit = _git(repo).resolve(name)
    except ScmError:
        raise UsageError(f"no experiment or commit named {name!r}", "see `himo exp show -A`") from None
    found = [r for r in table.rows if r.kind == "commit" and r.commit == commit]
    return found[0] if found else ExpRow("commit", commit[:7], commit, "", "")


def _change(old: Any, new: Any) -> float | None:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (old, new))
    return new - old if numbers else None
