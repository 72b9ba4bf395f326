"""The fault campaign's seeds: every random choice comes from one seed, printed when a test fails.

`HIMO_FAULT_SEED=N` replays a failure; without it each session draws a new seed, so the
campaign keeps exploring new kill moments. Each test derives its own generator from the seed
and its node id: a test replays alone (`pytest tests/faults/test_kill.py::... `) as it ran.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Iterator

import pytest

from tests.api.conftest import dvc_project  # noqa: F401 (a DVC project made once, for migrate's kill)

SESSION_SEED = int(os.environ.get("HIMO_FAULT_SEED") or secrets.randbelow(2**32))


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A generator seeded from the session seed and the test's id."""
    request.node.fault_seed = SESSION_SEED
    return random.Random(f"{SESSION_SEED}:{request.node.nodeid}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    seed = getattr(item, "fault_seed", None)
    if report.failed and seed is not None:
        report.sections.append(("fault campaign", f"replay with HIMO_FAULT_SEED={seed}"))
