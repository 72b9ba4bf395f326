"""The per-day summary of executions (table execution_day) that the runs page's grid reads.

A row per UTC day of start, stage and status: how many executions of unscheduled runs (a run
without a logical date; a scheduled run's executions count on its logical date instead, see
browse.grid) and the latest start among them. A month is ~3,000 rows at 1M executions, where
grouping the month's ~40,000 executions took 80 ms of every runs page.

Kept exact on write, in the writer's own transaction: Applier notes the (day, stage, status) keys
an execution left or entered (`touched`) and, before its transaction commits, `refresh` recounts
each from the execution table. A recount, not an increment: a record applied twice, a re-run, a
status that changes, and the latest start all come out right by construction. Being in the same
transaction, a writer killed mid-write (kill -9) leaves neither the execution nor its count.

Two writers at once: SQLite has one writer at a time (BEGIN IMMEDIATE). On PostgreSQL, each key's
row is locked before it is recounted (an upsert that changes nothing), and the recount is a
statement after the lock, so under READ COMMITTED it sees every writer that held the lock before;
a writer that changes an execution of the key later recounts it later. Keys are locked in sorted
order, so two writers never wait for each other in a cycle. `rebuild` recounts everything (the
migration that made the table, a bulk-loaded store); `from_executions` is the summary's meaning as
one select, which the tests compare it with.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.meta.schema import Execution, ExecutionDay, Run

Key = tuple[date, str, str]  # (day, stage, status)


def key_of(started_at: datetime, stage: str, status: str) -> Key:
    return started_at.date(), stage, status


def unscheduled() -> sa.ColumnElement[bool]:
    """The execution's run has no logical date (its executions count on the day they started)."""
    return ~sa.exists().where(Run.id == Execution.run_id, Run.logical_date.is_not(None))


def day_column(session: Session) -> sa.ColumnElement[Any]:
    """The UTC day of an execution's start. SQLite keeps times as ISO text: its first ten
    characters (the text a Date column holds there); PostgreSQL: a cast to date."""
    if session.get_bind().dialect.name == "sqlite":
        return sa.func.substr(Execution.started_at, 1, 10)
    return sa.cast(Execution.started_at, sa.Date)


def from_executions(session: Session, since: date | None = None) -> sa.Select[Any]:
    """(day, stage, status, n, last) counted from the executions themselves (since `since`):
    what the summary holds, in one select."""
    day = day_column(session)
    query = sa.select(day.label("day"), Execution.stage, Execution.status, sa.func.count().label("n"),
                      sa.func.max(Execution.started_at).label("last")).where(unscheduled())
    if since is not None:
        query = query.where(Execution.started_at >= datetime.combine(since, time.min))
    return query.group_by(day, Execution.stage, Execution.status)


def summarized(first: date) -> sa.Select[Any]:
    """The summary's rows from `first` on (those with executions): (day, stage, status, n, last),
    the columns of `from_executions`."""
    return sa.select(ExecutionDay.day, ExecutionDay.stage, ExecutionDay.status, ExecutionDay.n,
                     ExecutionDay.last).where(ExecutionDay.day >= first, ExecutionDay.n > 0)


def refresh(session: Session, keys: Iterable[Key]) -> None:
    """Recount each key from the execution table, its row locked first (see the module's doc)."""
    table = ExecutionDay.__table__
    for day, stage, status in sorted(set(keys)):
        _lock(session, day, stage, status)
        start = datetime.combine(day, time.min)
        n, last = session.execute(
            sa.select(sa.func.count(), sa.func.max(Execution.started_at))
            .where(Execution.stage == stage, Execution.started_at >= start,
                   Execution.started_at < start + timedelta(days=1), Execution.status == status,
                   unscheduled())).one()
        session.execute(table.update().where(table.c.day == day, table.c.stage == stage,
                                             table.c.status == status).values(n=n, last=last))


def _lock(session: Session, day: date, stage: str, status: str) -> None:
    """Make the key's row if absent and lock it until the transaction ends (an upsert that
    changes nothing: a concurrent writer of the same key waits here for this one's commit)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = ExecutionDay.__table__
    statement = insert(table).values(day=day, stage=stage, status=status, n=0)
    session.execute(statement.on_conflict_do_update(index_elements=["day", "stage", "status"],
                                                    set_={"n": table.c.n}))


def rebuild(session: Session) -> None:
    """Recount the whole summary from the execution table (a bulk-loaded store, a repair)."""
    table = ExecutionDay.__table__
    session.execute(table.delete())
    session.execute(table.insert().from_select(["day", "stage", "status", "n", "last"],
                                               from_executions(session)))
