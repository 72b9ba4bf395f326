"""Reads for comparing runs: the params each execution actually used, the metrics it reported,
and the columns of the run list (each run's params and metrics, one query per page).

"Params used" by an execution are its own recorded params and those of the executions that
produced its inputs, upstream to any depth (the nearest wins on a key both have): an evaluate
stage with no params of its own used the learning rate its model was trained with, even when
train did not run in the same run. Results are the frozen dataclasses of meta/results.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.meta import queries
from himo.meta.results import ComparedExecution, Lineage, RunColumns
from himo.meta.schema import Execution, Run
from himo.meta.statements import on

RECENT = 2000  # executions looked at for the default metric columns
MAX_HOPS = 30  # upstream walk: deeper pipelines are cut here (a cycle cannot happen: digests)


def params_used(session: Session, exec_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{execution id: flattened params it used}: its own, then its upstream producers' (nearest first)."""
    return {exec_id: _params_upstream(session, exec_id) for exec_id in dict.fromkeys(exec_ids)}


def _params_upstream(session: Session, exec_id: str) -> dict[str, Any]:
    own = session.scalar(sa.select(Execution.params).where(Execution.id == exec_id))
    used = queries.flatten_params(own)
    seen_execs, seen_artifacts = {exec_id}, set()
    frontier = [exec_id]
    for _ in range(MAX_HOPS):
        inputs = {row.id for row in queries.artifacts_of(on(session), frontier, "INPUT")} - seen_artifacts
        if not inputs:
            break
        seen_artifacts |= inputs
        ids = {i: str(i) for i in inputs}
        frontier = []
        for row in queries.producers(on(session), Lineage(""), ids, inputs):
            if row.id in seen_execs:
                continue
            seen_execs.add(row.id)
            frontier.append(row.id)
            for key, value in queries.flatten_params(row.params).items():
                used.setdefault(key, value)
    return used


def compared(session: Session, run_ids: list[str]) -> list[ComparedExecution]:
    """For each run (in the order given), its executions that reported metrics, with the params they
    used; a run with none (a failed train) is one entry with no metrics, so it is still shown."""
    rows = session.execute(
        sa.select(Execution.id, Execution.run_id, Execution.stage, Execution.status, Execution.started_at,
                  Execution.metrics).where(Execution.run_id.in_(run_ids)).order_by(Execution.started_at)).all()
    found: list[ComparedExecution] = []
    for run_id in run_ids:
        mine = [r for r in rows if r.run_id == run_id]
        with_metrics = [r for r in mine if r.metrics] or mine[-1:]
        used = params_used(session, [r.id for r in with_metrics])
        found += [ComparedExecution(r.id, r.run_id, r.stage, r.status, r.started_at,
                                    _flat_metrics(r.metrics), used[r.id]) for r in with_metrics]
    return found


def _flat_metrics(metrics: Any) -> dict[str, Any]:
    """{`FILE:key`: number} from an execution's recorded {file: {dotted key: value}}."""
    flat: dict[str, Any] = {}
    for path, values in (metrics or {}).items():
        if isinstance(values, dict):
            flat.update({f"{path}:{k}": v for k, v in values.items()})
    return flat


def run_columns(session: Session, run_ids: list[str]) -> dict[str, RunColumns]:
    """Each run's params (merged over its executions, in order) and reported metrics, for the
    run list's columns: one query over the page's executions (ix_execution_run). The JSON comes as
    text, decoded only when it holds something: a page of sweep runs is ~3,000 executions, most
    with no params and no metrics, and decoding every value was a fifth of its runs page."""
    found = {r: RunColumns({}, {}) for r in run_ids}
    if not run_ids:
        return found
    text = (sa.cast(Execution.params, sa.Text), sa.cast(Execution.metrics, sa.Text))
    query = sa.select(Execution.run_id, *text) \
        .where(Execution.run_id.in_(run_ids)).order_by(Execution.started_at)
    for run_id, params_text, metrics_text in session.execute(query):
        if params_text and params_text != "{}":
            found[run_id].params.update(queries.flatten_params(json.loads(params_text)))
        if metrics_text and metrics_text != "{}":
            found[run_id].metrics.update(_flat_metrics(json.loads(metrics_text)))
    return found


def newest_metric_keys(session: Session, limit: int = 3) -> list[str]:
    """The first `limit` metric keys of the newest execution that reported any (the default columns)."""
    recent = sa.select(Execution.metrics, Execution.started_at).order_by(Execution.started_at.desc()) \
        .limit(RECENT).subquery()  # a bounded walk of ix_execution_started, even in a store without metrics
    metrics = session.scalar(sa.select(recent.c.metrics).where(sa.cast(recent.c.metrics, sa.String) != "{}")
                             .order_by(recent.c.started_at.desc()).limit(1))
    return sorted(_flat_metrics(metrics))[:limit]


def repos_and_branches(session: Session, limit: int = 200) -> tuple[list[str], list[str]]:
    """Repositories and branches seen in the newest runs, for the run list's filter."""
    recent = sa.select(Run.repo, Run.branch).order_by(Run.started_at.desc()).limit(limit).subquery()
    rows = session.execute(sa.select(recent.c.repo, recent.c.branch).distinct()).all()
    return sorted({r.repo for r in rows if r.repo}), sorted({r.branch for r in rows if r.branch})
