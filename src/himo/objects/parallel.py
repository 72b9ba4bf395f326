"""Running many file or remote operations on a few threads or processes, stopping at the first
failure.

A remote that is unreachable fails every request after the same retries; waiting for all of
them would multiply that delay by the number of objects. `run_parallel` stops handing out
work as soon as one operation fails, and raises that operation's error.

`run_forked` does the same on forked processes, for many small local files: creating a file
is kernel work that two threads of one Python process mostly do one after the other (GIL
hand-offs around every system call), while two processes do it side by side. Measured on this
project's 2-core machine, ext4, 20,000 objects of 4 KiB: 0.4-0.7 s on two processes against
0.6-0.8 s on two threads and 0.8-1.2 s on one.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

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


PR_SET_PDEATHSIG = 1  # linux/prctl.h
FORK_MIN = 2000  # fewer items than this: forking costs more than it saves
FORK_SAFE = sys.platform == "linux"  # macOS system libraries may crash in a forked child
_TASK: Callable[[Any], Any] | None = None  # the function forked workers run (inherited, not pickled)


def run_forked(fn: Callable[[T], R], items: list[T], jobs: int,
               on_progress: Callable[[int], None] | None = None) -> list[R]:
    """`[fn(item) for item in items]` on `jobs` forked processes (threads off Linux, or for few
    items); the first error stops the rest and is raised here.

    `fn` runs in a copy of this process: it must only touch files, never shared state such as
    the stat cache's connection or the progress bar; `on_progress(n)` runs here, per batch.
    Items, results and errors cross between processes by pickle.
    """
    if jobs <= 1 or len(items) < FORK_MIN or not FORK_SAFE or _TASK is not None:
        def counted(item: T) -> R:
            result = fn(item)
            if on_progress:
                on_progress(1)
            return result
        return run_parallel(counted, items, jobs)
    results: list[R] = []
    for done in _forked_batches(fn, batches(items, jobs), jobs):
        results.extend(done)
        if on_progress:
            on_progress(len(done))
    return results


def _forked_batches(fn: Callable[[T], R], work: list[list[T]], jobs: int) -> Iterator[list[R]]:
    global _TASK
    _TASK = fn
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns when a process with threads forks; the workers run only `fn`.
            warnings.simplefilter("ignore", DeprecationWarning)
            pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_start_worker,
                                                             initargs=(os.getpid(),))
        try:
            yield from pool.imap(_run_batch, work)
        except BaseException:
            pool.terminate()  # the first error or Ctrl-C: no worker goes on writing
            raise
        else:
            pool.close()  # workers leave when the queue is drained
        finally:
            pool.join()
    finally:
        _TASK = None


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # The CLI turns SIGTERM into KeyboardInterrupt; a worker must simply die on it (the pool's
    # terminate), never unwind while it holds the task queue's lock.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with(parent)


def _die_with(parent: int) -> None:
    """A worker must not go on copying after its himo was killed (kill -9 included): ask
    Linux to kill it when the parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # not Linux: the pool's own shutdown still stops workers on errors and Ctrl-C
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _run_batch(batch: list[Any]) -> list[Any]:
    assert _TASK is not None
    return [_TASK(item) for item in batch]
