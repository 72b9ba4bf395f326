"""The CLI (through himo.api) and the dashboard read the store through one MetaReader, so they
agree: the `cached` filter, the previous run of a stage, time zones, logs outside the repository,
and runs in progress (pending journals delivered before a read, only when the journal changed)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from himo import api
from himo.api.history import log_tail
from himo.api.recording import journal_dir, open_store, recording, store_url
from himo.meta.store import Store
from himo.ui.app import create_app
from himo.workspace.repo import Repo
from tests.ui.conftest import LOOPBACK

Step = tuple[str, str, dict[str, Any]]  # stage, status, params.yaml values


def record(repo: Repo, *steps: Step, log: str | None = None) -> tuple[str, list[str]]:
    """One run with an execution per step, as `himo repro` journals it; (run id, execution ids)."""
    ids = []
    with recording(repo, "repro", []) as recorder:
        for stage, status, params in steps:
            exec_id = recorder.start_execution(stage, ["true"], {"params.yaml": params} if params else {})
            recorder.end_execution(exec_id, status, [], [], 0 if status != "failed" else 1, log=log)
            ids.append(exec_id)
    return recorder.run_id, ids


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Repo:
    return Repo(make_repo())


@pytest.fixture
def team_repo(make_repo: Callable[..., Path], meta_url: str, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A repository recording into a store of its `meta.url`: SQLite, then PostgreSQL."""
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    return Repo(make_repo())


@pytest.fixture
def client(repo: Repo) -> Iterator[TestClient]:
    store = open_store(repo)
    with TestClient(create_app(store, repo), base_url=LOOPBACK) as c:
        yield c
    store.close()


@contextmanager
def dashboard(repo: Repo, by_url: bool = False) -> Iterator[TestClient]:
    """The dashboard over the repository's store, started in it (or by the store's URL alone)."""
    store = open_store(repo) if not by_url else Store(store_url(repo), "--meta-url").open()
    try:
        with TestClient(create_app(store, None if by_url else repo), base_url=LOOPBACK) as client:
            yield client
    finally:
        store.close()


def runs_of(client: TestClient, **query: Any) -> list[dict[str, Any]]:
    response = client.get("/api/runs", params=query)
    assert response.status_code == 200, response.text
    return response.json()["runs"]


@pytest.mark.parametrize("where", ["repository", "store"])
def test_the_cached_filter_finds_runs_with_a_restored_stage_as_the_cli_does(team_repo: Repo,
                                                                             where: str) -> None:
    """The CLI reads SQLite with sqlite3 (himo.meta.lite), the dashboard with SQLAlchemy; PostgreSQL
    both with SQLAlchemy; the dashboard with or without the repository."""
    repo = team_repo
    record(repo, ("train", "succeeded", {}))
    restored, _ = record(repo, ("prepare", "succeeded", {}), ("train", "cached", {}))
    assert [r.id for r in api.runs(repo, status="cached")] == [restored]
    with dashboard(repo, by_url=where == "store") as client:
        assert [r["id"] for r in runs_of(client, status="cached")] == [restored]
        page = client.get("/runs", params={"status": "cached"}).text
        assert f'href="/runs/{restored}"' in page


def test_previous_run_is_the_previous_successful_one_in_the_cli_and_the_dashboard(
        team_repo: Repo) -> None:
    repo = team_repo
    _, (first,) = record(repo, ("train", "succeeded", {"lr": 0.1}))
    record(repo, ("train", "failed", {"lr": 5}))
    last_run, (last,) = record(repo, ("train", "succeeded", {"lr": 0.3}))
    cli = api.runs(repo, limit=1)[0].executions[0]
    shown = api.run_show(repo, last[:12]).executions[0].summary
    with dashboard(repo) as client:
        ui = client.get(f"/api/runs/{last_run}").json()["executions"][0]
    assert cli.previous_id == shown.previous_id == ui["previous_id"] == first
    assert [(c.key, c.before, c.after) for c in cli.changes] == [("lr", 0.1, 0.3)]
    assert [(c["key"], c["before"], c["after"]) for c in ui["changes"]] == [("lr", 0.1, 0.3)]


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server's local zone is not UTC (nor any zone a test machine runs in)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_utc_on_every_page_whatever_the_servers_zone(tokyo: None, repo: Repo,
                                                               client: TestClient) -> None:
    run_id, _ = record(repo, ("train", "succeeded", {}))
    stored = api.runs(repo)[0].started_at  # naive UTC, as the store keeps it
    shown = stored.isoformat(sep=" ", timespec="seconds")
    # A time with a zone means that instant: converted to UTC, never to the server's zone.
    before = (stored - timedelta(minutes=1)).replace(tzinfo=UTC).astimezone(
        datetime.now().astimezone().tzinfo).isoformat()
    assert "+09:00" in before
    assert [r["id"] for r in runs_of(client, since=before)] == [run_id]
    at = client.get("/api/releases", params={"at": "2026-01-01T09:00:00+09:00"}).json()["at"]
    assert at == "2026-01-01 00:00:00"
    assert runs_of(client)[0]["started_at"] == shown
    assert client.get(f"/api/runs/{run_id}").json()["started_at"] == shown
    for page in ("/runs", f"/runs/{run_id}", "/releases", "/pipeline", "/metrics"):
        assert "times in UTC" in client.get(page).text, page
    assert shown in client.get(f"/runs/{run_id}").text and shown in client.get("/runs").text


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_a_log_path_outside_the_repository_is_never_opened(repo: Repo, client: TestClient,
                                                           tmp_path: Path, where: str) -> None:
    """A store is shared by a team (and can be edited): the log it names may point anywhere."""
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    log = {"absolute": str(secret), "dotdot": "../secret.txt", "symlink": "logs/link.log"}[where]
    if where == "symlink":
        (repo.root / "logs").mkdir()
        (repo.root / "logs" / "link.log").symlink_to(secret)
    run_id, (exec_id,) = record(repo, ("train", "succeeded", {}), log=log)
    assert log_tail(repo, log) == []
    assert api.run_show(repo, exec_id).executions[0].log_tail == []
    assert "hunter2" not in client.get(f"/api/runs/{run_id}").text
    assert "hunter2" not in client.get(f"/runs/{run_id}").text


def test_a_log_inside_the_repository_is_shown(repo: Repo, client: TestClient) -> None:
    (repo.root / "logs").mkdir()
    (repo.root / "logs" / "train.log").write_text("".join(f"line {i}\n" for i in range(30)))
    run_id, (exec_id,) = record(repo, ("train", "succeeded", {}), log="logs/train.log")
    assert api.run_show(repo, exec_id, log_lines=2).executions[0].log_tail == ["line 28", "line 29"]
    assert "line 29" in client.get(f"/api/runs/{run_id}").json()["executions"][0]["log_tail"]


def test_a_run_in_progress_shows_while_it_runs(repo: Repo, client: TestClient) -> None:
    """The journal of a live command is delivered before each read, as it grows."""
    with recording(repo, "repro", []) as recorder:
        exec_id = recorder.start_execution("train", ["sleep", "60"])
        live = runs_of(client)
        assert [(r["id"], r["status"]) for r in live] == [(recorder.run_id, "running")]
        assert [(e["stage"], e["status"], e["seconds"]) for e in live[0]["executions"]] == \
            [("train", "running", None)]
        assert "running" in client.get(f"/runs/{recorder.run_id}").text
        recorder.end_execution(exec_id, "succeeded", [], [], 0)
        assert runs_of(client)[0]["executions"][0]["status"] == "succeeded"
    assert runs_of(client)[0]["status"] == "succeeded"


def test_pending_journals_are_delivered_only_when_the_journal_changed(repo: Repo) -> None:
    from himo.api.recording import open_reader

    reader = open_reader(repo)
    try:
        record(repo, ("train", "succeeded", {}))
        reader.refresh()
        assert reader.refresh() is None and not list(journal_dir(repo).glob("*.jsonl"))
        with recording(repo, "repro", []) as recorder:
            recorder.start_execution("train", ["true"])
            first = reader.refresh()
            assert first is not None and first.live == 1
            assert reader.refresh() is None  # nothing new: one listdir, no delivery
            recorder.start_execution("evaluate", ["true"])
            assert reader.refresh() is not None  # the journal grew
        assert [r.status for r in reader.runs(limit=1)] == ["succeeded"]
    finally:
        reader.close()


CHILD = """
import sys, time
from himo.api.recording import recording
from himo.workspace.repo import Repo
with recording(Repo.find(), "repro", []) as recorder:
    recorder.start_execution("train", ["sleep", "600"])
    print(recorder.run_id, flush=True)
    time.sleep(600)
"""


def test_a_run_whose_himo_is_killed_shows_aborted_at_the_next_read(repo: Repo, client: TestClient) -> None:
    """kill -9 mid-run: the journal's size does not change, but its writer's lock dies, which is a
    change to the reader: the next read delivers it, closing the run as aborted."""
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=repo.root, stdout=subprocess.PIPE, text=True)
    try:
        run_id = child.stdout.readline().strip() if child.stdout else ""
        assert [(r["id"], r["status"]) for r in runs_of(client)] == [(run_id, "running")]
    finally:
        child.kill()
        child.wait()
    shown = runs_of(client)[0]
    assert (shown["id"], shown["status"], shown["executions"][0]["status"]) == (run_id, "aborted", "aborted")


def test_a_dashboard_over_another_store_leaves_the_repositorys_journals_alone(repo: Repo,
                                                                             tmp_path: Path) -> None:
    """`himo ui --meta-url URL` started in a repository: its journals belong to its own store."""
    from himo.meta.store import Store

    other = Store(f"sqlite:///{tmp_path / 'other.db'}").open()
    try:
        with recording(repo, "repro", []) as recorder, \
                TestClient(create_app(other, repo), base_url=LOOPBACK) as c:
            recorder.start_execution("train", ["true"])
            assert runs_of(c) == []
    finally:
        other.close()
    assert len(api.runs(repo)) == 1  # delivered to the repository's store, as ever
