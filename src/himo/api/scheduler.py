"""`himo scheduler`: run the schedules of himo.yaml when they are due, each interval exactly once.

Each loop (a tick) the scheduler finds the schedules whose next tick has come (a heap of due
times: a tick costs in proportion to what is due, not to the number of schedules), lists their
intervals to run (catch-up or the latest only), and claims each in the metadata store before
running it (himo.meta.schedules: UNIQUE per schedule and logical date). Claimed intervals run on
worker threads, each attempt a process group in a clean worktree (himo.api.schedule_run);
failures are retried after `retry_delay`; the outcome calls the hooks.

`now` may be fixed (`--now`): tests and replays drive days in seconds. `once`: run what is due,
wait for it, return (for system cron or a Kubernetes CronJob).
"""

from __future__ import annotations

import heapq
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from himo.api.recording import context, journal_dir, open_store, repo_identity
from himo.api.schedule_run import AttemptResult, branch_head, run_attempt, run_hook, stop_attempt
from himo.errors import HimoError
from himo.meta import schedules as claims
from himo.meta.recorder import Context, Recorder
from himo.pipeline.schedules import Interval, Schedule, read_schedules
from himo.workspace.repo import Repo

HEARTBEAT_SECONDS = 5.0
POLL_SECONDS = 0.2  # the longest a due tick waits for the loop (a due run starts within this)
WORKERS = 8  # intervals running at once, all schedules together
WAIT_RECHECK_S = 2.0  # a schedule at max_active asks the store again after this (or when its run here ends)


@dataclass
class Outcome:
    """How an interval ended in this scheduler."""

    schedule: str
    logical_date: datetime
    state: str  # succeeded | failed | skipped
    attempts: int = 0
    run_id: str | None = None
    reason: str = ""
    log: str = ""
    hook_problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "schedule": self.schedule,
            "logical_date": self.logical_date.isoformat(),
            "state": self.state,
            "attempts": self.attempts,
            "run_id": self.run_id,
            "reason": self.reason,
            "log": self.log,
        }


def real_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        repo: Repo,
        now: Callable[[], datetime] = real_now,
        echo: Callable[[str], None] = lambda _: None,
        workers: int = WORKERS,
    ) -> None:
        self.repo = repo
        self.now = now
        self.echo = echo
        self.store = open_store(repo)
        self.identity = repo_identity(repo)
        self.owner = f"{claims.HOST}|{os.getpid()}|{uuid.uuid4().hex[:8]}"
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="himo-schedule")
        self.schedules: dict[str, Schedule] = {}
        self.loaded_mtime: float | None = None
        self.heap: list[tuple[datetime, str]] = []  # (next tick, schedule name)
        self.last_end: dict[str, datetime] = {}  # end of the latest interval known per schedule
        self.backlog: dict[str, list[Interval]] = {}  # due intervals not claimed yet (max_active)
        self.recheck: dict[str, float] = {}  # schedule at max_active -> when to ask the store again
        self.running: dict[Future[Outcome], str] = {}
        self.paused: set[str] = set()
        self.pids: dict[int, int] = {}  # thread id -> pid of its running attempt
        self.outcomes: list[Outcome] = []
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        self._base_context: Context | None = None
        self.stopping = False

    # -- the loop --------------------------------------------------------------------------

    def run(self, once: bool = False, stop: threading.Event | None = None) -> list[Outcome]:
        """Tick until stopped (or, `once`, until what was due has run)."""
        self.stop_event = stop = stop or self.stop_event
        beat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True, name="himo-heartbeat")
        beat.start()
        try:
            while not stop.is_set():
                self.tick()
                self._collect()
                if once and not self.running and not any(self.backlog.values()):
                    break
                stop.wait(self._sleep())
        except BaseException:
            self._stop_attempts()
            raise
        finally:
            stop.set()
            self.pool.shutdown(wait=True)
            self._collect()
            self.store.close()
        return self.outcomes

    def tick(self) -> int:
        """The scheduler's own work at one moment: what is due is listed, claimed and handed to a
        worker. Returns the number of intervals started."""
        now = self.now()
        self._load(now)
        while self.heap and self.heap[0][0] <= now:
            _, name = heapq.heappop(self.heap)
            schedule = self.schedules.get(name)
            if schedule is None:
                continue
            if name not in self.paused:
                self._add_due(schedule, now)
            heapq.heappush(self.heap, (schedule.next_tick(now), name))
        return self._dispatch()

    def _sleep(self) -> float:
        if not self.heap:
            return POLL_SECONDS
        wait = (self.heap[0][0] - self.now()).total_seconds()
        return max(0.0, min(POLL_SECONDS, wait))

    def _load(self, now: datetime) -> None:
        """(Re)read himo.yaml's schedules when the file changed; the store's state once at start."""
        path = self.repo.root / "himo.yaml"
        mtime = path.stat().st_mtime if path.exists() else None
        self.paused = claims.paused(self.store, self.identity)
        if mtime == self.loaded_mtime and self.schedules:
            return
        first = self.loaded_mtime is None and not self.schedules
        self.loaded_mtime = mtime
        try:
            self.schedules = {s.name: s for s in read_schedules(self.repo.root)}
        except HimoError as error:
            if first:
                raise
            self.echo(f"himo.yaml changed and is not valid, the schedules as before stay: {error.message}")
            return
        if first:
            self.last_end = {
                name: end.replace(tzinfo=UTC)
                for name, end in claims.last_ends(self.store, self.identity).items()
            }
            self._adopt_orphans()
        self.heap = [(now, name) for name in self.schedules]  # each is looked at once now
        heapq.heapify(self.heap)

    def _adopt_orphans(self) -> None:
        """Intervals a dead scheduler left running run again (the killed attempt ended aborted)."""
        for name, start, end in claims.orphans(self.store, self.identity):
            if name in self.schedules:
                interval = Interval(
                    start.replace(tzinfo=UTC), end.replace(tzinfo=UTC), self.schedules[name].timezone
                )
                self.backlog.setdefault(name, []).append(interval)

    def _add_due(self, schedule: Schedule, now: datetime) -> None:
        due = schedule.due(now, self.last_end.get(schedule.name))
        if due:
            self.last_end[schedule.name] = due[-1].end
            queue = self.backlog.setdefault(schedule.name, [])
            queue.extend(i for i in due if i not in queue)

    def _dispatch(self) -> int:
        """Claim and start the waiting intervals, each schedule's oldest first, in one store
        transaction per round (a round per interval a schedule may add at once, usually one).
        A schedule at max_active is asked again when one of its runs here ends, or after
        WAIT_RECHECK_S (a run of another scheduler). Without catch-up only the newest interval
        waits: older ones are recorded skipped."""
        started = 0
        for name in [n for n in self.backlog if n in self.schedules and not self.schedules[n].catchup]:
            self._supersede(name)
        while True:
            now = time.monotonic()
            heads = [
                (self.schedules[n], q[0])
                for n, q in self.backlog.items()
                if n in self.schedules and self.recheck.get(n, 0.0) <= now
            ]
            if not heads:
                return started
            wanted = [claims.Wanted(s.name, i.start, i.end, s.max_active) for s, i in heads]
            progress = False
            for (schedule, interval), claim in zip(
                heads, claims.claim_many(self.store, self.identity, self.owner, wanted), strict=True
            ):
                if claim.outcome == "wait":
                    self.recheck[schedule.name] = now + WAIT_RECHECK_S
                    continue
                self._pop(schedule.name)
                progress = True
                if claim.outcome == "claimed":
                    assert claim.id is not None
                    future = self.pool.submit(self.run_claimed, schedule, interval, claim.id, claim.attempts)
                    self.running[future] = schedule.name
                    started += 1
            if not progress:
                return started

    def _supersede(self, name: str) -> None:
        """Without catch-up, waiting intervals older than the newest are recorded skipped."""
        queue = self.backlog[name]
        if len(queue) < 2:
            return
        queue.sort(key=lambda i: i.start)
        for old in queue[:-1]:
            claims.skip(self.store, self.identity, name, old.start, old.end, self.owner, "superseded")
            self._record(Outcome(name, old.start, "skipped", reason="superseded"))
        del queue[:-1]

    def _pop(self, name: str) -> None:
        queue = self.backlog[name]
        queue.pop(0)
        if not queue:
            del self.backlog[name]

    def _collect(self) -> None:
        for future in [f for f in self.running if f.done()]:
            self.recheck.pop(self.running.pop(future), None)  # its schedule may start another now
            future.result()  # a bug in a worker surfaces here

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            if self.running:
                try:
                    claims.heartbeat(self.store, self.owner)
                except Exception as error:  # the store is briefly unreachable: the next beat retries
                    self.echo(f"heartbeat failed: {error}")

    def _stop_attempts(self) -> None:
        """The scheduler stops (Ctrl-C, SIGTERM): running attempts end `aborted`, their intervals
        stay claimed by this (soon dead) owner, so the next scheduler runs them again."""
        self.stopping = True
        with self._lock:
            for pid in self.pids.values():
                stop_attempt(pid)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    # -- one interval (on a worker thread) ---------------------------------------------------

    def run_claimed(self, schedule: Schedule, interval: Interval, claim_id: int, done: int = 0) -> Outcome:
        """Attempts until one succeeds or the retries are spent; then the state, then the hook.
        `done`: attempts made before (by a scheduler that died: numbering goes on, the budget is new)."""
        outcome = Outcome(schedule.name, interval.start, "failed")
        for attempt in range(done + 1, done + schedule.retries + 2):
            if attempt > done + 1 and self._retry_wait(schedule):
                break
            outcome.run_id = str(uuid.uuid4())
            outcome.attempts = attempt
            claims.attempt_started(self.store, claim_id, self.owner, attempt, outcome.run_id)
            result = self._attempt(schedule, interval, attempt, outcome.run_id)
            outcome.state, outcome.reason, outcome.log = result.status, result.reason, result.log
            if self.stopping:
                outcome.state = "aborted"
                return outcome
            self.echo(
                f"{schedule.name} {interval.start.isoformat()}: attempt {attempt} {result.status}"
                + (f" ({result.reason})" if result.reason else "")
            )
            if result.status == "succeeded":
                break
        claims.finish(self.store, claim_id, self.owner, outcome.state, outcome.reason)
        self._hook(schedule, interval, outcome)
        self._record(outcome)
        return outcome

    def _attempt(self, schedule: Schedule, interval: Interval, attempt: int, run_id: str) -> AttemptResult:
        """One attempt, recorded as the run `run_id`: started here (so an attempt killed before its
        `himo repro` records anything still shows), ended here with the attempt's outcome; the
        repro records its executions into it and, delivered after, its own end."""
        recorder = Recorder(journal_dir(self.repo), self._context(schedule, interval, attempt), run_id)
        result = AttemptResult("failed", "the scheduler stopped", "")
        try:
            commit = branch_head(self.repo, schedule.branch)
            recorder.context.git_commit = commit
            recorder.start("repro", list(schedule.targets))
            self.echo(f"{schedule.name} {interval.start.isoformat()}: attempt {attempt}")
            result = run_attempt(self.repo, schedule, interval, attempt, run_id, commit, self._started)
        except HimoError as error:  # no git, no worktree, a missing object ...: the attempt failed
            result = AttemptResult("failed", error.message[:200], "")
        finally:
            recorder.finish("aborted" if self.stopping else result.status, result.reason or None)
            self._started(None)
            self.deliver()
        return result

    def _context(self, schedule: Schedule, interval: Interval, attempt: int) -> Context:
        if self._base_context is None:
            self._base_context = context(self.repo)
        return replace(
            self._base_context,
            repo=self.identity,
            trigger="schedule",
            schedule=schedule.name,
            logical_date=interval.env(schedule.name)["HIMO_LOGICAL_DATE"],
            attempt=attempt,
            branch=schedule.branch or self._base_context.branch,
            dirty=False,
        )

    def deliver(self) -> None:
        """Deliver the journals of attempts (theirs are left to the scheduler: HIMO_META_DELIVER=parent)."""
        from himo.meta.deliver import deliver

        with self._deliver_lock:
            try:
                deliver(self.store, journal_dir(self.repo))
            except HimoError as error:  # unreachable: they wait in the journal for the next delivery
                self.echo(f"recording is delayed: {error.message}")

    def _retry_wait(self, schedule: Schedule) -> bool:
        """Wait retry_delay before the next attempt; True if the scheduler stops meanwhile."""
        return self.stop_event.wait(schedule.retry_delay.total_seconds())

    def _started(self, pid: int | None) -> None:
        with self._lock:
            if pid is None:
                self.pids.pop(threading.get_ident(), None)
            else:
                self.pids[threading.get_ident()] = pid

    def _hook(self, schedule: Schedule, interval: Interval, outcome: Outcome) -> None:
        hook = schedule.on_success if outcome.state == "succeeded" else schedule.on_failure
        if not hook:
            return
        payload = outcome.to_dict() | {
            "status": outcome.state,
            "interval_start": interval.start.isoformat(),
            "interval_end": interval.end.isoformat(),
            "repo": self.identity,
        }
        problem = run_hook(self.repo, hook, payload)
        if problem:
            outcome.hook_problems.append(problem)
            self.echo(f"{schedule.name}: {problem}")


def run_scheduler(
    repo: Repo,
    once: bool = False,
    now: datetime | None = None,
    echo: Callable[[str], None] = lambda _: None,
    stop: threading.Event | None = None,
) -> list[Outcome]:
    """`himo scheduler`: run due schedules until stopped; `once`: what is due now, then return.
    `now`: a fixed clock (the real one otherwise)."""
    clock = (lambda: now) if now is not None else real_now
    return Scheduler(repo, clock, echo).run(once=once, stop=stop)


def in_background(repo: Repo, echo: Callable[[str], None] = lambda _: None) -> threading.Event:
    """The scheduler on a daemon thread (`himo ui --scheduler`); set the returned event to stop it."""
    stop = threading.Event()
    scheduler = Scheduler(repo, echo=echo)  # opened here: a bad himo.yaml or store fails the caller
    threading.Thread(target=scheduler.run, kwargs={"stop": stop}, daemon=True, name="himo-scheduler").start()
    return stop
