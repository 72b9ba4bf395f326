"""The runs page's 30-day grid places a scheduled run on the day of its logical date (the interval it
covers), whenever it ran, marked with how its interval was asked for and linking to the run; on
SQLite and PostgreSQL (the grid's queries have a dialect of their own). Runs are recorded as the
scheduler records them (its environment, its claim), in-process: no scheduler needed here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from himo.api.recording import open_store, recording, repo_identity
from himo.meta import schedules as claims
from himo.ui.app import create_app
from himo.workspace.repo import Repo
from tests.ui.conftest import LOOPBACK


def record(repo: Repo, status: str, monkeypatch: pytest.MonkeyPatch, logical: datetime | None = None,
           attempt: int = 1) -> str:
    """A run of the stage `predict` ending `status`; scheduled (for `logical`) when given one."""
    with monkeypatch.context() as env:
        if logical is not None:
            env.setenv("HIMO_TRIGGER", "schedule")
            env.setenv("HIMO_SCHEDULE", "daily")
            env.setenv("HIMO_LOGICAL_DATE", logical.isoformat())
            env.setenv("HIMO_SCHEDULE_ATTEMPT", str(attempt))
        with recording(repo, "repro", ["predict"]) as recorder:
            recorder.end_execution(recorder.start_execution("predict", ["true"], {}, []), status, [], [], 0)
            recorder.outcome = status
    return recorder.run_id


def test_scheduled_runs_sit_on_their_logical_date(make_repo: Callable[..., Path], meta_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    repo = Repo(make_repo())
    today = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    backfilled, yesterday = today - timedelta(days=10), today - timedelta(days=1)
    manual = record(repo, "succeeded", monkeypatch)
    backfill = record(repo, "succeeded", monkeypatch, backfilled)
    failed = record(repo, "failed", monkeypatch, yesterday)
    retried = record(repo, "succeeded", monkeypatch, yesterday, attempt=2)
    store = open_store(repo)
    try:
        for start, trigger in ((backfilled, "backfill"), (yesterday, "schedule")):
            claims.claim(store, repo_identity(repo), "daily", start, start + timedelta(days=1), "test|1|x",
                         None, trigger)
        with TestClient(create_app(store, repo), base_url=LOOPBACK) as client:
            grid = client.get("/api/grid").json()
            page = client.get("/runs").text
    finally:
        store.close()
    (row,) = grid["stages"]
    cells = {c["date"]: c for c in row["cells"]}
    day = {name: cells[when.date().isoformat()] for name, when in
           (("today", today), ("backfilled", backfilled), ("yesterday", yesterday))}
    assert (day["today"]["counts"], day["today"]["scheduled"]) == ({"succeeded": 1}, [])  # the manual run
    assert day["backfilled"]["counts"] == {"succeeded": 1}
    assert [(r["run_id"], r["trigger"], r["schedule"], r["status"]) for r in day["backfilled"]["scheduled"]] \
        == [(backfill, "backfill", "daily", "succeeded")]
    assert day["backfilled"]["scheduled"][0]["logical_date"] == backfilled.strftime("%Y-%m-%d %H:%M:%S")
    assert day["yesterday"]["segments"] == [{"status": "failed", "n": 1}, {"status": "succeeded", "n": 1}]
    assert [r["run_id"] for r in day["yesterday"]["scheduled"]] == [retried, failed]  # newest first
    assert sum(sum(c["counts"].values()) for c in row["cells"]) == 4  # each execution once
    assert f'class="cell c-succeeded sched sched-backfill" href="/runs/{backfill}"' in page
    assert f'class="cell c-succeeded split sched sched-schedule" href="/runs/{retried}"' in page
    assert f'href="/runs/{manual}"' in page  # in the run list only: its day's cell lists the day's runs
