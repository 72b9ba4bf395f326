"""Reads for comparing runs, the members of a foreach sweep, or chosen executions: the params
each execution actually used, the metrics it reported; and the columns of the run list (each
run's params and metrics, one query per page).

"Params used" by an execution are its own recorded params and those of the executions that
produced its inputs, upstream to any depth (the nearest wins on a key both have): an evaluate
stage with no params of its own used the learning rate its model was trained with, even when
train did not run in the same run. A value that is a mapping (`params: [sweep.${key}]` records
sweep.a: {lr: 0.01}) is flattened to its leaves (sweep.a.lr). In a member of a foreach or matrix
stage (`train@a`), its member name is written `*` in a param key's parts (sweep.a.lr -> sweep.*.lr)
and in the path of a metrics file (metrics/a.json:acc -> metrics/*.json:acc): the members of one
sweep then share the keys of the param they each read and the metric they each wrote, so these
can be compared, charted and measured against a baseline member.
Results are the frozen dataclasses of meta/results.py.
"""

from __future__ import annotations

import json
import re
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


def member_name(stage: str) -> str | None:
    """The member part of a foreach/matrix stage's name (`train@a` -> `a`); None for other stages."""
    return stage.split("@", 1)[1] if "@" in stage else None


def _leaves(params: Any) -> dict[str, Any]:
    """Flattened params (queries.flatten_params) with mapping values flattened to their leaves."""
    flat: dict[str, Any] = {}

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for sub, inner in value.items():
                add(f"{key}.{sub}", inner)
        else:
            flat[key] = value

    for key, value in queries.flatten_params(params).items():
        add(key, value)
    return flat


def _as_member(params: dict[str, Any], member: str | None) -> dict[str, Any]:
    """A member's own params with each key part naming the member written `*` (sweep.a.lr -> sweep.*.lr)."""
    if member is None:
        return params
    return {".".join("*" if part == member else part for part in key.split(".")): value
            for key, value in params.items()}


def _member_path(path: str, member: str | None) -> str:
    """A member's metrics file with its name written `*` (metrics/a.json -> metrics/*.json) where it
    stands alone: not inside a longer word (train@1 keeps metrics/run1.json)."""
    if member is None:
        return path
    return re.sub(rf"(?<![A-Za-z0-9]){re.escape(member)}(?![A-Za-z0-9])", "*", path)


def _params_upstream(session: Session, exec_id: str) -> dict[str, Any]:
    own = session.execute(sa.select(Execution.params, Execution.stage).where(Execution.id == exec_id)).first()
    used = _as_member(_leaves(own.params), member_name(own.stage)) if own is not None else {}
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
            for key, value in _leaves(row.params).items():
                used.setdefault(key, value)
    return used


COMPARED = (Execution.id, Execution.run_id, Execution.stage, Execution.status, Execution.started_at,
            Execution.metrics)  # the columns an entry is made of


def compared(session: Session, run_ids: list[str]) -> list[ComparedExecution]:
    """For each run (in the order given), its executions that reported metrics, with the params they
    used; a run with none (a failed train) is one entry with no metrics, so it is still shown."""
    rows = session.execute(sa.select(*COMPARED).where(Execution.run_id.in_(run_ids))
                           .order_by(Execution.started_at)).all()
    chosen = []
    for run_id in run_ids:
        mine = [r for r in rows if r.run_id == run_id]
        chosen += [r for r in mine if r.metrics] or mine[-1:]
    return _entries(session, chosen)


def group_members(session: Session, run_ids: list[str], group: str,
                  members: Iterable[str] | None = None) -> list[ComparedExecution]:
    """The executions of the foreach/matrix stage `group` (stages `group@...`; only `group@m` for
    each of `members` if given) in these runs: run by run (in the order given), each run's in the
    order they ran (a retried member: each attempt)."""
    stage = Execution.stage.in_([f"{group}@{m}" for m in members]) if members is not None \
        else Execution.stage.startswith(f"{group}@", autoescape=True)
    rows = session.execute(sa.select(*COMPARED).where(Execution.run_id.in_(run_ids), stage)
                           .order_by(Execution.started_at)).all()
    return _entries(session, [r for run_id in run_ids for r in rows if r.run_id == run_id])


def executions(session: Session, exec_ids: list[str]) -> list[ComparedExecution]:
    """These executions (whole ids), in the order given; ids the store does not have are left out."""
    rows = {r.id: r for r in session.execute(sa.select(*COMPARED).where(Execution.id.in_(exec_ids)))}
    return _entries(session, [rows[i] for i in dict.fromkeys(exec_ids) if i in rows])


def foreach_members(session: Session, run_ids: list[str]) -> dict[str, dict[str, list[str]]]:
    """{run id: {foreach/matrix stage: its members' names}} (train@a, train@b: {"train": ["a", "b"]}),
    in the order they started: what can be compared, read before the params walk of each."""
    found: dict[str, dict[str, dict[str, None]]] = {r: {} for r in run_ids}
    rows = session.execute(sa.select(Execution.run_id, Execution.stage).where(
        Execution.run_id.in_(run_ids), Execution.stage.contains("@")).order_by(Execution.started_at))
    for run_id, stage in rows:
        group, member = stage.split("@", 1)
        found[run_id].setdefault(group, {})[member] = None
    return {r: {g: list(m) for g, m in groups.items()} for r, groups in found.items()}


def _entries(session: Session, rows: list[Any]) -> list[ComparedExecution]:
    used = params_used(session, [r.id for r in rows])
    return [ComparedExecution(r.id, r.run_id, r.stage, r.status, r.started_at,
                              _flat_metrics(r.metrics, member_name(r.stage)), used[r.id],
                              member_name(r.stage)) for r in rows]


def _flat_metrics(metrics: Any, member: str | None = None) -> dict[str, Any]:
    """{`FILE:key`: number} from an execution's recorded {file: {dotted key: value}}; a member's
    name in FILE written `*` (see _member_path)."""
    flat: dict[str, Any] = {}
    for path, values in (metrics or {}).items():
        if isinstance(values, dict):
            path = _member_path(path, member)
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
