"""Running many file or remote operations on a few threads, stopping at the first failure.

A remote that is unreachable fails every request after the same retries; waiting for all of
them would multiply that delay by the number of objects. `run_parallel` stops handing out
work as soon as one operation fails, and raises that operation's error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
BATCH = 64  # items per task at most: keeps per-task overhead low for many small objects


class _Stopped(Exception):
    """Raised in a worker that gave up because another one failed."""


def batches(items: list[T], jobs: int) -> list[list[T]]:
    size = max(1, min(BATCH, len(items) // (jobs * 4)))
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_parallel(fn: Callable[[T], R], items: list[T], jobs: int) -> list[R]:
    """`[fn(item) for item in items]` on `jobs` threads; the first error stops the rest."""
    if jobs <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    stop = threading.Event()

    def run_batch(batch: list[T]) -> list[R]:
        results = []
        for item in batch:
            if stop.is_set():
                raise _Stopped
            results.append(fn(item))
        return results

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(run_batch, batch) for batch in batches(items, jobs)]
        return [result for future in _settle(futures, stop) for result in future.result()]
    finally:
        stop.set()  # also on KeyboardInterrupt: running workers finish their current item only
        pool.shutdown(wait=True, cancel_futures=True)


def _settle(futures: list[Future[list[R]]], stop: threading.Event) -> list[Future[list[R]]]:
    """Wait for every future, or raise the first error as soon as one fails."""
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    failed = [f for f in futures if f in done and f.exception() is not None]
    if failed:
        stop.set()
        raise failed[0].exception()  # type: ignore[misc]
    return futures
