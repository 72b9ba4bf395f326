"""Asking the metadata store what ran and what produced what: `runs`, `run_show`, `lineage`.

    from himo import api
    repo = api.Repo.find()
    for run in api.runs(repo, stage="train", since="7d", limit=10):
        print(run.id[:8], run.status, [(e.stage, e.changes) for e in run.executions])
    graph = api.lineage(repo, "model.pkl", downstream=False).graph
    print(graph.executions)   # who made model.pkl, from which data and code, at which commit

Results are the plain dataclasses of himo.meta.results (re-exported here). Times are naive UTC.
Each call reads through himo.meta.reads.MetaReader, which delivers pending journals first, so it
sees everything recorded before (and the records so far of commands still running).
SQLAlchemy loads only when a query runs: importing himo.api stays cheap for other commands.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from himo.api.recording import reading
from himo.errors import MetaError, PathError, UsageError
from himo.meta.records import STATUSES
from himo.meta.results import (
    ArtifactNode,
    Edge,
    ExecutionDetail,
    ExecutionNode,
    ExecutionSummary,
    IOEntry,
    Lineage,
    ParamChange,
    RunDetail,
    RunSummary,
    TransferEntry,
)
from himo.model.objects import is_digest
from himo.workspace.repo import Repo

if TYPE_CHECKING:
    from himo.meta.reads import MetaReader

__all__ = [
    "ArtifactNode", "Edge", "ExecutionDetail", "ExecutionNode", "ExecutionSummary", "IOEntry", "Lineage",
    "LineageResult", "ParamChange", "RunDetail", "RunSummary", "TransferEntry", "lineage", "parse_when",
    "run_show", "runs",
]

LOG_TAIL = 20  # lines of each execution's log shown by run_show
LOG_TAIL_BYTES = 64 * 1024  # read from a log's end: enough for any tail worth showing
CANDIDATES = 10  # ids listed for an ambiguous prefix
RELATIVE = re.compile(r"(\d+)\s*(s|m|h|d|w)")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
HEX = re.compile(r"[0-9a-fA-F]+")
ID_PREFIX = re.compile(r"[0-9a-fA-F-]+")


@dataclass(frozen=True)
class LineageResult:
    """What `himo lineage TARGET` found: the artifact TARGET names, and the graph around it."""

    target: str  # as given: PATH, PATH@REV or a digest (prefix)
    digest: str  # the artifact's full digest
    path: str | None  # repository-relative path, when TARGET named one
    revision: str | None  # the git revision of PATH@REV
    upstream: bool  # the graph was walked toward producers
    downstream: bool  # ... and/or toward consumers
    graph: Lineage


# -- runs -----------------------------------------------------------------------------------


def runs(repo: Repo, *, stage: str | None = None, status: str | None = None,
         since: str | datetime | None = None, until: str | datetime | None = None,
         limit: int = 20, offset: int = 0) -> list[RunSummary]:
    """Runs newest first, each with its executions (only those of `stage`, if given).

    status: runs that ended so; `cached`: runs with a stage restored from the run-cache; with
    `stage`: the executions of that stage in that status.
    since/until: datetimes (naive = UTC) or text: ISO dates/times (local time unless they say
    otherwise) or ages such as 30m, 2h, 7d. UsageError for a bad value, naming the option.
    """
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status: unknown status {status!r}", f"use one of: {', '.join(STATUSES)}")
    if limit < 1 or offset < 0:
        raise UsageError(f"--limit: {limit} is not a positive number", "e.g. --limit 50")
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    if start is not None and end is not None and start > end:
        raise UsageError(f"--since {since} is after --until {until}: no run can match",
                         "give the earlier time to --since")
    with reading(repo) as meta:
        if stage is not None:
            check_stage(meta, stage)
        return meta.runs(stage=stage, status=status, since=start, until=end, limit=limit, offset=offset)


def check_stage(meta: MetaReader, stage: str, option: str = "--stage") -> None:
    """UsageError naming the recorded stages if no execution of `stage` is recorded (`himo runs
    --stage`, the dashboard's `?stage=`)."""
    if meta.stage_known(stage):
        return
    known = meta.stage_names()
    hint = f"recorded stages: {', '.join(known)}" if known else "nothing is recorded yet: run `himo repro`"
    raise UsageError(f"{option}: no execution of stage {stage!r} is recorded", hint)


def parse_when(value: str | datetime | None, option: str = "--since") -> datetime | None:
    """A time as naive UTC: a datetime (naive = UTC), ISO text (naive = local time), or an age."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value and value.tzinfo else value
    text = value.strip()
    if match := RELATIVE.fullmatch(text):
        age = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return datetime.now(UTC).replace(tzinfo=None) - age
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # its text only repeats the value: not a cause worth showing
        raise UsageError(f"{option}: {value!r} is not a time", "use an ISO date or time "
                         "(2024-05-01, 2024-05-01T13:30) or an age (30m, 2h, 7d)") from None
    return parsed.astimezone(UTC).replace(tzinfo=None)  # naive text is local time


# -- one run --------------------------------------------------------------------------------


def run_show(repo: Repo, id_prefix: str, log_lines: int = LOG_TAIL) -> RunDetail:
    """The run whose id (or one of whose executions' id) starts with `id_prefix`, with inputs,
    outputs and the last `log_lines` lines of each execution's log. MetaError if no run or
    several match (the message lists them)."""
    prefix = id_prefix.strip().lower()
    if not ID_PREFIX.fullmatch(prefix):
        raise UsageError(f"ID: {id_prefix!r} is not a run or execution id",
                         "give the first characters of an id from `himo runs`")
    with reading(repo) as meta:
        run_ids, exec_ids = meta.find_ids(prefix)
        candidates = [("run", r) for r in run_ids] + [("execution", e) for e, _ in exec_ids]
        if not candidates:
            raise MetaError(f"no run or execution id starts with {id_prefix!r}",
                            "see `himo runs` for the ids")
        if len(candidates) > 1:
            listed = ", ".join(f"{kind} {i}" for kind, i in candidates[:CANDIDATES])
            more = " and more" if len(candidates) > CANDIDATES else ""
            raise MetaError(f"id prefix {id_prefix!r} is ambiguous: it starts {listed}{more}",
                            "give more characters of the id")
        detail = meta.run(*(run_ids[0], None) if run_ids else exec_ids[0][::-1])
    assert detail is not None  # found just above, in the same store
    execs = [dataclasses.replace(e, log_tail=execution_log(repo, e, log_lines)) for e in detail.executions]
    return dataclasses.replace(detail, executions=execs)


def execution_log(repo: Repo | None, e: ExecutionDetail, lines: int = LOG_TAIL) -> list[str]:
    """An execution's last log lines: the log file's (in the repository), else the store's copy
    (another clone, a cleaned .himo, a dashboard over a team store)."""
    if lines <= 0:
        return []
    return (log_tail(repo, e.log, lines) if repo is not None else []) or e.log_tail[-lines:]


def log_tail(repo: Repo, log: str | None, lines: int = LOG_TAIL) -> list[str]:
    """The last `lines` lines of a log file named relative to the repository root; [] if it is gone,
    not a regular file, or not inside the repository (a store shared by a team, or edited, could
    name any path: `/etc/shadow`, `../../x`, a symlink pointing out): nothing outside is opened."""
    if not log or lines <= 0:
        return []
    root = os.path.realpath(repo.root)
    path = os.path.realpath(os.path.join(root, log))
    if os.path.commonpath([root, path]) != root:
        return []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device would block or never end
            return []
        size = file.seek(0, 2)
        file.seek(max(0, size - LOG_TAIL_BYTES))  # enough for any tail worth printing
        text = file.read().decode("utf-8", "replace")
    return text.splitlines()[-lines:]


# -- lineage --------------------------------------------------------------------------------


def lineage(repo: Repo, target: str, *, upstream: bool = True, downstream: bool = True,
            depth: int | None = None, fan_out: int = 20) -> LineageResult:
    """The graph of artifacts and executions around TARGET, across commits and runs.

    target: a path (its current version: PATH.himo, or a stage output in himo.lock), PATH@REV, the
    name of an artifact in himo.yaml's `artifacts` (NAME, NAME@REV: its path)
    (the version at a git revision), a digest or unique digest prefix, or an untracked file a
    stage read, such as code (its current content, hashed as a stage's deps are).
    upstream: producers, back to the source data (an artifact produced several times: its latest
    succeeded producer; restores from the run-cache are counted in `graph.restored`).
    downstream: consumers, at most `fan_out` per artifact (newest
    first; `graph.omitted` counts the rest). depth: executions deep in each direction (None: all).
    """
    if depth is not None and depth < 1:
        raise UsageError(f"--depth: {depth} is not a positive number", "e.g. --depth 3")
    path, rev, digest, hashed = _target_digest(repo, target)
    with reading(repo) as meta:
        if digest is None:
            digest = digest_by_prefix(meta, target)
        graph = meta.lineage(digest, upstream=upstream, downstream=downstream, depth=depth, fan_out=fan_out)
    if graph is None and hashed:
        raise MetaError(f"{path}: not tracked, and no recorded execution read its current content "
                        f"(digest {digest[:12]})", "lineage knows an untracked file (code, config) by "
                        "the versions stages read: `himo repro` records this one; or give a digest "
                        "from `himo runs show ID`")
    if graph is None:
        raise MetaError(f"{path or target} (digest {digest[:12]}) is not in the metadata store",
                        "it was tracked before recording began: run `himo commit` or `himo repro` to "
                        "record it, or `himo meta sync` if records wait in .himo/journal/")
    return LineageResult(target, digest, path, rev, upstream, downstream, graph)


def _target_digest(repo: Repo, target: str) -> tuple[str | None, str | None, str | None, bool]:
    """(path, rev, digest, hashed) of a path target (or an artifact name of himo.yaml): digest None
    when TARGET is no path; hashed when it is an untracked file, known by its content as a stage's
    deps are."""
    if is_digest(target) and not Path(target).exists() and not Path(f"{target}.himo").exists():
        return None, None, None, False  # a whole digest: no himo.yaml or pointer module to load
    from himo.api.revisions import artifact_path
    from himo.pipeline.lockfile import LOCK_FILE
    from himo.workspace.pointer import SUFFIX

    target = artifact_path(repo, target)[0]
    if "@" in target:
        path, rev = target.rsplit("@", 1)
        rel = repo.rel(repo.resolve(path))
        return rel, rev, _digest_at(repo, rel, rev, target), False
    if HEX.fullmatch(target) and not (Path(target).exists() or Path(target + SUFFIX).exists()):
        return None, None, None, False
    rel = repo.rel(repo.resolve(target))
    digest = _current_digest(repo, rel)
    if digest is not None:
        return rel, None, digest, False
    hashed = _content_digest(repo, rel)
    if hashed is not None:
        return rel, None, hashed, True
    if not HEX.fullmatch(target):
        raise PathError(f"{rel}: not tracked (no {rel}{SUFFIX} and no output {rel} in {LOCK_FILE})",
                        "give a tracked path, PATH@REV, or a digest (or its first characters)")
    return None, None, None, False


def _content_digest(repo: Repo, rel: str) -> str | None:
    """The digest of an untracked file or folder as `himo repro` records a dep (code, say)."""
    from himo.objects.tree import hash_path

    if rel.split("/", 1)[0] in (".git", repo.himo_dir.name):
        return None
    info = hash_path(repo.ingester(), repo.root / rel)
    return info.digest if info else None


def _current_digest(repo: Repo, rel: str) -> str | None:
    from himo.pipeline.lockfile import read_lock
    from himo.workspace.pointer import load_pointer, pointer_file_for

    pointer = pointer_file_for(repo.root / rel)
    if pointer.is_file():
        return load_pointer(pointer, repo.root).hash_info.digest
    for entry in read_lock(repo.root).values():
        for out in entry.outs:
            if out.path == rel and out.digest:
                return out.digest
    return None


def _digest_at(repo: Repo, rel: str, rev: str, target: str) -> str:
    from himo.api.revisions import revision
    from himo.pipeline.lockfile import LOCK_FILE, parse_lock
    from himo.workspace.pointer import SUFFIX, parse_pointer, pointer_file_for

    at = revision(repo, rev)
    text = at.read(rel + SUFFIX)
    if text is not None:
        return parse_pointer(text, pointer_file_for(repo.root / rel), repo.root).hash_info.digest
    lock = at.read(LOCK_FILE)
    for entry in parse_lock(lock).values() if lock else ():
        for out in entry.outs:
            if out.path == rel and out.digest:
                return out.digest
    raise PathError(f"{target}: {rel} is not tracked at {rev} (no {rel}{SUFFIX} and no output {rel} "
                    f"in its {LOCK_FILE})", f"name a revision where it was: {_history_hint(repo, rel)}")


def _history_hint(repo: Repo, rel: str) -> str:
    """Where git keeps the versions of `rel`: himo.lock for a stage output, else PATH.himo."""
    from himo.pipeline.lockfile import LOCK_FILE, read_lock
    from himo.workspace.pointer import SUFFIX

    outputs = {out.path for entry in read_lock(repo.root).values() for out in entry.outs}
    if rel in outputs:
        return f"`git log -- {LOCK_FILE}` (the stage output {rel} is recorded there)"
    return f"`git log -- {rel}{SUFFIX}`"


def digest_by_prefix(meta: MetaReader, prefix: str) -> str:
    """The one artifact digest starting with `prefix` (himo.meta.reads.MetaReader.resolve_digest),
    its errors as the commands give them: unknown and ambiguous prefixes are MetaErrors."""
    from himo.errors import ArtifactNotFound

    try:
        return meta.resolve_digest(prefix)
    except ArtifactNotFound as error:
        raise MetaError(f"{prefix}: no tracked path, and no artifact in the metadata store has a "
                        "digest starting so", error.hint) from None
    except UsageError as error:
        raise MetaError(error.message, error.hint) from None
