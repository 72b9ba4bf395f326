"""Running a set of stages in DAG order, independent ones in parallel, stopping on failure."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from himo.pipeline.dag import Dag

# A step returns True if the stage succeeded (so stages below it may run).
Step = Callable[[str], bool]


def run_in_order(dag: Dag, names: list[str], step: Step, jobs: int, keep_going: bool,
                 on_skip: Callable[[str], None], stop: Callable[[], None]) -> None:
    """Call `step(name)` once upstream stages (among `names`) have succeeded.

    A failure skips everything downstream of it; without `keep_going` it also stops
    starting new stages. On KeyboardInterrupt, `stop()` ends the running commands first.
    """
    try:
        _schedule(dag, names, step, jobs, keep_going, on_skip)
    except BaseException:
        stop()
        raise


def _schedule(dag: Dag, names: list[str], step: Step, jobs: int, keep_going: bool,
              on_skip: Callable[[str], None]) -> None:
    pending = list(names)
    ups = {n: dag.upstream[n] & set(names) for n in names}
    succeeded: set[str] = set()
    failed = False
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        running: dict[Future[bool], str] = {}
        while pending or running:
            for name in [n for n in pending if ups[n] <= succeeded]:
                if failed and not keep_going:
                    break
                pending.remove(name)
                running[pool.submit(step, name)] = name
            doomed = [n for n in pending if _doomed(n, ups, succeeded, pending, running)]
            for name in doomed:
                pending.remove(name)
                on_skip(name)
            if failed and not keep_going and not running:
                for name in pending:
                    on_skip(name)
                return
            if not running:
                continue
            done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                if future.result():
                    succeeded.add(name)
                else:
                    failed = True


def _doomed(name: str, ups: dict[str, set[str]], ok: set[str], pending: list[str],
            running: dict[Future[bool], str]) -> bool:
    """An upstream stage finished without success: this one can never run."""
    active = set(pending) | set(running.values())
    return any(up not in ok and up not in active for up in ups[name])
