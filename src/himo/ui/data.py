"""The dashboard's own queries, over himo.meta.schema: the run list with its filters, the
day-by-day grid per stage, a run with its executions, an artifact, and metrics values.

Every filter is a bound parameter of a SQLAlchemy select (never SQL text built from input).
Results are plain JSON-ready dicts: the JSON API returns them as they are, pages render them.
Times in the store are naive UTC; they leave here as ISO 8601 strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.meta.queries import flatten_params
from himo.meta.schema import Artifact, ArtifactPath, Event, Execution, Location, Run
from himo.model.urls import mask_url

FAILED = ("failed", "aborted")
SUCCEEDED = ("succeeded", "cached")  # what himo.lock then records: the params its outputs came from
DIGEST = re.compile(r"[0-9a-f]{4,80}")
RARE_STAGE = 5000  # a stage with fewer executions: filter runs by collecting its executions' runs


@dataclass(frozen=True)
class RunFilter:
    stage: str | None = None  # runs with an execution of this stage
    status: str | None = None  # the run's status (running|succeeded|failed|cached|aborted)
    trigger: str | None = None  # manual|schedule|ci
    since: datetime | None = None  # started at or after (naive UTC)
    until: datetime | None = None  # started before
    repo: str | None = None  # runs in this repository (a team store holds several)
    branch: str | None = None  # runs on this git branch


def iso(value: datetime | None) -> str | None:
    return value.isoformat(sep=" ", timespec="seconds") if value else None


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


# -- runs ---------------------------------------------------------------------------------


def run_query(f: RunFilter, session: Session | None = None, rare_stage: int = RARE_STAGE) -> sa.Select[Any]:
    """The filtered runs; with a `session`, the stage filter is planned for the stage's size."""
    query = sa.select(Run)
    if f.stage:
        query = query.where(*_stage_conditions(f.stage, session, rare_stage))
    if f.status:
        query = query.where(Run.status == f.status)
    if f.trigger:
        query = query.where(Run.trigger == f.trigger)
    if f.repo:
        query = query.where(Run.repo == f.repo)
    if f.branch:
        query = query.where(Run.branch == f.branch)
    if f.since:
        query = query.where(Run.started_at >= f.since)
    if f.until:
        query = query.where(Run.started_at < f.until)
    return query


def _stage_conditions(stage: str, session: Session | None, rare: int) -> list[sa.ColumnElement[bool]]:
    """Runs with an execution of `stage`. Walking runs newest first and probing each for the
    stage is fast for a stage most runs have, and reads every run for a rare or gone one (0.3-0.9 s
    at 1M executions on SQLite); collecting a rare stage's runs from ix_execution_stage is the
    reverse. So: two index seeks first, for the stage's newest execution and whether it has fewer
    than `rare` executions; then the cheap plan (each under 20 ms at 1M executions)."""
    exists = sa.exists().where(Execution.run_id == Run.id, Execution.stage == stage)
    if session is None:
        return [exists]
    newest = session.scalar(sa.select(sa.func.max(Execution.started_at)).where(Execution.stage == stage))
    if newest is None:
        return [sa.false()]
    sample = sa.select(Execution.id).where(Execution.stage == stage).limit(rare).subquery()
    if session.scalar(sa.select(sa.func.count()).select_from(sample)) < rare:
        return [Run.id.in_(sa.select(Execution.run_id).where(Execution.stage == stage))]
    return [exists, Run.started_at <= newest]  # a run starts before its executions: skip newer runs


def runs_page(session: Session, f: RunFilter, page: int = 1, per_page: int = 50,
              rare_stage: int = RARE_STAGE) -> dict[str, Any]:
    """One page of runs, newest first, each with its executions; `has_next` instead of a count
    (counting a million rows would cost more than the page)."""
    query = run_query(f, session, rare_stage).order_by(Run.started_at.desc(), Run.id.desc())
    rows = list(session.scalars(query.offset((page - 1) * per_page).limit(per_page + 1)))
    runs = rows[:per_page]
    execs = _executions_of(session, [r.id for r in runs])
    return {"page": page, "per_page": per_page, "has_next": len(rows) > per_page,
            "runs": [_run_dict(r) | {"executions": execs.get(r.id, [])} for r in runs]}


def _executions_of(session: Session, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    if not run_ids:
        return found
    query = sa.select(Execution.id, Execution.run_id, Execution.stage, Execution.status,
                      Execution.started_at, Execution.ended_at).where(Execution.run_id.in_(run_ids))
    for row in session.execute(query.order_by(Execution.started_at)):
        found.setdefault(row.run_id, []).append(
            {"id": row.id, "stage": row.stage, "status": row.status,
             "seconds": seconds(row.started_at, row.ended_at)})
    return found


def _run_dict(r: Run) -> dict[str, Any]:
    return {"id": r.id, "command": r.command, "args": list(r.args or []), "trigger": r.trigger,
            "user": r.user, "host": r.host, "repo": r.repo, "git_commit": r.git_commit, "branch": r.branch,
            "dirty": r.dirty, "himo_version": r.himo_version, "status": r.status,
            "started_at": iso(r.started_at), "ended_at": iso(r.ended_at),
            "seconds": seconds(r.started_at, r.ended_at)}


def grid(session: Session, days: int = 30, today: date | None = None) -> dict[str, Any]:
    """Airflow's grid: for each stage, each of the last `days` days, how its executions ended, in
    the order they ended (a day that failed, then recovered, shows both, the recovery last).
    All the month's stages come back; the page groups, sorts and cuts them."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    # Ordered by start, the month's rows come from ix_execution_started in the order they were
    # written; SQLite otherwise picks a skip-scan of ix_execution_stage, 71 ranges in random
    # order (39 ms against 52 ms at 1M executions). PostgreSQL plans both alike.
    month = (sa.select(Execution.stage, _day(session).label("day"), Execution.status, Execution.started_at)
             .where(Execution.started_at >= datetime.combine(first, datetime.min.time()))
             .order_by(Execution.started_at).subquery())
    query = (sa.select(month.c.stage, month.c.day, month.c.status, sa.func.count().label("n"),
                       sa.func.max(month.c.started_at).label("last"))
             .group_by(month.c.stage, month.c.day, month.c.status))
    cells: dict[str, dict[str, dict[str, tuple[int, Any]]]] = {}
    for row in session.execute(query):
        cells.setdefault(row.stage, {}).setdefault(str(row.day)[:10], {})[row.status] = (row.n, row.last)
    dates = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    return {"days": dates, "stages": [
        {"stage": s, "last": max(cells[s]), "cells": [_cell(d, cells[s].get(d, {})) for d in dates]}
        for s in cells]}


def _day(session: Session) -> sa.ColumnElement[Any]:
    """The UTC day of an execution's start. SQLite stores times as ISO text, so its first ten
    characters are the day, with no date() parsing each of a busy month's ~40,000 rows (52 ms
    against 59 ms at 1M executions). PostgreSQL: a cast to date."""
    if session.get_bind().dialect.name == "sqlite":
        return sa.func.substr(Execution.started_at, 1, 10)
    return sa.cast(Execution.started_at, sa.Date)


def _cell(day: str, seen: dict[str, tuple[int, Any]]) -> dict[str, Any]:
    """A day of a stage: `segments` (status, count), the status that came last at the end; its
    state is that last status; `summary` (`1 failed, then 3 succeeded`) is its tooltip."""
    ordered = sorted(seen.items(), key=lambda item: str(item[1][1]))
    segments = [{"status": status, "n": n} for status, (n, _) in ordered]
    summary = ", then ".join(f"{s['n']} {s['status']}" for s in segments) or "no run"
    counts = {s["status"]: s["n"] for s in segments}
    state = _state(segments[-1]["status"]) if segments else "none"
    return {"date": day, "counts": counts, "segments": segments, "state": state, "summary": summary}


def _state(status: str) -> str:
    """The colour of a status in the grid: aborted shows as failed."""
    return "failed" if status in FAILED else status


def stages(session: Session, limit: int = 500) -> list[str]:
    """Stage names seen in the store, for the filter's list. A loose index scan: each name is
    one seek in ix_execution_stage for the next greater one, where PostgreSQL's DISTINCT would
    read the whole index (56 ms at 1M executions, against under 1 ms)."""
    names = sa.select(sa.func.min(Execution.stage).label("stage")).cte("names", recursive=True)
    following = sa.select(Execution.stage).where(Execution.stage > names.c.stage) \
        .order_by(Execution.stage).limit(1).scalar_subquery()
    names = names.union_all(sa.select(following).where(names.c.stage.is_not(None)))
    return list(session.scalars(sa.select(names.c.stage).where(names.c.stage.is_not(None)).limit(limit)))


# -- executions ---------------------------------------------------------------------------


def run_of_execution(session: Session, exec_id: str) -> str | None:
    return session.scalar(sa.select(Execution.run_id).where(Execution.id == exec_id))


def previous_succeeded(session: Session, exec_id: str) -> tuple[str, dict[str, Any]] | None:
    """(id, flattened params) of the last execution of the same stage and repository that succeeded
    (or was restored from the run-cache) before this one: what himo.lock held when it started."""
    this = session.execute(sa.select(Execution.stage, Execution.started_at, Run.repo)
                           .join(Run, Run.id == Execution.run_id).where(Execution.id == exec_id)).first()
    if this is None:
        return None
    row = session.execute(
        sa.select(Execution.id, Execution.params).join(Run, Run.id == Execution.run_id)
        .where(Execution.stage == this.stage, Execution.started_at < this.started_at,
               Execution.status.in_(SUCCEEDED), Run.repo == this.repo)
        .order_by(Execution.started_at.desc()).limit(1)).first()
    return (row.id, flatten_params(row.params)) if row else None


def latest_executions(session: Session, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The newest execution of each stage named (for the pipeline page's links)."""
    found = {}
    for name in names:
        row = session.execute(sa.select(Execution.id, Execution.run_id, Execution.status,
                                        Execution.started_at)
                              .where(Execution.stage == name)
                              .order_by(Execution.started_at.desc()).limit(1)).first()
        if row:
            found[name] = {"id": row.id, "run_id": row.run_id, "status": row.status,
                           "started_at": iso(row.started_at)}
    return found


# -- artifacts ----------------------------------------------------------------------------


def artifact_detail(session: Session, digest: str) -> dict[str, Any] | None:
    art = session.scalar(sa.select(Artifact).where(Artifact.digest == digest))
    if art is None:
        return None
    paths = session.execute(sa.select(ArtifactPath.repo, ArtifactPath.path, ArtifactPath.commit,
                                      ArtifactPath.first_seen)
                            .where(ArtifactPath.artifact_id == art.id).order_by(ArtifactPath.first_seen))
    paths = [dict(p._mapping) | {"first_seen": iso(p.first_seen)} for p in paths]
    return {"digest": art.digest, "kind": art.kind, "size": art.size, "nfiles": art.nfiles,
            "first_seen": iso(art.first_seen), "paths": paths,
            "versions": versions(session, [(p["repo"], p["path"]) for p in paths]),
            "produced_by": _touching(session, art.id, "OUTPUT"),
            "used_by": _touching(session, art.id, "INPUT"),
            "locations": locations(session, art.id)}


def versions(session: Session, places: list[tuple[str, str]], limit: int = 100) -> list[dict[str, Any]]:
    """Every artifact seen at the same paths, newest first: the versions of a file."""
    if not places:
        return []
    where = sa.or_(*[sa.and_(ArtifactPath.repo == r, ArtifactPath.path == p) for r, p in set(places)])
    query = (sa.select(Artifact.digest, Artifact.kind, Artifact.size,
                       sa.func.min(ArtifactPath.first_seen).label("first_seen"),
                       sa.func.min(ArtifactPath.path).label("path"))
             .join(Artifact, Artifact.id == ArtifactPath.artifact_id).where(where)
             .group_by(Artifact.digest, Artifact.kind, Artifact.size)
             .order_by(sa.func.min(ArtifactPath.first_seen).desc()).limit(limit))
    return [dict(row._mapping) | {"first_seen": iso(row.first_seen)} for row in session.execute(query)]


def _touching(session: Session, artifact_id: int, direction: str, limit: int = 50) -> list[dict[str, Any]]:
    query = (sa.select(Execution.id, Execution.run_id, Execution.stage, Execution.status,
                       Execution.started_at, Event.path)
             .join(Event, Event.execution_id == Execution.id)
             .where(Event.artifact_id == artifact_id, Event.direction == direction)
             .order_by(Execution.started_at.desc()).limit(limit))
    return [dict(row._mapping) | {"started_at": iso(row.started_at)} for row in session.execute(query)]


def locations(session: Session, artifact_id: int) -> list[dict[str, Any]]:
    query = (sa.select(Location.kind, Location.url, Location.first_at, Location.last_at, Location.who)
             .where(Location.artifact_id == artifact_id).order_by(Location.first_at))
    # mask_url: rows recorded before himo masked URL passwords (the recorder does now)
    return [dict(row._mapping) | {"url": mask_url(row.url), "first_at": iso(row.first_at),
                                  "last_at": iso(row.last_at)} for row in session.execute(query)]


def run_params(session: Session, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The params of every execution of each run, flattened and merged (a metrics-writing stage
    often has none: the params that made its numbers are its upstream stages')."""
    found: dict[str, dict[str, Any]] = {}
    if not run_ids:
        return found
    query = sa.select(Execution.run_id, Execution.params).where(Execution.run_id.in_(set(run_ids))) \
        .order_by(Execution.started_at)
    for row in session.execute(query):
        found.setdefault(row.run_id, {}).update(flatten_params(row.params))
    return found


# -- metrics ------------------------------------------------------------------------------


def metrics_outputs(session: Session, exec_ids: list[str] | None = None, path: str | None = None,
                    limit: int = 200) -> list[dict[str, Any]]:
    """Metrics artifacts written by executions (the given ones, or the newest; only at `path` if
    given), newest first; `reported` is the execution's metrics as the store keeps them."""
    query = (sa.select(Execution.id, Execution.run_id, Execution.stage, Execution.started_at,
                       Execution.params, Execution.metrics.label("reported"), Event.path, Artifact.digest)
             .join(Event, Event.execution_id == Execution.id).join(Artifact, Artifact.id == Event.artifact_id)
             .where(Event.direction == "OUTPUT", Artifact.kind == "metrics"))
    if exec_ids is not None:
        query = query.where(Execution.id.in_(exec_ids))
    if path is not None:
        query = query.where(Event.path == path)
    query = query.order_by(Execution.started_at.desc()).limit(limit)
    return [dict(row._mapping) | {"started_at": iso(row.started_at), "params": flatten_params(row.params)}
            for row in session.execute(query)]
