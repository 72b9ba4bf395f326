"""Read queries of the metadata store: the run list, one run, and the lineage walk.

Every filter, sort and limit happens in SQL, on the indexes of schema.py: the run list walks
ix_run_started (newest first) and fetches the executions of one page at once; the lineage walk
runs two queries per hop (events of the frontier's artifacts, then the other side of their
executions) with IN-lists, on ix_event_artifact and ix_event_execution. Results are the frozen
dataclasses of results.py.

The statements themselves are in statements.py (SQLAlchemy Core, by name); this module says
what to ask and what to make of the rows, through `Sql`, so it imports no database library: the
same code runs on SQLAlchemy (statements.on(session)) and on sqlite3 (himo.meta.lite).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

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

PRODUCED = ("succeeded", "cached")  # statuses of an execution whose outputs are real
CHUNK = 500  # IN-list size: well below every SQLite and PostgreSQL limit on bound parameters
CANDIDATES = 10  # candidates listed for an ambiguous prefix


class Sql(Protocol):
    """Runs a statement of statements.py: `name` in the variant `options`, with `params` bound.
    Rows are tuples whose items are also attributes, named as the statement's columns."""

    def rows(self, name: str, params: dict[str, Any], /, **options: Any) -> list[Any]: ...


def key(name: str, options: dict[str, Any]) -> str:
    """A statement variant's name in sqlite_sql.py: `runs/match=stage/since=1/until=0`."""
    chosen = (f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in sorted(options.items()))
    return "/".join([name, *chosen])


# -- runs -----------------------------------------------------------------------------------


def list_runs(sql: Sql, *, stage: str | None = None, status: str | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = 20,
              offset: int = 0) -> list[RunSummary]:
    """Runs newest first (walking ix_run_started), with their executions.

    stage: runs with an execution of that stage, and only those executions; with `status`
    too, executions of that stage in that status. status alone: runs that ended so (on
    ix_run_status), except `cached`, a status of executions only: runs with a restored stage.
    """
    match = ("stage_status" if status else "stage") if stage is not None else \
        "cached" if status == "cached" else "status" if status is not None else ""
    runs = sql.rows("runs", {"since": since, "until": until, "stage": stage, "status": status,
                             "limit": limit, "offset": offset},
                    since=since is not None, until=until is not None, match=match)
    executions = _executions_of(sql, [r.id for r in runs], stage, status if stage else None)
    return [_run_summary(r, executions.get(r.id, [])) for r in runs]


def stage_known(sql: Sql, stage: str) -> bool:
    """Any execution of `stage` recorded (one seek on ix_execution_stage)."""
    return bool(sql.rows("stage_known", {"stage": stage}))


def stage_names(sql: Sql, limit: int = 30) -> list[str]:
    """The names of recorded stages, sorted (for an error message; at most `limit`)."""
    return [row[0] for row in sql.rows("stage_names", {"limit": limit})]


def _executions_of(sql: Sql, run_ids: list[str], stage: str | None,
                   status: str | None) -> dict[str, list[ExecutionSummary]]:
    """The executions of these runs in start order, each with the params of the previous
    execution of its stage (a correlated subquery on ix_execution_stage)."""
    found: dict[str, list[ExecutionSummary]] = {}
    for chunk in _chunks(run_ids):
        for row in sql.rows("executions_of", {"ids": chunk, "stage": stage, "status": status},
                            stage=stage is not None, status=status is not None):
            found.setdefault(row.run_id, []).append(_exec_summary(row))
    return found


def _exec_summary(e: Any) -> ExecutionSummary:
    """An execution row with its previous_id and previous_params (statements._previous_columns)."""
    params = flatten_params(e.params)
    before = flatten_params(e.previous_params) if e.previous_id else {}
    return ExecutionSummary(e.id, e.run_id, e.stage, e.status, e.started_at, e.ended_at,
                            _seconds(e.started_at, e.ended_at), e.exit_code, params,
                            param_changes(before, params), e.previous_id)


def _run_summary(r: Any, executions: list[ExecutionSummary]) -> RunSummary:
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


def find_ids(sql: Sql, prefix: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Run ids, and (execution id, run id) pairs, starting with `prefix` (at most CANDIDATES + 1 each).
    A range on each primary key: ids are hex and '-', all before 'g' in every collation."""
    prefix = prefix.lower()
    like = {"low": prefix, "high": prefix + "g", "pattern": prefix + "%", "limit": CANDIDATES + 1}
    runs = sql.rows("run_ids_like", like)
    return [r[0] for r in runs], [(e, r) for e, r in sql.rows("execution_ids_like", like)]


def run_detail(sql: Sql, run_id: str, exec_id: str | None = None) -> RunDetail | None:
    """The run with its executions (only `exec_id` if given), their inputs and outputs."""
    found = sql.rows("run_by_id", {"run_id": run_id})
    if not found:
        return None
    rows = sql.rows("run_executions", {"run_id": run_id, "exec_id": exec_id}, one=exec_id is not None)
    io = _io_of(sql, [row.id for row in rows])
    details = [_exec_detail(row, _exec_summary(row), io.get(row.id, [])) for row in rows]
    transfers = [TransferEntry(*row) for row in sql.rows("transfers_of", {"run_id": run_id})] \
        if exec_id is None else []
    return RunDetail(_run_summary(found[0], [d.summary for d in details]), details, transfers)


def _io_of(sql: Sql, exec_ids: list[str]) -> dict[str, list[IOEntry]]:
    found: dict[str, list[IOEntry]] = {}
    for chunk in _chunks(exec_ids):
        for exec_id, *values in sql.rows("io_of", {"ids": chunk}):
            found.setdefault(exec_id, []).append(IOEntry(*values))
    return found


def _exec_detail(e: Any, summary: ExecutionSummary, io: list[IOEntry]) -> ExecutionDetail:
    return ExecutionDetail(
        summary, e.cmd, list(e.reasons or []), e.git_commit, e.branch, e.dirty, dict(e.code_digests or {}),
        e.host, e.user, e.himo_version, e.log, [i for i in io if i.direction == "INPUT"],
        [i for i in io if i.direction == "OUTPUT"], (e.log_tail or "").splitlines(), dict(e.metrics or {}))


# -- artifacts ------------------------------------------------------------------------------


def find_artifacts(sql: Sql, prefix: str) -> list[tuple[str, str, str]]:
    """(digest, kind, a path) of artifacts whose digest starts with the hex `prefix`; an exact
    match alone if there is one. A range on the unique index (hex sorts alike in every collation)."""
    prefix = prefix.lower()
    rows = [tuple(r) for r in sql.rows("artifacts_by_prefix", {
        "low": prefix, "high": prefix + "g", "pattern": prefix + "%", "limit": CANDIDATES + 1})]
    exact = [r for r in rows if r[0] == prefix]
    return exact or rows  # type: ignore[return-value]


# -- lineage --------------------------------------------------------------------------------


def lineage(sql: Sql, digest: str, *, upstream: bool = True, downstream: bool = True,
            depth: int | None = None, fan_out: int = 20, max_nodes: int = 5000) -> Lineage | None:
    """The graph around the artifact `digest` (None if the store has no such artifact).

    upstream: from each artifact to the execution that computed it (see _producers_query), then
    that execution's inputs; its later restores from the run-cache are in `restored`.
    downstream: from each artifact to its consumers (the newest `fan_out`; the rest are
    counted in `omitted`), then their outputs. `depth`: executions deep (None: all the way).
    """
    found = sql.rows("artifact_by_digest", {"digest": digest})
    if not found:
        return None
    root = found[0]
    graph = Lineage(digest)
    ids = {root.id: digest}
    _add_artifact(graph, root)
    for direction in ("OUTPUT", "INPUT"):
        if (upstream if direction == "OUTPUT" else downstream):
            _walk(sql, graph, ids, {root.id}, direction, depth, fan_out, max_nodes)
    for art in graph.artifacts.values():
        art.paths.sort()
    graph.edges = list(dict.fromkeys(graph.edges))  # a shared artifact can be met from both sides
    return graph


def _walk(sql: Sql, graph: Lineage, ids: dict[int, str], frontier: set[int], toward: str,
          depth: int | None, fan_out: int, max_nodes: int) -> None:
    """Hop by hop: `toward` OUTPUT walks upstream (artifact <- producer <- its inputs), INPUT downstream."""
    seen_artifacts, seen_execs = set(frontier), set()
    hop = 0
    while frontier and (depth is None or hop < depth):
        if len(graph.executions) + len(graph.artifacts) >= max_nodes:
            graph.truncated = True
            return
        upstream = toward == "OUTPUT"
        execs = producers(sql, graph, ids, frontier) if upstream else \
            _consumers(sql, frontier, fan_out)
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
        for row in artifacts_of(sql, new_execs, other):
            ids[row.id] = row.digest
            if row.digest not in graph.artifacts:
                _add_artifact(graph, row)
            graph.edges.append(Edge(row.digest, row.execution_id, other, row.event_path))
            _path_of(graph, row.digest, row.event_path)
            if row.id not in seen_artifacts:
                seen_artifacts.add(row.id)
                frontier.add(row.id)
        hop += 1


def producers(sql: Sql, graph: Lineage, ids: dict[int, str], artifact_ids: Iterable[int]) -> Iterator[Any]:
    """For each artifact, the execution that computed it; its run-cache restores go to graph.restored."""
    for chunk in _chunks(list(artifact_ids)):
        for row in sql.rows("producers", {"ids": chunk}):
            if row.rank == 1:
                yield row
            else:  # the latest restore, when it is not the producer itself
                count = row.restores - (1 if row.computes == 0 else 0)
                graph.restored[ids[row.artifact_id]] = Restore(count, row.id, row.run_id, row.started_at)


def _consumers(sql: Sql, artifact_ids: Iterable[int], fan_out: int) -> Iterator[Any]:
    """For each artifact, its newest `fan_out` readers, with their total."""
    for chunk in _chunks(list(artifact_ids)):
        yield from sql.rows("consumers", {"ids": chunk, "fan_out": fan_out})


def artifacts_of(sql: Sql, exec_ids: list[str], direction: str) -> Iterator[Any]:
    """The artifacts these executions read (INPUT) or wrote (OUTPUT), with the event's path."""
    for chunk in _chunks(exec_ids):
        yield from sql.rows("artifacts_of", {"ids": chunk, "direction": direction})


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
