"""Fixtures of the dashboard's tests: a real project run twice by `himo repro`, the app over its
store, a served copy on a free loopback port, and Debian's Chromium driven by Playwright; the
same for the team project (restores, a rollback, a foreach sweep on a branch: tests/ui/project.py).
Every page the browser opens fails its test on a console error or warning."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from himo.ui.app import create_app
from himo.ui.server import open_source
from tests.ui.project import make_project, make_team_project

LOOPBACK = "http://127.0.0.1"  # the dashboard answers loopback names only (TestClient's default: testserver)
HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on each session project share one xdist worker, so it is built once (--dist loadgroup)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if item.path.is_relative_to(HERE) and "team_project" in names:
            item.add_marker(pytest.mark.xdist_group("ui-team"))
        elif item.path.is_relative_to(HERE) and "project" in names:
            item.add_marker(pytest.mark.xdist_group("ui-project"))


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, _environment: None) -> Path:
    """One project for the session (read-only for the tests: the dashboard changes nothing)."""
    return make_project(tmp_path_factory.mktemp("ui") / "project")


def _app(root: Path):  # type: ignore[no-untyped-def]
    store, repo = open_source(None, root)
    yield create_app(store, repo)
    store.close()


def _client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, base_url=LOOPBACK) as c:
        yield c


@pytest.fixture(scope="session")
def app(project: Path):  # type: ignore[no-untyped-def]
    yield from _app(project)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    yield from _client(app)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def team_project(tmp_path_factory: pytest.TempPathFactory, _environment: None) -> Path:
    """The team project for the session (read-only for the tests)."""
    return make_team_project(tmp_path_factory.mktemp("ui-team") / "team")


@pytest.fixture(scope="session")
def team_app(team_project: Path):  # type: ignore[no-untyped-def]
    yield from _app(team_project)


@pytest.fixture
def team_client(team_app):  # type: ignore[no-untyped-def]
    yield from _client(team_app)


@pytest.fixture(scope="session")
def served(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The session's app served on a free 127.0.0.1 port; its base URL."""
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def team_served(team_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serving(team_app) as url:
        yield url


@contextmanager
def serving(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`app` served by uvicorn in a thread on a free 127.0.0.1 port; its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the dashboard did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
