"""objects.parallel.run_parallel: results in order, and the first failure stops the rest."""

from __future__ import annotations

import threading
import time

import pytest

from himo.objects.parallel import run_parallel


def test_results_keep_the_order_of_the_items():
    items = list(range(1000))
    assert run_parallel(lambda i: i * 2, items, 4) == [i * 2 for i in items]
    assert run_parallel(lambda i: i * 2, items, 1) == [i * 2 for i in items]
    assert run_parallel(lambda i: i, [], 4) == []


def test_work_runs_on_several_threads():
    seen: set[int] = set()

    def note(_: int) -> None:
        seen.add(threading.get_ident())
        time.sleep(0.002)

    run_parallel(note, list(range(64)), 4)
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
