"""The SQL of the store's common reads, written once: SQLAlchemy Core statements, by name.

Two readers run them (himo.meta.queries holds what they do with the rows; see `Sql` there):
- on SQLAlchemy (`on(session)`): PostgreSQL stores, and the dashboard and writers on SQLite;
- on the standard library's sqlite3 (himo.meta.lite): the CLI's reads of a SQLite store, which
  so never import SQLAlchemy (~70 % of `himo runs`' start-to-exit). That reader executes the text
  SQLAlchemy compiles for SQLite from these same statements, kept in himo/meta/sqlite_sql.py:

    python -m himo.meta.statements    # after changing a statement or the schema

(tests/meta/test_lite.py fails while the file differs from what this writes, and checks that
both readers return the same results.) A statement's variants are its keyword options (a filter
given or not), each compiled once; values are bound parameters, never part of the text.
"""

from __future__ import annotations

import functools
import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, aliased

from himo.meta.migrations import HEAD
from himo.meta.queries import PRODUCED, key
from himo.meta.schema import Artifact, ArtifactPath, Event, Execution, Release, Run, Transfer

GENERATED = Path(__file__).with_name("sqlite_sql.py")
# name -> (builder, {option: its values}): every variant is compiled into sqlite_sql.py
Build = Callable[..., sa.Select[Any]]
STATEMENTS: dict[str, tuple[Build, dict[str, tuple[Any, ...]]]] = {}
BOTH = (False, True)
MATCHES = ("", "stage", "stage_status", "cached", "status")  # the run list's filters on executions


def statement(**options: tuple[Any, ...]) -> Callable[[Build], Build]:
    """Registers a statement builder; `options`: the values of each of its keyword arguments."""

    def register(build: Build) -> Build:
        STATEMENTS[build.__name__] = (build, options)
        return build
    return register


@functools.cache
def built(name: str, options: tuple[tuple[str, Any], ...] = ()) -> sa.Select[Any]:
    """The statement, built once per process (SQLAlchemy caches its compiled form by it)."""
    return STATEMENTS[name][0](**dict(options))


class SessionSql:
    """himo.meta.queries.Sql on a SQLAlchemy session: runs the statements themselves."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def rows(self, name: str, params: dict[str, Any], /, **options: Any) -> list[Any]:
        return list(self.session.execute(built(name, tuple(sorted(options.items()))), params))


def on(session: Session) -> SessionSql:
    return SessionSql(session)


def ids() -> Any:
    """An IN-list bound at execution (each chunk of ids)."""
    return sa.bindparam("ids", expanding=True)


# -- runs -----------------------------------------------------------------------------------


@statement(since=BOTH, until=BOTH, match=MATCHES)
def runs(since: bool, until: bool, match: str) -> sa.Select[Any]:
    """Runs newest first, walking ix_run_started (ix_run_status with a status alone); `match`
    (see queries.list_runs): which executions a run must have, or the status it ended in."""
    query = sa.select(*Run.__table__.c)
    if since:
        query = query.where(Run.started_at >= sa.bindparam("since"))
    if until:
        query = query.where(Run.started_at < sa.bindparam("until"))
    if match in ("stage", "stage_status", "cached"):
        where = {"stage": [Execution.stage == sa.bindparam("stage")],
                 "stage_status": [Execution.stage == sa.bindparam("stage"),
                                  Execution.status == sa.bindparam("status")],
                 "cached": [Execution.status == "cached"]}[match]
        query = query.where(sa.exists().where(Execution.run_id == Run.id, *where))
    elif match == "status":
        query = query.where(Run.status == sa.bindparam("status"))
    return query.order_by(Run.started_at.desc(), Run.id.desc()) \
        .limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))


@statement(stage=BOTH, status=BOTH)
def executions_of(stage: bool, status: bool) -> sa.Select[Any]:
    """The executions of these runs in start order, with the previous run of each's stage."""
    query = _with_previous().where(Execution.run_id.in_(ids()))
    if stage:
        query = query.where(Execution.stage == sa.bindparam("stage"))
    if status:
        query = query.where(Execution.status == sa.bindparam("status"))
    return query


@statement(one=BOTH)
def run_executions(one: bool) -> sa.Select[Any]:
    """The run's executions (`one`: only the execution `exec_id`), with their previous runs."""
    query = _with_previous().where(Execution.run_id == sa.bindparam("run_id"))
    return query.where(Execution.id == sa.bindparam("exec_id")) if one else query


def _with_previous() -> sa.Select[Any]:
    return sa.select(*Execution.__table__.c, *_previous_columns()).join(Run, Run.id == Execution.run_id) \
        .order_by(Execution.started_at, Execution.id)


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


@statement()
def stage_known() -> sa.Select[Any]:
    """Any execution of the stage (one seek on ix_execution_stage)."""
    return sa.select(Execution.id).where(Execution.stage == sa.bindparam("stage")).limit(1)


@statement()
def stage_names() -> sa.Select[Any]:
    return sa.select(Execution.stage).group_by(Execution.stage).order_by(Execution.stage) \
        .limit(sa.bindparam("limit"))


@statement()
def run_ids_like() -> sa.Select[Any]:
    """A range on the primary key, then LIKE: a LIKE alone read the whole index (50-700 ms at
    320,000 runs on SQLite, 190 ms on PostgreSQL, whose default collations keep LIKE off it)."""
    return sa.select(Run.id).where(Run.id >= sa.bindparam("low"), Run.id < sa.bindparam("high"),
                                   Run.id.like(sa.bindparam("pattern"))).order_by(Run.id) \
        .limit(sa.bindparam("limit"))


@statement()
def execution_ids_like() -> sa.Select[Any]:
    """As run_ids_like (a LIKE alone: 0.3-3 s at 1M executions on SQLite)."""
    return sa.select(Execution.id, Execution.run_id) \
        .where(Execution.id >= sa.bindparam("low"), Execution.id < sa.bindparam("high"),
               Execution.id.like(sa.bindparam("pattern"))).order_by(Execution.id).limit(sa.bindparam("limit"))


@statement()
def run_by_id() -> sa.Select[Any]:
    return sa.select(*Run.__table__.c).where(Run.id == sa.bindparam("run_id"))


@statement()
def transfers_of() -> sa.Select[Any]:
    """What the run moved, on uq_transfer_run (it leads with run_id)."""
    return sa.select(Transfer.kind, Transfer.url, Transfer.path, Artifact.digest, Artifact.kind,
                     Artifact.size, Transfer.at).join(Artifact, Artifact.id == Transfer.artifact_id) \
        .where(Transfer.run_id == sa.bindparam("run_id")).order_by(Transfer.path, Transfer.url)


@statement()
def io_of() -> sa.Select[Any]:
    return sa.select(Event.execution_id, Event.direction, Event.path, Artifact.digest, Artifact.kind,
                     Artifact.size).join(Artifact, Artifact.id == Event.artifact_id) \
        .where(Event.execution_id.in_(ids())).order_by(Event.execution_id, Event.direction, Event.path)


# -- artifacts ------------------------------------------------------------------------------


@statement()
def artifacts_by_prefix() -> sa.Select[Any]:
    """(digest, kind, a path): a range on the unique index (hex sorts alike in every collation)."""
    any_path = sa.select(ArtifactPath.path).where(ArtifactPath.artifact_id == Artifact.id) \
        .order_by(ArtifactPath.first_seen.desc()).limit(1).scalar_subquery()
    return sa.select(Artifact.digest, Artifact.kind, sa.func.coalesce(any_path, "")) \
        .where(Artifact.digest >= sa.bindparam("low"), Artifact.digest < sa.bindparam("high"),
               Artifact.digest.like(sa.bindparam("pattern"))) \
        .order_by(Artifact.digest).limit(sa.bindparam("limit"))


@statement()
def artifact_by_digest() -> sa.Select[Any]:
    return _artifact_columns().where(Artifact.digest == sa.bindparam("digest"))


@statement()
def artifact_ids() -> sa.Select[Any]:
    """(digest, id) of these digests."""
    return sa.select(Artifact.digest, Artifact.id).where(Artifact.digest.in_(sa.bindparam("digests",
                                                                                       expanding=True)))


# -- lineage --------------------------------------------------------------------------------


def _artifact_columns() -> sa.Select[Any]:
    return sa.select(Artifact.id, Artifact.digest, Artifact.kind, Artifact.size, Artifact.nfiles,
                     Artifact.first_seen)


def _exec_columns() -> list[Any]:
    return [Execution.id, Execution.run_id, Execution.stage, Execution.status, Execution.started_at,
            Execution.ended_at, Execution.git_commit, Execution.branch, Execution.dirty, Execution.params,
            Execution.code_digests]


def producer_first() -> tuple[Any, ...]:
    """ORDER BY of the executions that wrote an artifact, its producer first: the latest that
    computed it (succeeded), else (it ran before recording began) the earliest restore."""
    restored = sa.case((Execution.status == "cached", 1), else_=0)
    succeeded_at = sa.case((Execution.status == "succeeded", Execution.started_at))
    cached_at = sa.case((Execution.status == "cached", Execution.started_at))
    return restored, succeeded_at.desc(), cached_at, Execution.id


@statement()
def producers() -> sa.Select[Any]:
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
        .where(Event.artifact_id.in_(ids()), Event.direction == "OUTPUT",
               Execution.status.in_(PRODUCED)).subquery()
    latest_restore = sa.and_(inner.c.restore == 1, inner.c.status == "cached")
    return sa.select(inner).where(sa.or_(inner.c.rank == 1, latest_restore)) \
        .order_by(inner.c.artifact_id, inner.c.rank)


@statement()
def consumers() -> sa.Select[Any]:
    """Readers ranked on the event index alone (newest event first), so a dataset read by
    10,000 executions costs an index range, and only the kept ones are joined."""
    ranked = sa.select(
        Event.artifact_id, Event.execution_id, Event.path.label("event_path"),
        sa.func.row_number().over(partition_by=Event.artifact_id, order_by=Event.id.desc()).label("rank"),
        sa.func.count().over(partition_by=Event.artifact_id).label("total"),
    ).where(Event.artifact_id.in_(ids()), Event.direction == "INPUT").subquery()
    return sa.select(ranked.c.artifact_id, ranked.c.event_path, ranked.c.total, *_exec_columns()) \
        .join(Execution, Execution.id == ranked.c.execution_id) \
        .where(ranked.c.rank <= sa.bindparam("fan_out")) \
        .order_by(ranked.c.artifact_id, Execution.started_at.desc())


@statement()
def artifacts_of() -> sa.Select[Any]:
    """The artifacts these executions read or wrote (`direction`), with the event's path."""
    return _artifact_columns().add_columns(Event.execution_id, Event.path.label("event_path")) \
        .join(Event, Event.artifact_id == Artifact.id) \
        .where(Event.execution_id.in_(ids()), Event.direction == sa.bindparam("direction")) \
        .order_by(Event.execution_id, Event.path)


# -- releases -------------------------------------------------------------------------------


def release_columns() -> sa.Select[Any]:
    """A release with its artifact's digest and kind (himo.meta.queries.release_row)."""
    return sa.select(*Release.__table__.c, Artifact.digest, Artifact.kind) \
        .join(Artifact, Artifact.id == Release.artifact_id)


@statement(env=BOTH, name=BOTH, at=BOTH)
def timeline(env: bool, name: bool, at: bool) -> sa.Select[Any]:
    """Releases by env, then name, each newest first (ix_release_env); `at`: those live then."""
    query = release_columns()
    if env:
        query = query.where(Release.env == sa.bindparam("env"))
    if name:
        query = query.where(Release.name == sa.bindparam("name"))
    if at:
        query = query.where(Release.released_at <= sa.bindparam("at"),
                            sa.or_(Release.retired_at.is_(None), Release.retired_at > sa.bindparam("at")))
    return query.order_by(Release.env, Release.name, Release.released_at.desc(), Release.id.desc())


@statement()
def releases_of() -> sa.Select[Any]:
    """Every release of these artifacts, oldest first (ix_release_artifact)."""
    return release_columns().where(Release.artifact_id.in_(ids())).order_by(Release.released_at, Release.id)


@statement()
def released_names() -> sa.Select[Any]:
    """(name, env) of every model ever released."""
    return sa.select(Release.name, Release.env).distinct()


@statement()
def names_released_from() -> sa.Select[Any]:
    return sa.select(Release.name).where(Release.path == sa.bindparam("path")).distinct()


# -- the SQLite text, generated -------------------------------------------------------------


# What the sqlite3 reader does to a value, by SQLAlchemy type (SQLite dialect): times are text,
# JSON is text, booleans are 0/1. Anything else comes and goes as sqlite3 has it.
CONVERSIONS = ((sa.DateTime, "t"), (sa.JSON, "j"), (sa.Boolean, "b"))


def _code(type_: Any) -> str:
    return next((code for kind, code in CONVERSIONS if isinstance(type_, kind)), "-")


def compiled(select: sa.Select[Any]) -> tuple[str, tuple[str, ...], str, dict[str, Any], dict[str, str]]:
    """(SQL text with :named parameters, column names, a conversion code per column, the values
    of the parameters the statement fixes, {parameter: conversion code})."""
    done = select.compile(dialect=sqlite.dialect(paramstyle="named"))
    fixed = {name: value for name, value in done.params.items() if value is not None}
    binds = {name: _code(done.binds[name].type) for name in done.params}
    return (done.string, tuple(c.key or "" for c in select.selected_columns),
            "".join(_code(c.type) for c in select.selected_columns), fixed,
            {name: code for name, code in binds.items() if code != "-"})


def variants() -> dict[str, sa.Select[Any]]:
    """Every statement in every variant, by queries.key."""
    found = {}
    for name, (build, options) in sorted(STATEMENTS.items()):
        for values in itertools.product(*options.values()):
            chosen = dict(zip(options, values, strict=True))
            found[key(name, chosen)] = build(**chosen)
    return found


def generate() -> str:
    """The text of sqlite_sql.py."""
    lines = ["# ruff: noqa: E501  (SQL text, as compiled)",
             '"""Generated by `python -m himo.meta.statements` from himo/meta/statements.py: do not edit.',
             "",
             "The SQL text SQLAlchemy compiles for SQLite from each read statement, for himo.meta.lite;",
             "each entry: (SQL, column names, conversion code per column, fixed parameter values,",
             '{parameter: conversion code}). Codes: t time (text), j JSON, b boolean, - none."""',
             "", "from typing import Any", "",
             f"HEAD = {HEAD!r}  # the schema revision the statements were compiled for", "",
             "STATEMENTS: dict[str, tuple[str, tuple[str, ...], str, dict[str, Any], dict[str, str]]] = {"]
    for name, select in variants().items():
        sql, columns, codes, fixed, binds = compiled(select)
        lines += [f"    {name!r}: (", f"        {sql!r},", f"        {columns!r},", f"        {codes!r},",
                  f"        {fixed!r},", f"        {binds!r},", "    ),"]
    return "\n".join([*lines, "}", ""])


if __name__ == "__main__":
    GENERATED.write_text(generate(), encoding="utf-8")
    print(f"wrote {GENERATED}", file=sys.stderr)
