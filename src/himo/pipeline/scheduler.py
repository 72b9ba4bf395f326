"""Running a set of stages in DAG order, independent ones in parallel, stopping on failure."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from himo.pipeline.dag import Dag

# A step returns True if the stage succeeded (so stages below it may run).
Step = Callable[[str], bool]


class Scheduler:
    """Calls `step(name)` once the stage's upstream stages (among `names`) have succeeded.

    A failure skips everything downstream of it; without `keep_going` it also stops
    starting new stages. On KeyboardInterrupt, `stop()` ends the running commands before
    the interrupt propagates, so no stage outlives himo.
    """

    def __init__(self, dag: Dag, names: list[str], jobs: int, keep_going: bool) -> None:
        self.pending = list(names)
        chosen = set(names)
        self.ups = {n: dag.upstream[n] & chosen for n in names}
        self.jobs = max(1, jobs)
        self.keep_going = keep_going
        self.succeeded: set[str] = set()
        self.failed = False
        self.running: dict[Future[bool], str] = {}

    def run(self, step: Step, on_skip: Callable[[str], None], stop: Callable[[], None]) -> None:
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            try:
                self._loop(pool, step, on_skip)
            except BaseException:
                stop()
                raise

    def _loop(self, pool: ThreadPoolExecutor, step: Step, on_skip: Callable[[str], None]) -> None:
        while self.pending or self.running:
            if not self.failed or self.keep_going:
                self._start_ready(pool, step)
            for name in self._doomed():
                self.pending.remove(name)
                on_skip(name)
            if not self.running:
                for name in self.pending:  # stopped after a failure
                    on_skip(name)
                return
            done, _ = wait(self.running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                name = self.running.pop(future)
                if future.result():
                    self.succeeded.add(name)
                else:
                    self.failed = True

    def _start_ready(self, pool: ThreadPoolExecutor, step: Step) -> None:
        for name in [n for n in self.pending if self.ups[n] <= self.succeeded]:
            if len(self.running) >= self.jobs:
                return
            self.pending.remove(name)
            self.running[pool.submit(step, name)] = name

    def _doomed(self) -> list[str]:
        """Stages with an upstream stage that finished without success: they can never run."""
        active = set(self.pending) | set(self.running.values())
        finished_badly = {u for n in self.pending for u in self.ups[n]} - self.succeeded - active
        return [n for n in self.pending if self.ups[n] & finished_badly]


def run_in_order(dag: Dag, names: list[str], step: Step, jobs: int, keep_going: bool,
                 on_skip: Callable[[str], None], stop: Callable[[], None]) -> None:
    Scheduler(dag, names, jobs, keep_going).run(step, on_skip, stop)
