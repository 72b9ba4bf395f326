"""The dashboard's Experiments page: the list, and the ticked experiments compared."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from himo.ui.app import create_app
from himo.ui.server import open_source
from tests.conftest import Himo, git, write
from tests.exp.conftest import PIPELINE
from tests.ui.conftest import LOOPBACK, serving


def test_experiments_page_lists_and_compares(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    himo("exp", "run", "-S", "train.alpha=2,3", "-n", "ui")
    store, repo = open_source(None, exp_repo)
    try:
        with TestClient(create_app(store, repo), base_url=LOOPBACK) as client:
            page = client.get("/experiments").text
            assert 'href="/experiments" class="on"' in page
            assert all(f'data-name="ui-{i}"' in page for i in (1, 2))
            compared = client.get("/experiments", params={"exp": ["ui-1", "ui-2"]}).text
            score = re.search(r'data-key="metrics.json:score" class=differ>(.*?)</tr>', compared, re.S)
            assert score and "4" in score.group(1) and "6" in score.group(1) and "(+2)" in score.group(1)
            doc = client.get("/api/experiments", params={"exp": ["ui-2"]}).json()
            assert doc["chosen"] == ["ui-2"] and [r["name"] for r in doc["rows"]] == ["ui-2", "ui-1"]
            assert {p["key"]: p["values"] for p in doc["params"]}["train.alpha"] == [3]
            unknown = client.get("/api/experiments", params={"exp": ["nope"]})
            assert unknown.status_code == 404
            assert unknown.json() == {"error": "no experiment 'nope' among the newest 500",
                                      "hint": "experiments: ui-2, ui-1"}
    finally:
        store.close()


# The template's pipeline, its train stage also plotting a loss curve that depends on train.alpha.
PLOTTED = PIPELINE.replace("train.py\n    deps: [prep.txt, train.py]",
                           "train.py && python3 loss.py\n    deps: [prep.txt, train.py, loss.py]")
PLOTTED += "    plots:\n      - loss.csv: {x: step, y: loss, title: Loss}\n"
LOSS = """\
import yaml
a = yaml.safe_load(open("params.yaml"))["train"]["alpha"]
open("loss.csv", "w").write("step,loss\\n" + "".join(f"{i},{1 / (1 + a * i):.4f}\\n" for i in range(4)))
"""


@pytest.fixture
def served_exps(exp_repo: Path) -> Iterator[str]:
    """The dashboard of a repository whose train stage plots its loss (committed: the plots are read
    at the experiments' base commit), with three experiments, served on a free port."""
    write(exp_repo / "himo.yaml", PLOTTED)
    write(exp_repo / "loss.py", LOSS)
    git(exp_repo, "add", "-A")
    git(exp_repo, "commit", "-qm", "plot the loss")
    Himo(exp_repo)("exp", "run", "-S", "train.alpha=2,3,5", "-n", "b")
    store, repo = open_source(None, exp_repo)
    try:
        with serving(create_app(store, repo)) as url:
            yield url
    finally:
        store.close()


def test_tick_to_compare_in_chromium_with_plots(served_exps: str, page: Page) -> None:
    page.goto(f"{served_exps}/experiments")
    expect(page.locator("#compare thead th")).to_have_text(["", "b-3", "b-2", "b-1"])
    loss = page.locator('#plots figure[data-plot-id="loss.csv"]')
    expect(loss.locator("svg.marks")).to_have_count(1)
    expect(loss.locator("svg .role-legend .role-legend-label text")).to_have_text(["b-1", "b-2", "b-3"])
    page.get_by_label("compare b-2").uncheck()
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#compare thead th")).to_have_text(["", "b-3", "b-1"])
    score = page.locator('#compare tr[data-key="metrics.json:score"] td')
    expect(score).to_have_text(["metrics.json:score", "10", "4 (-6)"])
    expect(page.locator("nav a.on")).to_have_text("Experiments")
    expect(loss.locator("svg .role-legend .role-legend-label text")).to_have_text(["b-1", "b-3"])
    assert loss.locator("svg path").count() > 2  # axes, and a line per experiment
