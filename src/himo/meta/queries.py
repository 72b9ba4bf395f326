"""Read queries of the metadata store: the run list, one run, and the lineage walk.

Every filter, sort and limit happens in SQL, on the indexes of schema.py: the run list walks
ix_run_started (newest first) and fetches the executions of one page at once; the lineage walk
runs two queries per hop (events of the frontier's artifacts, then the other side of their
executions) with IN-lists, on ix_event_artifact and ix_event_execution. ORM rows never leave
this module: results are the frozen dataclasses below.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from himo.meta.results import (
    ArtifactNode,
    Edge,
    ExecutionDetail,
    ExecutionNode,
    ExecutionSummary,
    IOEntry,
    Lineage,
    ParamChange,
    Restore,
    RunDetail,
    RunSummary,
    TransferEntry,
)
from himo.meta.schema import Artifact, ArtifactPath, Event, Execution, Run, Transfer

PRODUCED = ("succeeded", "cached")  # statuses of an execution whose outputs are real
CHUNK = 500  # IN-list size: well below every SQLite and PostgreSQL limit on bound parameters
CANDIDATES = 10  # candidates listed for an ambiguous prefix


# -- runs -----------------------------------------------------------------------------------


def list_runs(session: Session, *, stage: str | None = None, status: str | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = 20,
              offset: int = 0) -> list[RunSummary]:
    """Runs newest first (walking ix_run_started), with their executions.

    stage: runs with an execution of that stage, and only those executions; with `status`
    too, executions of that stage in that status. status alone: runs that ended so (on
    ix_run_status), except `cached`, a status of executions only: runs with a restored stage.
    """
    query = sa.select(Run)
    if since is not None:
        query = query.where(Run.started_at >= since)
    if until is not None:
        query = query.where(Run.started_at < until)
    if stage is not None:
        match = [Execution.stage == stage] + ([Execution.status == status] if status else [])
        query = query.where(sa.exists().where(Execution.run_id == Run.id, *match))
    elif status == "cached":
        query = query.where(sa.exists().where(Execution.run_id == Run.id, Execution.status == status))
    elif status is not None:
        query = query.where(Run.status == status)
    query = query.order_by(Run.started_at.desc(), Run.id.desc()).limit(limit).offset(offset)
    runs = session.scalars(query).all()
    executions = _executions_of(session, [r.id for r in runs], stage, status if stage else None)
    return [_run_summary(r, executions.get(r.id, [])) for r in runs]


def stage_known(session: Session, stage: str) -> bool:
    """Any execution of `stage` recorded (one seek on ix_execution_stage)."""
    return session.scalar(sa.select(Execution.id).where(Execution.stage == stage).limit(1)) is not None


def stage_names(session: Session, limit: int = 30) -> list[str]:
    """The names of recorded stages, sorted (for an error message; at most `limit`)."""
    return list(session.scalars(sa.select(Execution.stage).group_by(Execution.stage)
                                .order_by(Execution.stage).limit(limit)))


def _executions_of(session: Session, run_ids: list[str], stage: str | None,
                   status: str | None) -> dict[str, list[ExecutionSummary]]:
    """The executions of these runs in start order, each with the params of the previous
    execution of its stage (a correlated subquery on ix_execution_stage)."""
    found: dict[str, list[ExecutionSummary]] = {}
    for chunk in _chunks(run_ids):
        query = sa.select(Execution, *_previous_columns()).join(Run, Run.id == Execution.run_id) \
            .where(Execution.run_id.in_(chunk)).order_by(Execution.started_at, Execution.id)
        if stage is not None:
            query = query.where(Execution.stage == stage)
        if status is not None:
            query = query.where(Execution.status == status)
        for row in session.execute(query):
            found.setdefault(row[0].run_id, []).append(_exec_summary(row[0], row[1], row[2]))
    return found


def _previous_columns() -> tuple[Any, Any]:
    """(id, params) of the previous run of the execution's stage: the latest execution of the same
    stage and repository that started before it and succeeded (or was restored from the run-cache),
    so what himo.lock held when it started. Failed and aborted attempts are never "previous": the
    CLI (`himo runs`, `runs show`) and the dashboard compare params with this one alone."""
    prev, prev_run = aliased(Execution), aliased(Run)
    base = sa.select(prev.id).join(prev_run, prev_run.id == prev.run_id).where(
        prev.stage == Execution.stage, prev.started_at < Execution.started_at,
        prev.status.in_(PRODUCED), prev_run.repo == Run.repo).order_by(prev.started_at.desc()).limit(1)
    previous_id = base.scalar_subquery().correlate(Execution, Run)
    params = sa.select(prev.params).where(prev.id == previous_id).scalar_subquery()
    return previous_id.label("previous_id"), params.label("previous_params")


def _exec_summary(e: Execution, previous_id: str | None, previous_params: Any) -> ExecutionSummary:
    params = flatten_params(e.params)
    before = flatten_params(previous_params) if previous_id else {}
    return ExecutionSummary(e.id, e.run_id, e.stage, e.status, e.started_at, e.ended_at,
                            _seconds(e.started_at, e.ended_at), e.exit_code, params,
                            param_changes(before, params), previous_id)


def _run_summary(r: Run, executions: list[ExecutionSummary]) -> RunSummary:
    return RunSummary(r.id, r.command, list(r.args or []), r.status, r.trigger, r.user, r.host, r.repo,
                      r.git_commit, r.branch, r.dirty, r.started_at, r.ended_at,
                      _seconds(r.started_at, r.ended_at), executions, queued_at=r.queued_at,
                      schedule=r.schedule, logical_date=r.logical_date, attempt=r.attempt)


def flatten_params(params: Any) -> dict[str, Any]:
    """{file: {key: value}} as recorded (himo.lock's shape) -> {key: value}; keys of files other
    than params.yaml are prefixed `FILE:`."""
    if not isinstance(params, dict):
        return {}
    flat: dict[str, Any] = {}
    for file, values in params.items():
        if not isinstance(values, dict):
            flat[file] = values
            continue
        for key, value in values.items():
            flat[key if file == "params.yaml" else f"{file}:{key}"] = value
    return flat


def param_changes(before: dict[str, Any], after: dict[str, Any]) -> list[ParamChange]:
    changes = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            changes.append(ParamChange(key, None, after[key], "added"))
        elif key not in after:
            changes.append(ParamChange(key, before[key], None, "removed"))
        elif before[key] != after[key]:
            changes.append(ParamChange(key, before[key], after[key], "changed"))
    return changes


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


# -- one run --------------------------------------------------------------------------------


def find_ids(session: Session, prefix: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Run ids, and (execution id, run id) pairs, starting with `prefix` (at most CANDIDATES + 1 each)."""
    pattern = prefix.lower() + "%"
    runs = session.scalars(sa.select(Run.id).where(Run.id.like(pattern)).order_by(Run.id)
                           .limit(CANDIDATES + 1)).all()
    execs = session.execute(sa.select(Execution.id, Execution.run_id).where(Execution.id.like(pattern))
                            .order_by(Execution.id).limit(CANDIDATES + 1)).all()
    return list(runs), [(e, r) for e, r in execs]


def run_detail(session: Session, run_id: str, exec_id: str | None = None) -> RunDetail | None:
    """The run with its executions (only `exec_id` if given), their inputs and outputs."""
    run = session.get(Run, run_id)
    if run is None:
        return None
    query = sa.select(Execution, *_previous_columns()).join(Run, Run.id == Execution.run_id) \
        .where(Execution.run_id == run_id).order_by(Execution.started_at, Execution.id)
    if exec_id is not None:
        query = query.where(Execution.id == exec_id)
    rows = session.execute(query).all()
    io = _io_of(session, [row[0].id for row in rows])
    details = [_exec_detail(row[0], _exec_summary(*row), io.get(row[0].id, [])) for row in rows]
    transfers = _transfers_of(session, run_id) if exec_id is None else []
    return RunDetail(_run_summary(run, [d.summary for d in details]), details, transfers)


def _transfers_of(session: Session, run_id: str) -> list[TransferEntry]:
    """What the run moved, on uq_transfer_run (it leads with run_id)."""
    query = sa.select(Transfer.kind, Transfer.url, Transfer.path, Artifact.digest, Artifact.kind,
                      Artifact.size, Transfer.at).join(Artifact, Artifact.id == Transfer.artifact_id) \
        .where(Transfer.run_id == run_id).order_by(Transfer.path, Transfer.url)
    return [TransferEntry(*row) for row in session.execute(query)]


def _io_of(session: Session, exec_ids: list[str]) -> dict[str, list[IOEntry]]:
    found: dict[str, list[IOEntry]] = {}
    for chunk in _chunks(exec_ids):
        query = sa.select(Event.execution_id, Event.direction, Event.path, Artifact.digest, Artifact.kind,
                          Artifact.size).join(Artifact, Artifact.id == Event.artifact_id) \
            .where(Event.execution_id.in_(chunk)).order_by(Event.execution_id, Event.direction, Event.path)
        for exec_id, *values in session.execute(query):
            found.setdefault(exec_id, []).append(IOEntry(*values))
    return found


def _exec_detail(e: Execution, summary: ExecutionSummary, io: list[IOEntry]) -> ExecutionDetail:
    return ExecutionDetail(
        summary, e.cmd, list(e.reasons or []), e.git_commit, e.branch, e.dirty, dict(e.code_digests or {}),
        e.host, e.user, e.himo_version, e.log, [i for i in io if i.direction == "INPUT"],
        [i for i in io if i.direction == "OUTPUT"], (e.log_tail or "").splitlines(), dict(e.metrics or {}))


# -- artifacts ------------------------------------------------------------------------------


def find_artifacts(session: Session, prefix: str) -> list[tuple[str, str, str]]:
    """(digest, kind, a path) of artifacts whose digest starts with the hex `prefix`; an exact
    match alone if there is one. A range on the unique index (hex sorts alike in every collation)."""
    prefix = prefix.lower()
    any_path = sa.select(ArtifactPath.path).where(ArtifactPath.artifact_id == Artifact.id) \
        .order_by(ArtifactPath.first_seen.desc()).limit(1).scalar_subquery()
    query = sa.select(Artifact.digest, Artifact.kind, sa.func.coalesce(any_path, "")) \
        .where(Artifact.digest >= prefix, Artifact.digest < prefix + "g",
               Artifact.digest.like(prefix + "%")) \
        .order_by(Artifact.digest).limit(CANDIDATES + 1)
    rows = [tuple(r) for r in session.execute(query)]
    exact = [r for r in rows if r[0] == prefix]
    return exact or rows  # type: ignore[return-value]


# -- lineage --------------------------------------------------------------------------------


def lineage(session: Session, digest: str, *, upstream: bool = True, downstream: bool = True,
            depth: int | None = None, fan_out: int = 20, max_nodes: int = 5000) -> Lineage | None:
    """The graph around the artifact `digest` (None if the store has no such artifact).

    upstream: from each artifact to the execution that computed it (see _producers_query), then
    that execution's inputs; its later restores from the run-cache are in `restored`.
    downstream: from each artifact to its consumers (the newest `fan_out`; the rest are
    counted in `omitted`), then their outputs. `depth`: executions deep (None: all the way).
    """
    root = session.execute(_artifact_columns().where(Artifact.digest == digest)).first()
    if root is None:
        return None
    graph = Lineage(digest)
    ids = {root.id: digest}
    _add_artifact(graph, root)
    for direction in ("OUTPUT", "INPUT"):
        if (upstream if direction == "OUTPUT" else downstream):
            _walk(session, graph, ids, {root.id}, direction, depth, fan_out, max_nodes)
    for art in graph.artifacts.values():
        art.paths.sort()
    graph.edges = list(dict.fromkeys(graph.edges))  # a shared artifact can be met from both sides
    return graph


def _walk(session: Session, graph: Lineage, ids: dict[int, str], frontier: set[int], toward: str,
          depth: int | None, fan_out: int, max_nodes: int) -> None:
    """Hop by hop: `toward` OUTPUT walks upstream (artifact <- producer <- its inputs), INPUT downstream."""
    seen_artifacts, seen_execs = set(frontier), set()
    hop = 0
    while frontier and (depth is None or hop < depth):
        if len(graph.executions) + len(graph.artifacts) >= max_nodes:
            graph.truncated = True
            return
        upstream = toward == "OUTPUT"
        execs = _producers(session, graph, ids, frontier) if upstream else \
            _consumers(session, frontier, fan_out)
        new_execs = []
        for row in execs:
            graph.edges.append(Edge(ids[row.artifact_id], row.id, toward, row.event_path))
            _path_of(graph, ids[row.artifact_id], row.event_path)
            if toward == "INPUT" and row.total > fan_out:
                graph.omitted[ids[row.artifact_id]] = row.total - fan_out
            if row.id not in seen_execs:
                seen_execs.add(row.id)
                new_execs.append(row.id)
                graph.executions[row.id] = _exec_node(row)
        frontier = set()
        other = "INPUT" if toward == "OUTPUT" else "OUTPUT"
        for row in _artifacts_of(session, new_execs, other):
            ids[row.id] = row.digest
            if row.digest not in graph.artifacts:
                _add_artifact(graph, row)
            graph.edges.append(Edge(row.digest, row.execution_id, other, row.event_path))
            _path_of(graph, row.digest, row.event_path)
            if row.id not in seen_artifacts:
                seen_artifacts.add(row.id)
                frontier.add(row.id)
        hop += 1


def _artifact_columns() -> sa.Select[Any]:
    return sa.select(Artifact.id, Artifact.digest, Artifact.kind, Artifact.size, Artifact.nfiles,
                     Artifact.first_seen)


def _exec_columns() -> list[Any]:
    return [Execution.id, Execution.run_id, Execution.stage, Execution.status, Execution.started_at,
            Execution.ended_at, Execution.git_commit, Execution.branch, Execution.dirty, Execution.params,
            Execution.code_digests]


def _producers(session: Session, graph: Lineage, ids: dict[int, str],
               artifact_ids: Iterable[int]) -> Iterator[Any]:
    """For each artifact, the execution that computed it; its run-cache restores go to graph.restored."""
    for chunk in _chunks(list(artifact_ids)):
        for row in session.execute(_producers_query(), {"ids": chunk}):
            if row.rank == 1:
                yield row
            else:  # the latest restore, when it is not the producer itself
                count = row.restores - (1 if row.computes == 0 else 0)
                graph.restored[ids[row.artifact_id]] = Restore(count, row.id, row.run_id, row.started_at)


def _consumers(session: Session, artifact_ids: Iterable[int], fan_out: int) -> Iterator[Any]:
    """For each artifact, its newest `fan_out` readers, with their total."""
    for chunk in _chunks(list(artifact_ids)):
        yield from session.execute(_consumers_query(), {"ids": chunk, "fan_out": fan_out})


def _artifacts_of(session: Session, exec_ids: list[str], direction: str) -> Iterator[Any]:
    for chunk in _chunks(exec_ids):
        yield from session.execute(_artifacts_query(), {"ids": chunk, "direction": direction})


# The walk's statements are built once (expanding IN parameters), so SQLAlchemy compiles each
# once per process: building them per hop cost more than running them.


def producer_first() -> tuple[Any, ...]:
    """ORDER BY of the executions that wrote an artifact, its producer first: the latest that
    computed it (succeeded), else (it ran before recording began) the earliest restore."""
    restored = sa.case((Execution.status == "cached", 1), else_=0)
    succeeded_at = sa.case((Execution.status == "succeeded", Execution.started_at))
    cached_at = sa.case((Execution.status == "cached", Execution.started_at))
    return restored, succeeded_at.desc(), cached_at, Execution.id


@functools.cache
def _producers_query() -> sa.Select[Any]:
    """Per artifact, its producer (rank 1) and its latest restore (restore 1, if not the producer).

    A restore from the run-cache (status cached) computed nothing: the producer is the latest
    succeeded execution that wrote the artifact; only if none is recorded (it ran before recording
    began), the earliest restore. On ix_event_artifact, then the execution's primary key.
    """
    cached_at = sa.case((Execution.status == "cached", Execution.started_at))
    succeeded_at = sa.case((Execution.status == "succeeded", Execution.started_at))
    restored = sa.case((Execution.status == "cached", 1), else_=0)

    def over(*order_by: Any) -> Any:
        return {"partition_by": Event.artifact_id, "order_by": order_by}

    inner = sa.select(
        Event.artifact_id, Event.path.label("event_path"), *_exec_columns(),
        sa.func.row_number().over(**over(*producer_first())).label("rank"),
        sa.func.row_number().over(**over(restored.desc(), Execution.started_at.desc(), Execution.id.desc()))
        .label("restore"),
        sa.func.count(cached_at).over(partition_by=Event.artifact_id).label("restores"),
        sa.func.count(succeeded_at).over(partition_by=Event.artifact_id).label("computes"),
    ).join(Execution, Execution.id == Event.execution_id) \
        .where(Event.artifact_id.in_(sa.bindparam("ids", expanding=True)), Event.direction == "OUTPUT",
               Execution.status.in_(PRODUCED)).subquery()
    latest_restore = sa.and_(inner.c.restore == 1, inner.c.status == "cached")
    return sa.select(inner).where(sa.or_(inner.c.rank == 1, latest_restore)) \
        .order_by(inner.c.artifact_id, inner.c.rank)


@functools.cache
def _consumers_query() -> sa.Select[Any]:
    """Readers ranked on the event index alone (newest event first), so a dataset read by
    10,000 executions costs an index range, and only the kept ones are joined."""
    ranked = sa.select(
        Event.artifact_id, Event.execution_id, Event.path.label("event_path"),
        sa.func.row_number().over(partition_by=Event.artifact_id, order_by=Event.id.desc()).label("rank"),
        sa.func.count().over(partition_by=Event.artifact_id).label("total"),
    ).where(Event.artifact_id.in_(sa.bindparam("ids", expanding=True)), Event.direction == "INPUT").subquery()
    return sa.select(ranked.c.artifact_id, ranked.c.event_path, ranked.c.total, *_exec_columns()) \
        .join(Execution, Execution.id == ranked.c.execution_id) \
        .where(ranked.c.rank <= sa.bindparam("fan_out")) \
        .order_by(ranked.c.artifact_id, Execution.started_at.desc())


@functools.cache
def _artifacts_query() -> sa.Select[Any]:
    return _artifact_columns().add_columns(Event.execution_id, Event.path.label("event_path")) \
        .join(Event, Event.artifact_id == Artifact.id) \
        .where(Event.execution_id.in_(sa.bindparam("ids", expanding=True)),
               Event.direction == sa.bindparam("direction")) \
        .order_by(Event.execution_id, Event.path)


def _add_artifact(graph: Lineage, row: Any) -> None:
    graph.artifacts[row.digest] = ArtifactNode(row.digest, row.kind, row.size, row.nfiles, row.first_seen, [])


def _path_of(graph: Lineage, digest: str, path: str) -> None:
    paths = graph.artifacts[digest].paths
    if path and path not in paths:
        paths.append(path)


def _exec_node(row: Any) -> ExecutionNode:
    return ExecutionNode(row.id, row.run_id, row.stage, row.status, row.started_at, row.ended_at,
                         row.git_commit, row.branch, row.dirty, flatten_params(row.params),
                         dict(row.code_digests or {}))


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
