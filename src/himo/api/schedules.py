"""`himo schedule ...`: the schedules of himo.yaml, their next due time and history; pause and
resume (kept in the metadata store, not in himo.yaml); trigger and backfill (run intervals now).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from himo.api.recording import _user, open_store, repo_identity
from himo.api.scheduler import Outcome, Scheduler, real_now
from himo.errors import PipelineError
from himo.meta import schedules as claims
from himo.pipeline.schedules import Interval, Schedule, read_schedules
from himo.workspace.repo import Repo

MAX_BACKFILL = 10_000  # intervals one backfill may ask for
# The intervals run again when asked: a trigger runs its date whatever it did; a backfill what
# did not succeed.
RERUN = {"manual": claims.FINAL, "backfill": ("failed", "skipped")}


@dataclass
class ScheduleInfo:
    name: str
    when: str  # "cron 0 6 * * * (Asia/Tokyo)" or "every 0:15:00"
    targets: list[str]
    paused: bool
    next_run: datetime | None  # None while paused
    catchup: bool
    retries: int
    max_active: int
    history: list[claims.IntervalRecord] = field(default_factory=list)  # newest first

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "when": self.when,
            "targets": self.targets,
            "paused": self.paused,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "catchup": self.catchup,
            "retries": self.retries,
            "max_active": self.max_active,
            "history": [interval_dict(h) for h in self.history],
        }


def interval_dict(record: claims.IntervalRecord) -> dict[str, object]:
    return {
        "logical_date": record.logical_date.replace(tzinfo=UTC).isoformat(),
        "interval_end": record.interval_end.replace(tzinfo=UTC).isoformat(),
        "state": record.state,
        "reason": record.reason,
        "trigger": record.trigger,
        "run_id": record.run_id,
        "attempts": [
            {
                "run_id": a.run_id,
                "attempt": a.attempt,
                "status": a.status,
                "reason": a.reason,
                "started_at": a.started_at.replace(tzinfo=UTC).isoformat(),
                "ended_at": a.ended_at.replace(tzinfo=UTC).isoformat() if a.ended_at else None,
            }
            for a in record.attempts
        ],
    }


def describe(schedule: Schedule) -> str:
    if schedule.cron:
        return f"cron {schedule.cron} ({schedule.timezone})"
    return f"every {schedule.every}"


def _find(repo: Repo, name: str) -> Schedule:
    found = {s.name: s for s in read_schedules(repo.root)}
    if name not in found:
        raise PipelineError(
            f"no schedule named {name!r} in himo.yaml (schedules: {', '.join(found) or 'none'})",
            "see `himo schedule list`",
        )
    return found[name]


def schedule_list(
    repo: Repo, now: datetime | None = None, history: int = 30, store: Any = None
) -> list[ScheduleInfo]:
    """Every schedule with its next run and (newest first) its last `history` intervals.
    `store`: an open store to read (the dashboard's), else the repository's."""
    schedules = read_schedules(repo.root)
    if not schedules:
        return []
    now = now or real_now()
    own = store is None
    store = open_store(repo) if own else store
    try:
        identity = repo_identity(repo)
        paused = claims.paused(store, identity)
        return [
            _info(
                s, s.name in paused, now, claims.history(store, identity, s.name, history) if history else []
            )
            for s in schedules
        ]
    finally:
        if own:
            store.close()


def schedule_show(repo: Repo, name: str, now: datetime | None = None, history: int = 30) -> ScheduleInfo:
    _find(repo, name)
    return next(i for i in schedule_list(repo, now, history) if i.name == name)


def _info(
    schedule: Schedule, paused: bool, now: datetime, history: list[claims.IntervalRecord]
) -> ScheduleInfo:
    return ScheduleInfo(
        schedule.name,
        describe(schedule),
        list(schedule.targets),
        paused,
        None if paused else schedule.next_tick(now),
        schedule.catchup,
        schedule.retries,
        schedule.max_active,
        history,
    )


def set_paused(repo: Repo, name: str, paused: bool) -> None:
    """`schedule pause` / `resume`: kept in the store, so every scheduler on it sees it."""
    _find(repo, name)
    store = open_store(repo)
    try:
        claims.set_paused(store, repo_identity(repo), name, paused, _user())
    finally:
        store.close()


def schedule_history(repo: Repo, name: str, limit: int = 30) -> list[claims.IntervalRecord]:
    _find(repo, name)
    store = open_store(repo)
    try:
        return claims.history(store, repo_identity(repo), name, limit)
    finally:
        store.close()


def trigger(
    repo: Repo, name: str, date: datetime | None = None, echo: Callable[[str], None] = lambda _: None
) -> Outcome:
    """Run the schedule now, in this process: the interval starting at `date` (run again if it
    ran before), else the interval ending now. Paused or not, max_active or not: a person asked."""
    schedule = _find(repo, name)
    now = real_now()
    interval = (
        schedule.interval_from(date) if date else Interval(schedule.last_tick(now), now, schedule.timezone)
    )
    return _run(repo, schedule, [interval], "manual", echo)[0]


def backfill(
    repo: Repo, name: str, start: datetime, end: datetime, echo: Callable[[str], None] = lambda _: None
) -> list[Outcome]:
    """Run every interval of the schedule whose logical date is in [start, end], oldest first,
    those not done yet (one that succeeded stays as it is)."""
    schedule = _find(repo, name)
    if end < start:
        raise PipelineError(f"--to {end.isoformat()} is before --from {start.isoformat()}", "swap them")
    intervals = []
    tick = schedule.last_tick(start) if schedule.last_tick(start) == start else schedule.next_tick(start)
    while tick <= end:
        intervals.append(schedule.interval_from(tick))
        tick = intervals[-1].end
        if len(intervals) > MAX_BACKFILL:
            raise PipelineError(
                f"more than {MAX_BACKFILL} intervals between --from and --to",
                "backfill a shorter range at a time",
            )
    return _run(repo, schedule, intervals, "backfill", echo)


def _run(
    repo: Repo, schedule: Schedule, intervals: list[Interval], trigger_name: str, echo: Callable[[str], None]
) -> list[Outcome]:
    scheduler = Scheduler(repo, echo=echo, workers=1)
    outcomes = []
    try:
        for interval in intervals:
            claim = claims.claim(
                scheduler.store,
                scheduler.identity,
                schedule.name,
                interval.start,
                interval.end,
                scheduler.owner,
                None,
                trigger_name,
                RERUN[trigger_name],
            )
            if claim.outcome != "claimed" or claim.id is None:
                outcomes.append(Outcome(schedule.name, interval.start, "skipped", reason="done or running"))
                continue
            outcomes.append(scheduler.run_claimed(schedule, interval, claim.id, claim.attempts))
    finally:
        scheduler.pool.shutdown()
        scheduler.store.close()
    return outcomes
