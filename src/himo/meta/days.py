"""The per-day summary of executions (table execution_day) that the runs page's grid reads.

A row per UTC day of start, stage and status: how many executions of unscheduled runs (a run
without a logical date; a scheduled run's executions count on its logical date instead, see
browse.grid) and the latest start among them. A month is ~3,000 rows at 1M executions, where
grouping the month's ~40,000 executions took 80 ms of every runs page.

Kept exact on write, in the writer's own transaction: Applier notes each execution it inserts or
whose status it changes (`Changes`) and, before its transaction commits, `refresh` recounts from
the execution table each (day, stage, status) an execution left or entered (a stage started and
ended in one delivery: only its final status's). A recount, not an increment: a record applied
twice, a re-run, a status that changes, and the latest start all come out right by construction.
Being in the same transaction, a writer killed mid-write (kill -9) leaves neither the execution
nor its count.

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
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.meta.schema import Execution, ExecutionDay, Run, dialect_insert

Key = tuple[date, str, str]  # (day, stage, status)


def key_of(started_at: datetime, stage: str, status: str) -> Key:
    return started_at.date(), stage, status


class Changes:
    """The summary keys a transaction moved executions between: per execution, the keys it was
    in (None: not yet in the store), first to last; only the first and the last need a recount."""

    def __init__(self) -> None:
        self.paths: dict[str, list[Key | None]] = {}
        self.forced: set[Key] = set()

    def moved(self, exec_id: str, before: Key | None, after: Key) -> None:
        self.paths.setdefault(exec_id, [before]).append(after)

    def keys(self) -> set[Key]:
        ends = {key for path in self.paths.values() if path[0] != path[-1] for key in (path[0], path[-1])}
        return self.forced | {key for key in ends if key is not None}

    def undone(self) -> Changes:
        """A savepoint rolled some of the moves back: every key passed through is recounted."""
        self.forced |= {key for path in self.paths.values() for key in path if key is not None}
        self.paths.clear()
        return self


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


BATCH = 1000  # keys locked and recounted by one statement each (3 bound values a key)


def refresh(session: Session, keys: Iterable[Key]) -> None:
    """Recount each key from the execution table, its row locked first (see the module's doc): two
    statements a batch of keys, whatever their number (a delivery of a 30-stage run: 30 keys)."""
    ordered = sorted(set(keys))
    for first in range(0, len(ordered), BATCH):
        batch = ordered[first:first + BATCH]
        _lock(session, batch)
        _recount(session, batch)


def _lock(session: Session, keys: list[Key]) -> None:
    """Make the keys' rows if absent and lock them until the transaction ends (an upsert that
    changes nothing, in sorted order: a concurrent writer of the same key waits here for this
    one's commit, and two writers never wait for each other in a cycle)."""
    table = ExecutionDay.__table__
    rows = [{"day": d, "stage": s, "status": st, "n": 0} for d, s, st in keys]
    statement = dialect_insert(session)(table).values(rows)
    session.execute(statement.on_conflict_do_update(index_elements=["day", "stage", "status"],
                                                    set_={"n": table.c.n}))


def _recount(session: Session, keys: list[Key]) -> None:
    """Each key's count and latest start from the executions of its stage, status and day, by one
    UPDATE (a statement after the lock: under READ COMMITTED it sees every writer before it). The
    day's executions are a range of ix_execution_stage (stage, started_at), bounded by the row's day:
    on SQLite, whose times and days are ISO text, the day itself and the next one as text."""
    table = ExecutionDay.__table__
    if session.get_bind().dialect.name == "sqlite":
        start, end = table.c.day, sa.func.date(table.c.day, "+1 day")
    else:
        start, end = sa.cast(table.c.day, sa.DateTime), sa.cast(table.c.day + 1, sa.DateTime)
    same = (Execution.stage == table.c.stage, Execution.status == table.c.status,
            Execution.started_at >= start, Execution.started_at < end, unscheduled())
    # an OR of keys, not (day, stage, status) IN (...): SQLite would scan the table for that
    rows = sa.or_(*(sa.and_(table.c.day == d, table.c.stage == s, table.c.status == st) for d, s, st in keys))
    session.execute(table.update().where(rows)
                    .values(n=sa.select(sa.func.count()).where(*same).scalar_subquery(),
                            last=sa.select(sa.func.max(Execution.started_at)).where(*same).scalar_subquery()))


def rebuild(session: Session) -> None:
    """Recount the whole summary from the execution table (a bulk-loaded store, a repair)."""
    table = ExecutionDay.__table__
    session.execute(table.delete())
    session.execute(table.insert().from_select(["day", "stage", "status", "n", "last"],
                                               from_executions(session)))
