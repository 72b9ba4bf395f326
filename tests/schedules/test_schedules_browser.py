"""The Schedules page and the runs grid in Debian's Chromium, over a repository whose scheduler ran
for real (`himo scheduler --once --now`: two days of catch-up, one failing; a backfill; a paused
schedule): next run times, paused, the last logical dates as cells with the failure linked to its
run, and the runs grid placing scheduled runs by logical date. The `page` fixture fails the test
on any console error or warning."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from himo.ui.app import create_app
from himo.ui.server import open_source
from tests.conftest import Himo, git, write
from tests.ui.conftest import serving

TODAY = datetime.now(UTC).date()
FAILING = TODAY - timedelta(days=2)  # the catch-up's day whose stage fails
BACKFILLED = TODAY - timedelta(days=12)


def pipeline(start: date) -> str:
    return f"""stages:
  predict:
    cmd: test ${{schedule.date}} != {FAILING} && echo ok > out.txt
    outs: [out.txt]
schedules:
  daily:
    cron: '0 6 * * *'
    catchup: true
    start: {start}
    targets: [predict]
  weekly:
    cron: '0 6 * * 1'
"""


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory, _templates: dict[bool, Path]) -> Iterator[dict]:
    """The repository's dashboard served, and the ids of its runs: {url, runs: {logical day: id}}."""
    import shutil

    root = tmp_path_factory.mktemp("schedules-ui") / "repo"
    shutil.copytree(_templates[True], root, symlinks=True)
    himo = Himo(root)
    write(root / "himo.yaml", pipeline(FAILING))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "schedules")
    himo("schedule", "pause", "weekly")
    himo("scheduler", "--once", "--now", f"{TODAY}T07:00")  # catch-up: TODAY-2 (fails), TODAY-1
    himo("schedule", "backfill", "daily", "--from", f"{BACKFILLED}T06:00", "--to", f"{BACKFILLED}T06:00")
    history = json.loads(himo("schedule", "history", "daily", "--json").stdout)
    runs = {h["logical_date"][:10]: h["run_id"] for h in history}
    store, repo = open_source(None, root)
    try:
        with serving(create_app(store, repo)) as url:
            yield {"url": url, "runs": runs}
    finally:
        store.close()


def next_daily_run() -> str:
    """When `daily` (06:00 UTC) runs next, as the page writes it."""
    now = datetime.now(UTC)
    tick = now.replace(hour=6, minute=0, second=0, microsecond=0)
    return (tick if tick > now else tick + timedelta(days=1)).isoformat()


def test_schedules_page_next_run_paused_and_logical_dates(page: Page, scheduled: dict) -> None:
    runs = scheduled["runs"]
    assert sorted(runs) == [str(d) for d in (BACKFILLED, FAILING, TODAY - timedelta(days=1))]
    page.goto(scheduled["url"] + "/schedules")
    expect(page.locator("nav a.on")).to_have_text("Schedules")
    daily, weekly = page.locator("#schedule-daily"), page.locator("#schedule-weekly")
    expect(daily.locator("td").nth(3)).to_have_text(next_daily_run())
    expect(weekly.locator(".status")).to_have_text("paused")
    expect(weekly.locator("td").nth(3)).to_have_text("–")  # a paused schedule has no next run
    expect(daily.locator(".status")).to_have_count(0)
    cells = daily.locator(".schedule-grid .cell")  # oldest logical date first
    expect(cells).to_have_count(3)
    states = ["succeeded", "failed", "succeeded"]
    assert [c.get_attribute("data-state") for c in cells.all()] == states
    assert [c.get_attribute("title")[:10] for c in cells.all()] == sorted(runs)
    expect(weekly.locator(".schedule-grid .cell")).to_have_count(0)

    failed = daily.locator(".cell[data-state=failed]")
    expect(failed).to_have_attribute("href", f"/runs/{runs[str(FAILING)]}")
    expect(daily.locator("a.failure-link")).to_have_attribute("href", f"/runs/{runs[str(FAILING)]}")
    failed.click()
    expect(page).to_have_url(re.compile(f"/runs/{runs[str(FAILING)]}$"))
    expect(page.locator("h1 .status")).to_have_text("failed")
    expect(page.locator("#run-schedule")).to_contain_text(f"daily, logical date {FAILING} 06:00:00 (UTC)")


def test_runs_grid_shows_scheduled_runs_by_logical_date(page: Page, scheduled: dict) -> None:
    runs = scheduled["runs"]
    page.goto(scheduled["url"] + "/runs")
    row = page.locator("#grid tr", has=page.locator("th.stage a", has_text=re.compile("^predict$")))

    def cell(day: date):  # type: ignore[no-untyped-def]
        return row.locator(f'.cell[title^="{day}:"]')

    # every run started today; each sits on its logical date, today's square stays empty
    expect(row.locator("a.cell.sched")).to_have_count(3)
    expect(cell(TODAY)).to_have_count(0)
    backfill = cell(BACKFILLED)
    expect(backfill).to_have_class(re.compile(r"\bsched-backfill\b"))
    expect(backfill).to_have_attribute("title", re.compile(f"backfill run of daily for {BACKFILLED} 06:00"))
    expect(cell(FAILING)).to_have_class(re.compile(r"\bc-failed\b.*\bsched-schedule\b"))
    expect(cell(FAILING)).to_have_attribute("href", f"/runs/{runs[str(FAILING)]}")
    backfill.click()
    expect(page).to_have_url(re.compile(f"/runs/{runs[str(BACKFILLED)]}$"))
    expect(page.locator("#run-schedule")).to_contain_text(f"logical date {BACKFILLED} 06:00:00")
