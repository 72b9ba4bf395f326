"""Queries for browsing the store (the dashboard's pages, and anyone through himo.meta.reads):
the run list with its filters, the day-by-day grid per stage, an artifact, and metrics outputs.

Every filter is a bound parameter of a SQLAlchemy select (never SQL text built from input).
Results are the frozen dataclasses of results.py; times are naive UTC, as the store keeps them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.meta.days import from_executions, summarized
from himo.meta.queries import flatten_params
from himo.meta.results import (
    ArtifactDetail,
    ArtifactPlace,
    ArtifactVersion,
    ExecutionRow,
    Grid,
    GridCell,
    GridRow,
    GridScheduled,
    GridSegment,
    LatestExecution,
    LiveState,
    LocationRow,
    MetricsOutput,
    RunFilter,
    RunRow,
    RunsPage,
    Touch,
)
from himo.meta.schema import Artifact, ArtifactPath, Event, Execution, Location, Run, ScheduleRun
from himo.model.urls import mask_url

FAILED = ("failed", "aborted")
Cells = dict[str, dict[str, dict[str, tuple[int, Any]]]]  # the grid's: stage -> day -> status -> (n, last)
CellRuns = dict[tuple[str, str], list[GridScheduled]]  # (stage, day) -> its scheduled runs
RARE_STAGE = 5000  # a stage with fewer executions: filter runs by collecting its executions' runs


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


# -- runs ---------------------------------------------------------------------------------


def run_query(f: RunFilter, session: Session | None = None, rare_stage: int = RARE_STAGE) -> sa.Select[Any]:
    """The filtered runs; with a `session`, the stage filter is planned for the stage's size."""
    query = sa.select(Run)
    if f.stage:
        query = query.where(*_stage_conditions(f.stage, session, rare_stage))
    if f.status == "cached":  # a status of executions only (as `himo runs --status cached`)
        query = query.where(sa.exists().where(Execution.run_id == Run.id, Execution.status == "cached"))
    elif f.status:
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
              rare_stage: int = RARE_STAGE) -> RunsPage:
    """One page of runs, newest first, each with its executions; `has_next` instead of a count
    (counting a million rows would cost more than the page)."""
    query = run_query(f, session, rare_stage).order_by(Run.started_at.desc(), Run.id.desc())
    rows = list(session.scalars(query.offset((page - 1) * per_page).limit(per_page + 1)))
    runs = rows[:per_page]
    execs = _executions_of(session, [r.id for r in runs])
    return RunsPage(page, per_page, len(rows) > per_page, [_run_row(r, execs.get(r.id, [])) for r in runs])


def _executions_of(session: Session, run_ids: list[str]) -> dict[str, list[ExecutionRow]]:
    found: dict[str, list[ExecutionRow]] = {}
    if not run_ids:
        return found
    query = sa.select(Execution.id, Execution.run_id, Execution.stage, Execution.status,
                      Execution.started_at, Execution.ended_at).where(Execution.run_id.in_(run_ids))
    rows = session.execute(query.order_by(Execution.started_at))
    for exec_id, run_id, stage, status, started, ended in rows:  # unpacked: a sweep page has ~3,000
        found.setdefault(run_id, []).append(
            ExecutionRow(exec_id, stage, status, seconds(started, ended), started))
    return found


def _run_row(r: Run, executions: list[ExecutionRow]) -> RunRow:
    return RunRow(r.id, r.command, list(r.args or []), r.trigger, r.user, r.host, r.repo, r.git_commit,
                  r.branch, r.dirty, r.himo_version, r.status, r.started_at, r.ended_at,
                  seconds(r.started_at, r.ended_at), executions)


def grid(session: Session, days: int = 30, today: date | None = None, summary: bool = True) -> Grid:
    """Airflow's grid: for each stage, each of the last `days` days, how its executions ended, in
    the order they ended (a day that failed, then recovered, shows both, the recovery last).
    A scheduled run's executions count on the day of its logical date (the interval it covers),
    not of their start, and the cell lists the run (see _scheduled_cells). All the month's stages
    come back; the page groups, sorts and cuts them. The other executions are counted from the
    per-day summary kept on write (himo.meta.days; ~3,000 rows a month at 1M executions), or with
    `summary=False` from the executions themselves (~40,000: 80 ms more), which must agree."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time())
    cells: Cells = {}
    for day, stage, status, n, last in session.execute(summarized(first) if summary
                                                       else from_executions(session, first)):
        cells.setdefault(stage, {}).setdefault(str(day)[:10], {})[status] = (n, last)
    runs = _scheduled_cells(session, since, cells)
    dates = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    return Grid(dates, [GridRow(s, [_cell(d, cells[s].get(d, {}), runs.get((s, d), [])) for d in dates],
                                max(cells[s])) for s in cells])


def _scheduled_cells(session: Session, since: datetime, cells: Cells) -> CellRuns:
    """Add the executions of scheduled runs whose logical date is in the grid to `cells`, on their
    logical date's (UTC) day; (stage, day) -> those runs, newest first."""
    runs: dict[tuple[str, str], dict[str, GridScheduled]] = {}
    for row in session.execute(_scheduled_query(since)):
        day = str(row.logical_date)[:10]
        seen = cells.setdefault(row.stage, {}).setdefault(day, {})
        n, last = seen.get(row.status, (0, row.last))
        seen[row.status] = (n + row.n, max(last, row.last))
        runs.setdefault((row.stage, day), {})[row.id] = GridScheduled(
            row.id, row.schedule or "", row.logical_date, row.trigger or "schedule", row.run_status,
            row.started_at)
    return {key: sorted(found.values(), key=lambda r: r.started_at, reverse=True)
            for key, found in runs.items()}


def _scheduled_query(since: datetime) -> sa.Select[Any]:
    """Per scheduled run (logical date since `since`), stage and status: its executions (never in
    the per-day summary, which counts only unscheduled runs'); the trigger its interval was asked
    for with (a backfill, a manual trigger), from the scheduler's claim. A row per run, stage and
    status: few beside the month's executions."""
    claim = sa.and_(ScheduleRun.repo == Run.repo, ScheduleRun.schedule == Run.schedule,
                    ScheduleRun.logical_date == Run.logical_date)
    run = (Run.id, Run.schedule, Run.logical_date, Run.started_at, ScheduleRun.trigger)
    return (sa.select(Execution.stage, Execution.status, sa.func.count().label("n"),
                      sa.func.max(Execution.started_at).label("last"), Run.status.label("run_status"), *run)
            .join(Run, Run.id == Execution.run_id).outerjoin(ScheduleRun, claim)
            .where(Run.logical_date >= since)  # ix_run_logical
            .group_by(Execution.stage, Execution.status, Run.status, *run))


def _cell(day: str, seen: dict[str, tuple[int, Any]], scheduled: list[GridScheduled]) -> GridCell:
    """A day of a stage: `segments` (status, count), the status that came last at the end; its
    state is that last status; `summary` (`1 failed, then 3 succeeded`) is its tooltip. (Ordered
    by the datetimes themselves: their text was a third of the grid's time, ~2,000 cells a month.)"""
    if not seen:
        return GridCell(day, {}, "none", "no run", [], scheduled)
    ordered = sorted(seen.items(), key=lambda item: item[1][1])
    segments = [GridSegment(status, n) for status, (n, _) in ordered]
    summary = ", then ".join(f"{seg.n} {seg.status}" for seg in segments) or "no run"
    counts = {seg.status: seg.n for seg in segments}
    state = _state(segments[-1].status) if segments else "none"
    return GridCell(day, counts, state, summary, segments, scheduled)


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


def latest_executions(session: Session, names: Iterable[str]) -> dict[str, LatestExecution]:
    """The newest execution of each stage named (for the pipeline page's links)."""
    found = {}
    for name in names:
        row = session.execute(sa.select(Execution.id, Execution.run_id, Execution.status,
                                        Execution.started_at)
                              .where(Execution.stage == name)
                              .order_by(Execution.started_at.desc()).limit(1)).first()
        if row:
            found[name] = LatestExecution(row.id, row.run_id, row.status, row.started_at)
    return found


# -- artifacts ----------------------------------------------------------------------------


def artifact_detail(session: Session, digest: str) -> ArtifactDetail | None:
    art = session.scalar(sa.select(Artifact).where(Artifact.digest == digest))
    if art is None:
        return None
    paths = session.execute(sa.select(ArtifactPath.repo, ArtifactPath.path, ArtifactPath.commit,
                                      ArtifactPath.first_seen)
                            .where(ArtifactPath.artifact_id == art.id).order_by(ArtifactPath.first_seen))
    places = [ArtifactPlace(*p) for p in paths]
    return ArtifactDetail(art.digest, art.kind, art.size, art.nfiles, art.first_seen, places,
                          versions(session, [(p.repo, p.path) for p in places]),
                          _touching(session, art.id, "OUTPUT"), _touching(session, art.id, "INPUT"),
                          locations(session, art.id))


def versions(session: Session, places: list[tuple[str, str]], limit: int = 100) -> list[ArtifactVersion]:
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
    return [ArtifactVersion(*row) for row in session.execute(query)]


def _touching(session: Session, artifact_id: int, direction: str, limit: int = 50) -> list[Touch]:
    query = (sa.select(Execution.id, Execution.run_id, Execution.stage, Execution.status,
                       Execution.started_at, Event.path)
             .join(Event, Event.execution_id == Execution.id)
             .where(Event.artifact_id == artifact_id, Event.direction == direction)
             .order_by(Execution.started_at.desc()).limit(limit))
    return [Touch(*row) for row in session.execute(query)]


def locations(session: Session, artifact_id: int) -> list[LocationRow]:
    query = (sa.select(Location.kind, Location.url, Location.first_at, Location.last_at, Location.who,
                       Location.run_id)
             .where(Location.artifact_id == artifact_id).order_by(Location.first_at))
    # mask_url: rows recorded before himo masked URL passwords (the recorder does now)
    return [LocationRow(row.kind, mask_url(row.url), row.first_at, row.last_at, row.who, row.run_id)
            for row in session.execute(query)]


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
                    limit: int = 200) -> list[MetricsOutput]:
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
    return [MetricsOutput(row.id, row.run_id, row.stage, row.started_at, flatten_params(row.params),
                          row.reported if isinstance(row.reported, dict) else {}, row.path, row.digest)
            for row in session.execute(query)]


# -- live ---------------------------------------------------------------------------------

LIVE_RUNS = 100  # running runs a live key covers (more at once: the newest ones)


def live_state(session: Session, run_id: str | None = None) -> LiveState:
    """The state pages of runs in progress poll. For one run: its status and its executions'. Else:
    the newest run and every running run (ix_run_status) with their executions': a run starting,
    a stage starting or ending, a run ending each change the key."""
    if run_id is not None:
        status = session.scalar(sa.select(Run.status).where(Run.id == run_id))
        runs = [(run_id, status)] if status is not None else []
        newest = None
    else:
        newest = session.scalar(sa.select(Run.id).order_by(Run.started_at.desc(), Run.id.desc()).limit(1))
        runs = [tuple(r) for r in session.execute(sa.select(Run.id, Run.status).where(Run.status == "running")
                                                  .order_by(Run.started_at.desc()).limit(LIVE_RUNS))]
    execs = session.execute(sa.select(Execution.run_id, Execution.id, Execution.status)
                            .where(Execution.run_id.in_([r for r, _ in runs]))
                            .order_by(Execution.run_id, Execution.id)) if runs else []
    text = repr((newest, runs, [tuple(e) for e in execs]))
    return LiveState(hashlib.blake2b(text.encode(), digest_size=8).hexdigest(),
                     [r for r, status in runs if status == "running"])
