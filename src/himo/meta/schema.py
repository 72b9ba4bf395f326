"""The tables of the metadata store (SQLAlchemy 2). Changes here need an Alembic migration.

Times are naive UTC everywhere (SQLite has no time zones; PostgreSQL then stores the same).
Indexes follow the queries: the run list (time, stage, status) and the lineage walk
(artifact -> events -> execution -> events -> artifacts).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[Any]: JSON}


class Artifact(Base):
    __tablename__ = "artifact"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="other")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    nfiles: Mapped[int | None] = mapped_column(Integer)
    first_seen: Mapped[datetime]


class ArtifactPath(Base):
    """An artifact at a path of a repository, at a git commit ('' before its first commit)."""

    __tablename__ = "path"
    __table_args__ = (UniqueConstraint("artifact_id", "repo", "path", "commit"),
                      Index("ix_path_repo_path", "repo", "path"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id"))
    repo: Mapped[str] = mapped_column(String(500))
    path: Mapped[str] = mapped_column(String(1000))
    commit: Mapped[str] = mapped_column(String(64), default="")
    first_seen: Mapped[datetime]


class Run(Base):
    """One invocation: a repro, a run, an add, a push ... (MLMD's context)."""

    __tablename__ = "run"
    __table_args__ = (Index("ix_run_started", "started_at"), Index("ix_run_status", "status", "started_at"),
                      Index("ix_run_schedule", "schedule", "logical_date"),
                      Index("ix_run_logical", "logical_date"))  # the runs grid's scheduled runs
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    command: Mapped[str] = mapped_column(String(32))
    args: Mapped[list[Any]] = mapped_column(default=list)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    user: Mapped[str] = mapped_column(String(200), default="")
    host: Mapped[str] = mapped_column(String(200), default="")
    repo: Mapped[str] = mapped_column(String(500), default="")
    git_commit: Mapped[str] = mapped_column(String(64), default="")
    branch: Mapped[str] = mapped_column(String(200), default="")
    dirty: Mapped[bool] = mapped_column(default=False)
    himo_version: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16), default="running")
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # A scheduled run (trigger schedule): its schedule, logical date (interval start), attempt number
    schedule: Mapped[str | None] = mapped_column(String(200))
    logical_date: Mapped[datetime | None]
    attempt: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(String(200))  # why it ended so: "timeout" ...


class ScheduleRun(Base):
    """One interval of a schedule, claimed by one scheduler: UNIQUE (repo, schedule, logical_date)
    is what makes each interval run once, whatever the number of schedulers on the store.

    state: running (an owner works on it, heartbeat_at says it lives), succeeded, failed, skipped.
    An owner whose heartbeat stopped (killed) loses the interval to the next scheduler.
    """

    __tablename__ = "schedule_run"
    __table_args__ = (UniqueConstraint("repo", "schedule", "logical_date", name="uq_schedule_run"),
                      Index("ix_schedule_run_state", "state", "heartbeat_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo: Mapped[str] = mapped_column(String(500))
    schedule: Mapped[str] = mapped_column(String(200))
    logical_date: Mapped[datetime]  # the interval's start (naive UTC)
    interval_end: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="running")
    reason: Mapped[str] = mapped_column(String(200), default="")  # timeout, superseded, ...
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str | None] = mapped_column(String(36))  # the latest attempt's run
    owner: Mapped[str] = mapped_column(String(200), default="")  # host:pid:token of the scheduler
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")  # schedule|backfill|manual
    claimed_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ScheduleState(Base):
    """What users set on a schedule outside himo.yaml: paused or not (one row per repo and name)."""

    __tablename__ = "schedule_state"
    repo: Mapped[str] = mapped_column(String(500), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(200), primary_key=True)
    paused: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime]
    who: Mapped[str] = mapped_column(String(200), default="")


class Execution(Base):
    """One stage run (or one add/commit): what it read and wrote, with which params and code."""

    __tablename__ = "execution"
    __table_args__ = (
        Index("ix_execution_started", "started_at"),
        Index("ix_execution_stage", "stage", "started_at"),
        Index("ix_execution_status", "status", "started_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id"), index=True)
    stage: Mapped[str] = mapped_column(String(200))
    cmd: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    exit_code: Mapped[int | None]
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    git_commit: Mapped[str] = mapped_column(String(64), default="")
    branch: Mapped[str] = mapped_column(String(200), default="")
    dirty: Mapped[bool] = mapped_column(default=False)
    code_digests: Mapped[dict[str, Any]] = mapped_column(default=dict)
    host: Mapped[str] = mapped_column(String(200), default="")
    user: Mapped[str] = mapped_column(String(200), default="")
    himo_version: Mapped[str] = mapped_column(String(32), default="")
    log: Mapped[str | None] = mapped_column(String(1000))
    # What a stage reported, kept in the store so a team store answers without the files:
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {metrics file: {dotted key: value}}
    log_tail: Mapped[str | None] = mapped_column(Text)  # the log's last lines


class ExecutionDay(Base):
    """The executions of unscheduled runs per UTC day of their start, stage and status: how many
    and the latest start. What the runs page's 30-day grid reads (~3,000 rows a month at 1M
    executions, where grouping the month's executions took 80 ms); kept exact by every write of an
    execution, in its transaction (himo.meta.days). A scheduled run's executions count on its
    logical date instead, read from the run table; n = 0 rows stay (a status left by all)."""

    __tablename__ = "execution_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stage: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    last: Mapped[datetime | None]  # the latest start among them


class Event(Base):
    """An execution read (INPUT) or wrote (OUTPUT) an artifact, at a path."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("execution_id", "artifact_id", "direction", "path"),
        Index("ix_event_artifact", "artifact_id", "direction"),
        Index("ix_event_execution", "execution_id", "direction"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("execution.id"))
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id"))
    direction: Mapped[str] = mapped_column(String(8))  # INPUT | OUTPUT
    path: Mapped[str] = mapped_column(String(1000), default="")


class Location(Base):
    """Where an artifact's bytes are: a remote, an export destination; first and last seen there."""

    __tablename__ = "location"
    __table_args__ = (UniqueConstraint("artifact_id", "kind", "url"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # remote | export | cache
    url: Mapped[str] = mapped_column(String(1000))
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    who: Mapped[str] = mapped_column(String(200), default="")
    run_id: Mapped[str | None] = mapped_column(String(36))


class Transfer(Base):
    """One move of an artifact's bytes by a run: a push, fetch or pull to or from a remote, an export.

    Location keeps where bytes are (first and last seen); this keeps what each run moved.
    """

    __tablename__ = "transfer"
    __table_args__ = (UniqueConstraint("run_id", "artifact_id", "url", "kind", name="uq_transfer_run"),
                      Index("ix_transfer_artifact", "artifact_id", "at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36))
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id"))
    kind: Mapped[str] = mapped_column(String(16))  # push | fetch | pull | export
    url: Mapped[str] = mapped_column(String(1000))
    path: Mapped[str] = mapped_column(String(1000), default="")
    at: Mapped[datetime]


LIVE = text("retired_at IS NULL")  # the partial index's condition: a release still live


class Release(Base):
    """An artifact live in an environment from released_at until retired_at (NULL: live now).

    History is append-only: a new release retires the live one at the same instant, and a
    rollback is a new release. Each named model has at most one live release per environment
    (ux_release_live): a team can run several models in production, one version of each.
    """

    __tablename__ = "release"
    __table_args__ = (
        UniqueConstraint("name", "env", "version", name="uq_release_name_env_version"),
        # its postgresql_where is set by _postgresql_where (below) when a PostgreSQL store is created
        Index("ux_release_live", "name", "env", unique=True, sqlite_where=LIVE),
        Index("ix_release_env", "env", "released_at"),
        Index("ix_release_artifact", "artifact_id", "released_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id"))
    name: Mapped[str] = mapped_column(String(200), default="")  # the model's registry name (GTO's artifact)
    env: Mapped[str] = mapped_column(String(64))  # production, staging ...
    version: Mapped[str] = mapped_column(String(64))  # v1, v2 ... unique per name in its env
    path: Mapped[str] = mapped_column(String(1000), default="")  # repository-relative, as released
    commit: Mapped[str] = mapped_column(String(64), default="")  # git commit holding that version
    note: Mapped[str] = mapped_column(Text, default="")
    user: Mapped[str] = mapped_column(String(200), default="")  # who released it
    released_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    run_id: Mapped[str | None] = mapped_column(String(36))  # the run that produced the artifact
    tags: Mapped[list[Any]] = mapped_column(default=list)  # git tags made for it (GTO format)


def _postgresql_where(table: Table, connection: Connection, **_: Any) -> None:
    """ux_release_live partial on PostgreSQL too, set when a PostgreSQL store is created from the models.

    Given in the Index as postgresql_where, it would load SQLAlchemy's PostgreSQL dialect (and its
    asyncio drivers' modules) into every command importing the schema: ~10 % of `himo runs`' CPU on
    SQLite. The migrations, which make real stores, give the condition on both databases."""
    if connection.dialect.name == "postgresql":
        for index in table.indexes:
            if index.name == "ux_release_live":
                index.dialect_kwargs["postgresql_where"] = LIVE


event.listen(Release.__table__, "before_create", _postgresql_where)


class Experiment(Base):
    """One experiment: a pipeline run in an isolated workspace (`himo exp run`), by its run's id.

    Kept so the store answers `exp show` and the dashboard without the repository's files: the
    overrides asked for, the params the stages read, the metrics they wrote, the outputs by digest,
    and the text files that differ from the base commit (himo.lock, params ...) for `exp apply`.
    """

    __tablename__ = "experiment"
    __table_args__ = (Index("ix_experiment_repo", "repo", "name"),
                      Index("ix_experiment_created", "created_at"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the run's id
    name: Mapped[str] = mapped_column(String(200))
    repo: Mapped[str] = mapped_column(String(500), default="")
    base_commit: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="succeeded")
    overrides: Mapped[list[Any]] = mapped_column(default=list)  # ["params.yaml:train.alpha=0.5", ...]
    targets: Mapped[list[Any]] = mapped_column(default=list)  # stages asked for ([]: all)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {params file: {dotted key: value}}
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {metrics file: {dotted key: value}}
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {output path: digest}
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {git path: text, or None if deleted}
    created_at: Mapped[datetime]


def dialect_insert(session: Any) -> Any:
    """The INSERT construct of the session's dialect: the one with ON CONFLICT (upserts and
    insert-if-absent). Imported when called: reading a store never loads PostgreSQL's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert
