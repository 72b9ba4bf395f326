"""A run in progress in a real browser: a real `himo repro` process runs a stage that waits for a
file; the runs page, open before it started, shows it running (elapsed time ticking) without a
reload, keeping what the user did there (ticked runs, the sort); the run page follows it, and both
show it succeeded once the stage ends, the run page with the plot the stage wrote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from himo.api.recording import open_store
from himo.ui.app import create_app
from himo.workspace.repo import Repo
from tests.conftest import Himo, write
from tests.ui.conftest import serving

WAITS = """\
stages:
  wait:
    cmd: python3 wait.py
    deps: [wait.py]
    plots:
      - loss.csv: {x: step, y: loss}
"""
SCRIPT = ("import os, time\nwhile not os.path.exists('go'):\n    time.sleep(0.05)\n"
          "open('loss.csv', 'w').write('step,loss\\n0,1\\n1,0.5\\n2,0.25\\n')\n")
UPDATE_MS = 15_000  # generous: the machine may be busy; the page polls every 2 s


@pytest.fixture
def waiting_repo(make_repo: Callable[..., Path]) -> Path:
    """A repository with one run (an add), and a stage that runs until the file `go` appears."""
    root = make_repo()
    write(root / "data.txt", "data\n")
    Himo(root)("add", "data.txt")
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
    page.locator("#runs input[name=run]").check()  # the add run
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
        # the swapped-in table works as the first did, and keeps the tick
        expect(page.locator("#runs tr.r-succeeded input[name=run]")).to_be_checked()
        running.locator("input[name=run]").check()
        expect(page.locator("#compare-button")).to_be_enabled()
        page.locator("#runs thead th", has_text="Started").click()
        expect(page.locator("#runs tbody tr").first).to_have_class(re.compile(r"\br-succeeded\b"))  # oldest
        running.locator("a.run-link").click()
        expect(page.locator("h1 .status")).to_have_text("running")
        page.evaluate("() => { window.notReloaded = true; }")
        (waiting_repo / "go").write_text("")
        assert repro.wait(timeout=60) == 0, repro.stdout.read() if repro.stdout else ""
        expect(page.locator("h1 .status")).to_have_text("succeeded", timeout=UPDATE_MS)
        expect(page.locator("section.execution[data-stage=wait] h2 .status")).to_have_text("succeeded")
        expect(page.locator("#plots .vega-plot svg.marks")).to_have_count(1)  # drawn on the swap
        assert page.evaluate("() => window.notReloaded") is True
        page.go_back()
        expect(page.locator("tr.run.r-succeeded")).to_have_count(1, timeout=UPDATE_MS)
    finally:
        if repro.poll() is None:
            repro.kill()
            repro.wait()
