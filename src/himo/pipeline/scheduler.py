"""Running a set of stages in DAG order, independent ones in parallel, stopping on failure."""

from __future__ import annotations

import heapq
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

    Each stage counts the upstream stages it still waits for, and a finished stage tells only
    the stages below it: the whole run is linear in stages and edges (a no-op `repro` of
    100,000 stages used to rescan every pending stage after each one).
    """

    def __init__(self, dag: Dag, names: list[str], jobs: int, keep_going: bool) -> None:
        self.names = list(names)  # in DAG order: among ready stages, the first starts first
        self.place = place = {n: i for i, n in enumerate(self.names)}
        self.waiting = {n: 0 for n in self.names}  # upstream stages not yet succeeded
        self.below: dict[str, list[str]] = {n: [] for n in self.names}
        for name in self.names:
            for up in dag.upstream[name]:
                if up in place:
                    self.waiting[name] += 1
                    self.below[up].append(name)
        self.ready = [place[n] for n in self.names if not self.waiting[n]]  # a heap of places
        heapq.heapify(self.ready)
        self.pending = set(self.names)  # neither started nor skipped
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
            if not self.running:
                for name in [n for n in self.names if n in self.pending]:  # stopped after a failure
                    on_skip(name)
                self.pending.clear()
                return
            done, _ = wait(self.running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                name = self.running.pop(future)
                if future.result():
                    self._succeeded(name)
                else:
                    self.failed = True
                    self._skip_below(name, on_skip)

    def _start_ready(self, pool: ThreadPoolExecutor, step: Step) -> None:
        while self.ready and len(self.running) < self.jobs:
            name = self.names[heapq.heappop(self.ready)]
            self.pending.discard(name)
            self.running[pool.submit(step, name)] = name

    def _succeeded(self, name: str) -> None:
        self.succeeded.add(name)
        for down in self.below[name]:
            self.waiting[down] -= 1
            if not self.waiting[down]:
                heapq.heappush(self.ready, self.place[down])

    def _skip_below(self, name: str, on_skip: Callable[[str], None]) -> None:
        """Stages below a stage that did not succeed can never run."""
        stack = list(self.below[name])
        while stack:
            down = stack.pop()
            if down in self.pending:
                self.pending.remove(down)
                on_skip(down)
                stack.extend(self.below[down])


def run_in_order(dag: Dag, names: list[str], step: Step, jobs: int, keep_going: bool,
                 on_skip: Callable[[str], None], stop: Callable[[], None]) -> None:
    Scheduler(dag, names, jobs, keep_going).run(step, on_skip, stop)
