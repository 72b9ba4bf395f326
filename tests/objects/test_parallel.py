"""objects.parallel: results in order, and the first failure stops the rest (threads, processes)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from himo.errors import PathError
from himo.objects.parallel import FORK_MIN, run_forked, run_parallel


def test_results_keep_the_order_of_the_items():
    items = list(range(1000))
    assert run_parallel(lambda i: i * 2, items, 4) == [i * 2 for i in items]
    assert run_parallel(lambda i: i * 2, items, 1) == [i * 2 for i in items]
    assert run_parallel(lambda i: i, [], 4) == []


def test_work_runs_on_several_threads():
    together = threading.Barrier(4, timeout=30)  # passes only when 4 threads run items at once
    seen: set[int] = set()
    lock = threading.Lock()

    def meet(_: int) -> None:
        with lock:
            first = threading.get_ident() not in seen
            seen.add(threading.get_ident())
        if first:
            together.wait()

    run_parallel(meet, list(range(64)), 4)
    assert len(seen) == 4


def test_the_first_error_stops_the_rest_and_is_raised():
    started: list[int] = []

    def flaky(i: int) -> int:
        started.append(i)
        time.sleep(0.002)
        if i == 7:
            raise ConnectionRefusedError(f"item {i}")
        return i

    with pytest.raises(ConnectionRefusedError, match="item 7"):
        run_parallel(flaky, list(range(5000)), 4)
    assert len(started) < 100  # not 5000: the others stopped at their next item


# -- run_forked: the same contract on forked processes ---------------------------------------


def test_forked_results_keep_the_order_and_run_in_other_processes():
    items = list(range(FORK_MIN + 500))
    steps: list[int] = []
    pids = run_forked(lambda i: (i * 2, os.getpid()), items, 2, steps.append)
    assert [value for value, _ in pids] == [i * 2 for i in items]
    assert os.getpid() not in {pid for _, pid in pids}
    assert sum(steps) == len(items)  # progress is counted here, batch by batch


def test_few_items_or_one_job_stay_in_this_process():
    for items, jobs in ((list(range(10)), 2), (list(range(FORK_MIN)), 1)):
        steps: list[int] = []
        assert {pid for pid in run_forked(lambda _: os.getpid(), items, jobs, steps.append)} == {os.getpid()}
        assert sum(steps) == len(items)


def test_a_forked_error_is_raised_here_with_its_hint(tmp_path):
    def store(i: int) -> int:
        if i == 1234:
            raise PathError(f"item {i} is bad", "fix item {i}")
        (tmp_path / str(i)).touch()
        return i

    with pytest.raises(PathError) as caught:
        run_forked(store, list(range(FORK_MIN * 5)), 2)
    assert (caught.value.message, caught.value.hint) == ("item 1234 is bad", "fix item {i}")
    assert multiprocessing.active_children() == []  # no worker is left to write after the error
    assert len(list(tmp_path.iterdir())) < FORK_MIN * 5
