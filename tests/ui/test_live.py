"""A run in progress in a real browser: a real `himo repro` process runs a stage that waits for a
file; the runs page, open before it started, shows it running (elapsed time ticking) without a
reload, the run page follows it, and both show it succeeded once the stage ends."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from himo.api.recording import open_store
from himo.ui.app import create_app
from himo.workspace.repo import Repo
from tests.conftest import write
from tests.ui.conftest import serving

WAITS = """\
stages:
  wait:
    cmd: python3 wait.py
    deps: [wait.py]
    outs: [out.txt]
"""
SCRIPT = ("import os, time\nwhile not os.path.exists('go'):\n    time.sleep(0.05)\n"
          "open('out.txt', 'w').write('done\\n')\n")
UPDATE_MS = 15_000  # generous: the machine may be busy; the page polls every 2 s


@pytest.fixture
def waiting_repo(make_repo: Callable[..., Path]) -> Path:
    root = make_repo()
    write(root / "himo.yaml", WAITS)
    write(root / "wait.py", SCRIPT)
    return root


@pytest.fixture
def dashboard(waiting_repo: Path) -> Iterator[str]:
    store = open_store(Repo(waiting_repo))
    try:
        with serving(create_app(store, Repo(waiting_repo))) as url:
            yield url
    finally:
        store.close()


def test_a_run_in_progress_shows_and_updates_without_a_reload(page: Page, waiting_repo: Path,
                                                               dashboard: str) -> None:
    page.goto(f"{dashboard}/runs")
    page.evaluate("() => { window.notReloaded = true; }")
    repro = subprocess.Popen([sys.executable, "-m", "himo", "repro"], cwd=waiting_repo,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        running = page.locator("tr.run.r-running")
        expect(running).to_have_count(1, timeout=UPDATE_MS)
        elapsed = running.locator(".elapsed")
        first = elapsed.inner_text()
        expect(elapsed).not_to_have_text(first, timeout=5_000)  # it ticks
        expect(running.locator(".chip.s-running")).to_have_text("wait")
        assert page.evaluate("() => window.notReloaded") is True
        running.locator("a.run-link").click()
        expect(page.locator("h1 .status")).to_have_text("running")
        page.evaluate("() => { window.notReloaded = true; }")
        (waiting_repo / "go").write_text("")
        assert repro.wait(timeout=60) == 0, repro.stdout.read() if repro.stdout else ""
        expect(page.locator("h1 .status")).to_have_text("succeeded", timeout=UPDATE_MS)
        expect(page.locator("section.execution[data-stage=wait] h2 .status")).to_have_text("succeeded")
        assert page.evaluate("() => window.notReloaded") is True
        page.go_back()
        expect(page.locator("tr.run.r-succeeded")).to_have_count(1, timeout=UPDATE_MS)
    finally:
        if repro.poll() is None:
            repro.kill()
            repro.wait()
