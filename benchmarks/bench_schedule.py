"""The scheduler's own cost per tick with 1,000 schedules, and how soon a due run starts.

    python benchmarks/bench_schedule.py [--schedules 1000] [--repeat 20] [--runs 5] [--every 5s]
                                        [--json-out PATH]

Rows (SQLite store, in a new repository with one stage and N schedules):
- tick, nothing due: one loop of the scheduler when no schedule is due (the paused-set query,
  the heap check). Target 50 ms.
- tick, ~16 due: the same with the schedules of one minute due: each interval listed and claimed in the store
  (a row inserted); the attempts themselves are not run (their cost is `himo repro`'s).
- tick, all N due: the worst case, N intervals claimed at once (no target).
- load + first tick: reading himo.yaml's N schedules, the store's state, and the first tick.
- due run started (attempt process / stage command): with the real clock and `every: 5s` (longer
  than a run, so that no interval waits for the one before it: max_active 1), the delay from the
  tick's time to the attempt's process starting (target 1 s) and the scheduler's CPU time on that
  path (claim, run record, scratch workspace), the delay to the stage's command starting (after
  `himo repro`'s start-up), and the CPU time of all the attempt's processes. The attempts read
  compiled modules, as an installed himo does (see bytecode_cache).

No peer runs here: Airflow's scheduler needs its own database and server processes, which this
machine does not install; the numbers stand against the issue's targets instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import log, start_facts, write_result

TICK_TARGET_S = 0.050
START_TARGET_S = 1.0


def make_repo(root: Path, schedules: int, every: str | None = None) -> None:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="b@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="b@example.com",
    )
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "himo", "init", "-q"], cwd=root, check=True, env=env)
    lines = [
        "stages:",
        "  work:",
        f"    cmd: date +%s.%N >> {root.parent / 'started.log'}; echo ${{schedule.start}} > out.txt",
        "    outs: [out.txt]",
        "schedules:",
    ]
    for n in range(schedules):
        when = f"every: {every}" if every else f"cron: '{n % 60} * * * *'"  # spread over the hour
        lines += [f"  s{n:04d}:", f"    {when}", "    targets: [work]"]
    (root / "himo.yaml").write_text("\n".join(lines) + "\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=root, check=True, env=env)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def tick_rows(workdir: Path, schedules: int, repeat: int) -> list[dict[str, object]]:
    from himo.api.scheduler import Scheduler
    from himo.meta import schedules as claims
    from himo.workspace.repo import Repo

    root = workdir / "ticks"
    root.mkdir()
    make_repo(root, schedules)
    clock = Clock(datetime(2026, 12, 3, 10, 0, 30, tzinfo=UTC))
    scheduler = Scheduler(Repo(root), clock)
    claimed: list[int] = []

    def submit(fn, schedule, interval, claim_id, attempts):  # type: ignore[no-untyped-def]
        claimed.append(claim_id)  # the attempt is not run; its interval ends after the timing
        return _Done()

    cpu: list[float] = []  # the tick's CPU time (this thread), the same on a loaded machine

    def timed_tick() -> float:
        cpu_started = time.thread_time()
        took = _timed(scheduler.tick)
        cpu.append(time.thread_time() - cpu_started)
        for claim_id in claimed:
            claims.finish(scheduler.store, claim_id, scheduler.owner, "succeeded")
        claimed.clear()
        scheduler.running.clear()
        return took

    scheduler.pool.submit = submit  # type: ignore[method-assign]
    first = [timed_tick()]  # load: every schedule looked at once (the latest interval of each claimed)
    idle, some, every = [], [], []
    for i in range(repeat):
        clock.now = datetime(2026, 12, 3, 10, 0, 31, tzinfo=UTC) + timedelta(seconds=i)  # nothing due
        idle.append(timed_tick())
    idle_cpu = cpu[-repeat:]
    clock.now = datetime(2026, 12, 3, 11, 0, 0, tzinfo=UTC)  # the hour's ticks since 10:00:30: all due
    every.append(timed_tick())
    for i in range(repeat):  # minute i+1: the schedules of that minute (1,000 / 60: 16 or 17 due)
        clock.now = datetime(2026, 12, 3, 11, 1 + i % 59, 0, tzinfo=UTC)
        some.append(timed_tick())
    some_cpu = cpu[-repeat:]
    scheduler.store.close()
    due = schedules // 60
    return [
        _row(f"tick, nothing due ({schedules:,} schedules)", idle, TICK_TARGET_S),
        _row(f"tick, nothing due ({schedules:,} schedules): CPU time", idle_cpu, TICK_TARGET_S),
        _row(f"tick, ~{due} due ({schedules:,} schedules; each claimed in the store)", some, TICK_TARGET_S),
        _row(f"tick, ~{due} due ({schedules:,} schedules): CPU time", some_cpu, TICK_TARGET_S),
        _row(f"tick, all {schedules:,} due at once (claimed)", every, None),
        _row(f"load + first tick ({schedules:,} schedules read, each claimed)", first, None),
    ]


class _Done:
    def done(self) -> bool:
        return True

    def result(self) -> None:
        return None


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _row(name: str, samples: list[float], target: float | None) -> dict[str, object]:
    median = statistics.median(samples)
    met = None if target is None else ("yes" if median <= target else "NO")
    return {
        "backend": "sqlite",
        "measurement": name,
        "median": median,
        "samples": samples,
        "error": None,
        "target_s": target,
        "met": met,
    }


def start_rows(workdir: Path, runs: int, every: str) -> list[dict[str, object]]:
    """The real clock, `every: EVERY` (longer than an attempt here, so that no interval waits for
    the one before: max_active 1): delays from each tick to its attempt's process and its stage,
    the scheduler's CPU time on that path, and the CPU time of the attempt's processes."""
    import resource
    import threading

    from himo.api import scheduler as sched
    from himo.workspace.repo import Repo

    root = workdir / "starts"
    root.mkdir()
    make_repo(root, 1, every=every)
    process: list[float] = []
    own_cpu: list[float] = []  # the worker thread's CPU from the claimed interval to the Popen
    stage: list[float] = []
    children: list[float] = []  # CPU of the attempt's processes: git, sh, `himo repro`, the stage
    original_run, original_claimed = sched.run_attempt, sched.Scheduler.run_claimed
    entered: dict[int, float] = {}

    def claimed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        entered[threading.get_ident()] = time.thread_time()
        before = _children_cpu()
        try:
            return original_claimed(self, *args, **kwargs)
        finally:
            children.append(_children_cpu() - before)

    def timed_attempt(repo, schedule, interval, *args, **kwargs):  # type: ignore[no-untyped-def]
        on_start = args[-1] if args else kwargs["on_start"]
        tick = interval.end.timestamp()

        def started(pid: int) -> None:
            process.append(time.time() - tick)
            own_cpu.append(time.thread_time() - entered[threading.get_ident()])
            on_start(pid)

        result = original_run(repo, schedule, interval, *args[:-1], started)
        stamps = (workdir / "started.log").read_text().split()
        stage.append(float(stamps[-1]) - tick)
        return result

    def _children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    sched.run_attempt, sched.Scheduler.run_claimed = timed_attempt, claimed  # type: ignore[method-assign]
    scheduler = sched.Scheduler(Repo(root))
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, kwargs={"stop": stop})
    thread.start()
    deadline = time.monotonic() + 60 + 15 * runs
    while len(stage) < runs + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join()
    sched.run_attempt, sched.Scheduler.run_claimed = original_run, original_claimed  # type: ignore[method-assign]
    # the first: the interval due at start-up (first imports, the store opened)
    process, stage, own_cpu, children = (x[1 : runs + 1] for x in (process, stage, own_cpu, children))
    if not stage:
        raise SystemExit(f"no scheduled run started in time; see {root}/.himo/scheduler/logs")
    return [
        _row(f"due run started: attempt process (every: {every})", process, START_TARGET_S),
        _row("due run started: attempt process: the scheduler's CPU time (claim, record, scratch workspace)",
             own_cpu, None),
        _row("due run started: stage command (scratch workspace + `himo repro` start-up)", stage, None),
        _row("attempt's processes' CPU time (git, sh, `himo repro`, the stage)", children, None),
    ]


def bytecode_cache(workdir: Path) -> None:
    """The attempts' Python reads compiled modules, as an installed himo does (pip compiles them):
    PYTHONDONTWRITEBYTECODE, if set, would make each attempt compile every module it imports again
    (about 0.1 s of CPU). The first attempt, not counted, writes them under `workdir`."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5, help="real-clock runs timed")
    parser.add_argument("--every", default="5s", help="the real-clock schedule's period (longer than a run)")
    parser.add_argument("--json-out", type=Path)
    opts = parser.parse_args()
    started = start_facts()
    os.environ["HIMO_META_DELIVER"] = "inline"
    workdir = Path(tempfile.mkdtemp(prefix="himo-bench-schedule-"))
    try:
        os.chdir(workdir)
        rows = tick_rows(workdir, opts.schedules, opts.repeat)
        for row in rows:
            print(f"{row['measurement']}: median {row['median']:.4f} s")
        bytecode_cache(workdir)
        rows += start_rows(workdir, opts.runs, opts.every)
        for row in rows:
            print(
                f"{row['measurement']}: median {row['median']:.4f} s over {len(row['samples'])}"
                f" (target {row['target_s']}, met {row['met']})"
            )
        write_result("schedule", workdir, started, {"rows": rows}, shutil.which("himo"), out=opts.json_out)
    finally:
        os.chdir("/")
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 1 if any(row["met"] == "NO" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
