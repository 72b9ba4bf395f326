"""The store's side of schedules: claiming intervals exactly once, heartbeats, pauses, history.

An interval of a schedule is a row of `schedule_run`, UNIQUE (repo, schedule, logical_date). A
scheduler runs an interval only after inserting its row (or taking over the row of a scheduler
that died): whichever inserts first wins, on SQLite and PostgreSQL alike. Counting the running
intervals (max_active) and claiming are one transaction, serialized per schedule: SQLite's write
transactions begin with the write lock (BEGIN IMMEDIATE), PostgreSQL takes an advisory lock on
the schedule for the transaction.

Owners are `host|pid|token`. A running row's owner is dead when it is on this host and its pid
is gone, or when its heartbeat is older than STALE_SECONDS (another host): then the next
scheduler takes the row over (compare-and-set on owner and heartbeat) and the interval runs again.
"""

from __future__ import annotations

import functools
import os
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from himo.meta.schema import Run, ScheduleRun, ScheduleState, dialect_insert
from himo.meta.store import Store

STALE_SECONDS = 30.0  # a heartbeat older than this: its scheduler is gone
HOST = os.uname().nodename
FINAL = ("succeeded", "failed", "skipped")


def utc(value: datetime) -> datetime:
    """An aware time as the store keeps times: naive UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def owner_is_dead(owner: str, heartbeat_at: datetime, now: datetime | None = None) -> bool:
    host, _, rest = owner.partition("|")
    pid = rest.partition("|")[0]
    if host == HOST and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, someone else's
            return False
        return int(pid) != os.getpid() and heartbeat_at < (now or _now()) - timedelta(seconds=STALE_SECONDS)
    return heartbeat_at < (now or _now()) - timedelta(seconds=STALE_SECONDS)


@dataclass(frozen=True)
class Claim:
    """What claiming an interval gave: `claimed` (run it), `wait` (max_active reached), `taken`
    (another scheduler has it, or it is done)."""

    outcome: str
    id: int | None = None
    attempts: int = 0  # attempts made before (a row taken over from a dead scheduler)
    taken_over: bool = False


@dataclass(frozen=True)
class Wanted:
    """An interval a scheduler wants to run: (schedule, start, end), at most max_active at once
    (None: no limit, a manual trigger)."""

    schedule: str
    start: datetime
    end: datetime
    max_active: int | None = 1


def claim(
    store: Store,
    repo: str,
    schedule: str,
    start: datetime,
    end: datetime,
    owner: str,
    max_active: int | None,
    trigger: str = "schedule",
    rerun: tuple[str, ...] = (),
) -> Claim:
    """Claim (repo, schedule, start) for `owner`. max_active None: no limit (a manual trigger).
    rerun: the finished states claimed again (a user asked: `schedule trigger --date`, `backfill`)."""
    return claim_many(store, repo, owner, [Wanted(schedule, start, end, max_active)], trigger, rerun)[0]


def claim_many(
    store: Store,
    repo: str,
    owner: str,
    wanted: list[Wanted],
    trigger: str = "schedule",
    rerun: tuple[str, ...] = (),
) -> list[Claim]:
    """Claim each wanted interval, in order, in one transaction (a tick claims what is due at once)."""
    if not wanted:
        return []
    with store.session(write=True) as session:
        for name in sorted({w.schedule for w in wanted}):
            _serialize(session, repo, name)
        now = _now()
        active: dict[str, set[datetime]] = {}
        for name, start, row_owner, beat in session.execute(
            sa.select(
                ScheduleRun.schedule, ScheduleRun.logical_date, ScheduleRun.owner, ScheduleRun.heartbeat_at
            ).where(ScheduleRun.repo == repo, ScheduleRun.state == "running")
        ):
            if not owner_is_dead(row_owner, beat, now):
                active.setdefault(name, set()).add(start)
        keys = [(w.schedule, utc(w.start)) for w in wanted]
        rows = {
            (r.schedule, r.logical_date): r
            for r in session.execute(
                sa.select(
                    ScheduleRun.id,
                    ScheduleRun.schedule,
                    ScheduleRun.logical_date,
                    ScheduleRun.state,
                    ScheduleRun.owner,
                    ScheduleRun.heartbeat_at,
                    ScheduleRun.attempts,
                    ScheduleRun.trigger,
                ).where(
                    ScheduleRun.repo == repo,
                    sa.tuple_(ScheduleRun.schedule, ScheduleRun.logical_date).in_(keys),
                )
            )
        }
        claims = []
        for w, key in zip(wanted, keys, strict=True):
            running = active.setdefault(w.schedule, set())
            if w.max_active is not None and len(running - {key[1]}) >= w.max_active:
                claims.append(Claim("wait"))
                continue
            found = _claim_one(session, repo, owner, w, rows.get(key), trigger, rerun, now)
            if found.outcome == "claimed":
                running.add(key[1])
            claims.append(found)
        return claims


def _claim_one(
    session: Any,
    repo: str,
    owner: str,
    w: Wanted,
    row: Any,
    trigger: str,
    rerun: tuple[str, ...],
    now: datetime,
) -> Claim:
    if row is None:
        return _insert(session, repo, w.schedule, utc(w.start), utc(w.end), owner, trigger, now)
    dead = row.state == "running" and owner_is_dead(row.owner, row.heartbeat_at, now)
    if not dead and row.state not in rerun:
        return Claim("taken")
    done = session.execute(
        sa.update(ScheduleRun)
        .where(
            ScheduleRun.id == row.id,
            ScheduleRun.owner == row.owner,
            ScheduleRun.state == row.state,
        )
        .values(
            owner=owner,
            state="running",
            heartbeat_at=now,
            claimed_at=now,
            ended_at=None,
            reason="",
            trigger=row.trigger if dead else trigger,
        )
    )
    if done.rowcount != 1:
        return Claim("taken")
    return Claim("claimed", row.id, row.attempts, taken_over=dead)


def _insert(
    session: Any,
    repo: str,
    schedule: str,
    start: datetime,
    end: datetime,
    owner: str,
    trigger: str,
    now: datetime,
    state: str = "running",
    reason: str = "",
) -> Claim:
    values = {
        "repo": repo,
        "schedule": schedule,
        "logical_date": start,
        "interval_end": end,
        "state": state,
        "reason": reason,
        "attempts": 0,
        "owner": owner,
        "trigger": trigger,
        "claimed_at": now,
        "heartbeat_at": now,
        "ended_at": now if state in FINAL else None,
    }
    new_id = session.execute(_insert_row(session.get_bind().dialect.name), values).scalar()
    return Claim("claimed", new_id) if new_id is not None else Claim("taken")


@functools.cache
def _insert_row(dialect: str) -> Any:
    """INSERT of one interval's row unless it exists, its id returned: one statement per dialect,
    built once, on the table (a tick claims its due intervals without building statements,
    nor the ORM's bulk path: a third of a tick's CPU time with ~16 due)."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = ScheduleRun.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["repo", "schedule", "logical_date"])
        .returning(table.c.id)
    )


def _serialize(session: Any, repo: str, schedule: str) -> None:
    """PostgreSQL: one claiming transaction per schedule at a time (SQLite's BEGIN IMMEDIATE
    serializes every write transaction already)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"{repo}\0{schedule}".encode()) - 2**31
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": 0x68696D6F, "b": key})


def skip(
    store: Store, repo: str, schedule: str, start: datetime, end: datetime, owner: str, reason: str
) -> bool:
    """Record the interval skipped (it will not run), unless some scheduler has it already."""
    with store.session(write=True) as session:
        return (
            _insert(
                session, repo, schedule, utc(start), utc(end), owner, "schedule", _now(), "skipped", reason
            ).outcome
            == "claimed"
        )


def attempt_started(store: Store, claim_id: int, owner: str, attempt: int, run_id: str) -> None:
    with store.session(write=True) as session:
        session.execute(
            sa.update(ScheduleRun)
            .where(ScheduleRun.id == claim_id, ScheduleRun.owner == owner)
            .values(attempts=attempt, run_id=run_id, heartbeat_at=_now())
        )


def finish(store: Store, claim_id: int, owner: str, state: str, reason: str = "") -> None:
    with store.session(write=True) as session:
        session.execute(
            sa.update(ScheduleRun)
            .where(ScheduleRun.id == claim_id, ScheduleRun.owner == owner)
            .values(state=state, reason=reason, ended_at=_now(), heartbeat_at=_now())
        )


def heartbeat(store: Store, owner: str) -> None:
    """The owner's running intervals are alive."""
    with store.session(write=True) as session:
        session.execute(
            sa.update(ScheduleRun)
            .where(ScheduleRun.owner == owner, ScheduleRun.state == "running")
            .values(heartbeat_at=_now())
        )


def last_ends(store: Store, repo: str) -> dict[str, datetime]:
    """Per schedule, the end (naive UTC) of its latest known interval, in one query."""
    with store.session() as session:
        rows = session.execute(
            sa.select(ScheduleRun.schedule, sa.func.max(ScheduleRun.interval_end))
            .where(ScheduleRun.repo == repo)
            .group_by(ScheduleRun.schedule)
        ).all()
    return {name: end for name, end in rows}


def orphans(store: Store, repo: str) -> list[tuple[str, datetime, datetime]]:
    """Intervals left running by a scheduler that died: (schedule, start, end), to run again."""
    with store.session() as session:
        rows = (
            session.execute(
                sa.select(ScheduleRun).where(ScheduleRun.repo == repo, ScheduleRun.state == "running")
            )
            .scalars()
            .all()
        )
        now = _now()
        return [
            (r.schedule, r.logical_date, r.interval_end)
            for r in rows
            if owner_is_dead(r.owner, r.heartbeat_at, now)
        ]


def paused(store: Store, repo: str) -> set[str]:
    with store.session() as session:
        return set(
            session.execute(
                sa.select(ScheduleState.schedule).where(
                    ScheduleState.repo == repo, ScheduleState.paused.is_(True)
                )
            ).scalars()
        )


def set_paused(store: Store, repo: str, schedule: str, value: bool, who: str) -> None:
    with store.session(write=True) as session:
        insert = dialect_insert(session)(ScheduleState).values(
            repo=repo, schedule=schedule, paused=value, changed_at=_now(), who=who
        )
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["repo", "schedule"], set_={"paused": value, "changed_at": _now(), "who": who}
            )
        )


@dataclass(frozen=True)
class Attempt:
    run_id: str
    attempt: int | None
    status: str
    reason: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class IntervalRecord:
    """One interval of a schedule as the store knows it, with its attempts' runs (oldest first)."""

    schedule: str
    logical_date: datetime  # naive UTC
    interval_end: datetime
    state: str  # running | succeeded | failed | skipped
    reason: str
    trigger: str
    attempts: list[Attempt]
    run_id: str | None  # the latest attempt's run


def history(store: Store, repo: str, schedule: str | None = None, limit: int = 30) -> list[IntervalRecord]:
    """The latest `limit` intervals of a schedule (all schedules: None), newest first, each with
    its attempts (the runs recorded with that schedule and logical date)."""
    with store.session() as session:
        query = sa.select(ScheduleRun).where(ScheduleRun.repo == repo)
        if schedule is not None:
            query = query.where(ScheduleRun.schedule == schedule)
        rows = session.execute(query.order_by(ScheduleRun.logical_date.desc()).limit(limit)).scalars().all()
        runs = _attempts(session, repo, schedule, [r.logical_date for r in rows])
        return [
            IntervalRecord(
                r.schedule,
                r.logical_date,
                r.interval_end,
                r.state,
                r.reason,
                r.trigger,
                runs.get((r.schedule, r.logical_date), []),
                r.run_id,
            )
            for r in rows
        ]


def _attempts(
    session: Any, repo: str, schedule: str | None, dates: list[datetime]
) -> dict[Any, list[Attempt]]:
    if not dates:
        return {}
    query = sa.select(Run).where(
        Run.trigger == "schedule",
        Run.repo == repo,
        Run.command == "repro",
        Run.logical_date >= min(dates),
        Run.logical_date <= max(dates),
    )
    if schedule is not None:
        query = query.where(Run.schedule == schedule)
    found: dict[Any, list[Attempt]] = {}
    for run in session.execute(query.order_by(Run.started_at)).scalars():
        found.setdefault((run.schedule, run.logical_date), []).append(
            Attempt(run.id, run.attempt, run.status, run.reason, run.started_at, run.ended_at)
        )
    return found
