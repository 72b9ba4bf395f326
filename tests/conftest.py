"""Shared fixtures: real git repositories, the real `himo` command, a real S3 server (moto)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.dask_cluster import _dask_clusters, dask_cluster, stop_when_the_group_ends  # noqa: F401 - fixtures of tests/pipeline and tests/exp
from tests.inprocess import run_in_process

GIT_ENV = {
    "GIT_AUTHOR_NAME": "himo-test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "himo-test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(autouse=True, scope="session")
def _environment() -> Iterator[None]:
    old = dict(os.environ)
    os.environ.update(GIT_ENV)
    os.environ.update(S3_ENV)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    # Deliver metadata records before each command returns, so tests see them at once
    # (tests/meta/test_faults.py covers the default background delivery).
    os.environ["HIMO_META_DELIVER"] = "inline"
    os.environ.pop("HIMO_META_URL", None)
    os.environ.pop("CI", None)
    yield
    os.environ.clear()
    os.environ.update(old)


# The suite's temporary folders go to tmpfs when the machine has one with room. The suite makes
# and deletes hundreds of thousands of small files, and on ext4 every new file then scans the
# inode bitmap past the recently deleted ones (kernel: recently_deleted, find_inode_bit): 3,000
# files took 2.6 s of system time in /tmp against 0.06 s in /dev/shm, and the fault campaign
# and the many-file tests paid that many times over. Nothing the suite checks depends on ext4
# (it kills processes, it never cuts power); the one test needing two filesystems picks one
# other than tmp_path's (tests/objects/test_links.py).
TMPFS = Path("/dev/shm")
TMPFS_ROOM = 4 << 30  # bytes free there: a session peaked at 400 MB (kept only when a test failed)


def pytest_configure(config: pytest.Config) -> None:
    """tmp_path and tmp_path_factory under TMPFS unless a root or --basetemp was chosen (the
    xdist workers get theirs inside the controller's, so this acts once per session)."""
    if config.option.basetemp is None and "PYTEST_DEBUG_TEMPROOT" not in os.environ and _tmpfs_has_room():
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(TMPFS)


def _tmpfs_has_room() -> bool:
    try:
        stats = os.statvfs(TMPFS)
    except OSError:
        return False
    return os.access(TMPFS, os.W_OK) and stats.f_bavail * stats.f_frsize >= TMPFS_ROOM


# Markers given by the fixtures a test uses (meta_url's PostgreSQL case is marked by its param).
MARKED_BY_FIXTURE = {"postgres_server": "postgres", "pg_url": "postgres", "browser": "browser",
                     "page": "browser", "chromium": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`-m "not slow and not browser and not postgres"` is the quick subset needing no server.

    The slow tests go first (each keeps its place among them): with `-n 2` a test of half a
    minute handed out last (tests/ui comes last in file order) leaves one worker idle meanwhile."""
    for item in items:
        for fixture in set(getattr(item, "fixturenames", ())) & MARKED_BY_FIXTURE.keys():
            item.add_marker(MARKED_BY_FIXTURE[fixture])
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    stop_when_the_group_ends(item, nextitem)  # the Dask cluster, idle from then on


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def ctrl_c_reaches_it() -> None:
    """preexec_fn of a himo that a test stops with SIGINT, as Ctrl-C in a terminal would: a suite
    started in the background by a non-interactive shell (CI) inherits SIGINT ignored, and so
    would himo (it keeps an ignored SIGINT ignored, as nohup and `&` mean it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Himo:
    """Runs the `himo` command in a folder: in this process by default (tests/inprocess.py: the
    same exit code, stdout and stderr as `python -m himo`, much sooner), as a new process with
    `process=True`, when given a subprocess argument such as `preexec_fn=` or `timeout=`, or
    while another call runs in-process (threads running commands at once)."""

    def __init__(self, cwd: Path, process: bool = False) -> None:
        self.cwd = cwd
        self.process = process

    def __call__(self, *args: str, ok: bool = True, input: str | None = None, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        proc = None if self.process or kwargs else run_in_process(args, cwd or self.cwd, env, input or "")
        if proc is None:
            proc = subprocess.run(
                [sys.executable, "-m", "himo", *args], cwd=cwd or self.cwd, capture_output=True,
                text=True, input=input if input is not None else "", env=env, **kwargs,
            )
        if ok and proc.returncode != 0:
            raise AssertionError(f"himo {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory, _environment: None) -> dict[bool, Path]:
    """`git init` + `himo init` (and `himo init --no-scm`) done once; tests get copies.

    Then `himo runs`, which makes the repository's metadata store (.himo/meta.db, empty, at the
    current schema) as any first command does: Alembic's migrations of a new store cost 0.09 s
    of CPU, paid by nearly every test's first command before (376 times in tests/api, remotes,
    workspace, pipeline, cli and objects). A new store's making is tested where a repository is
    made by hand: tests/meta/test_store.py (meta_url), the fault campaign, the demo."""
    base = tmp_path_factory.mktemp("templates")
    made = {}
    for scm in (True, False):
        root = base / ("git" if scm else "plain")
        root.mkdir()
        if scm:
            git(root, "init", "-q", "-b", "main")
        Himo(root)("init", *([] if scm else ["--no-scm"]))
        Himo(root)("runs", "--json")
        made[scm] = root
    return made


@pytest.fixture
def make_repo(tmp_path: Path, _templates: dict[bool, Path]) -> Callable[..., Path]:
    """A new git repository with `himo init` done; `make_repo("name")` for several."""

    def make(name: str = "repo", scm: bool = True) -> Path:
        root = tmp_path / name
        if root.exists():
            raise FileExistsError(root)
        shutil.copytree(_templates[scm], root, symlinks=True)
        return root

    return make


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    return make_repo()


@pytest.fixture
def himo(repo: Path) -> Himo:
    return Himo(repo)


@pytest.fixture
def himo_process(repo: Path) -> Himo:
    """`himo` as a new process each call: for tests whose point is the process boundary."""
    return Himo(repo, process=True)


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def make_tree(root: Path, files: int = 20, subdirs: int = 3, size: int = 100) -> Path:
    for i in range(files):
        write(root / f"sub{i % subdirs}" / f"f{i}.bin", os.urandom(size))
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto) on a free loopback port; its endpoint URL."""
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which("moto_server")
    if exe is None:
        pytest.fail(f"moto_server not found: run `{SETUP}` (it installs the test extras)")
    port = _free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto S3 server did not start on {endpoint}")
            time.sleep(0.1)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A new empty bucket on the S3 server; its name."""
    import boto3

    name = f"himo-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    return name


PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


SETUP = "bash scripts/test-setup.sh"  # installs or starts what the suite needs; tests never do


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server on 127.0.0.1:5432; fails loudly, naming the fix, when it is not there."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5):
            return PG_ADMIN_URL
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {str(error).strip()}\n"
                    f"Run `{SETUP}` (it starts PostgreSQL and creates the database `test`).")


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A new empty PostgreSQL database for one test (dropped after it); its SQLAlchemy URL."""
    import psycopg

    name = f"himo_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def meta_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata store URL: the suite of the store runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'meta.db'}"
    return request.getfixturevalue("pg_url")


# Debian's Chromium driven by Playwright, for every folder's browser tests: one definition, so one
# Playwright per worker (a second sync_playwright() in one process fails).
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium; fails loudly, naming the fix, when it is missing (tests install nothing)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `{SETUP}` (it installs Debian's chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # an error (a 404 too: favicon) or a warning, on any page the test opened; not the status of an
    # error page the test opened on purpose (its assertions check the message shown)
    def console(m) -> None:  # type: ignore[no-untyped-def]
        if m.type in ("error", "warning", "assert") and not (
                m.text.startswith("Failed to load resource") and m.location.get("url") == page.url):
            errors.append(f"{m.type}: {m.text} ({page.url})")

    page.on("console", console)
    yield page
    context.close()
    assert not errors, f"JavaScript errors or console warnings: {errors}"
