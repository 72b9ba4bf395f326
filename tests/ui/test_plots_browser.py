"""Plots in Debian's Chromium: the file `himo plots show` writes (every template, an image; opened
from disk, its own CSP forbidding eval and any fetch) and the dashboard's run page and plots
routes (under the dashboard's CSP with a nonce). The `page` fixture fails on any console error,
so a CSP violation or a Vega error fails the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from himo.api.plots import TEMPLATES, PlotDef
from himo.api.plots.build import build
from himo.api.plots.sources import Source
from himo.ui.app import create_app
from himo.ui.plotpage import write_page
from himo.ui.server import open_source
from tests.api.plots_project import PNG, make_plots_project
from tests.conftest import Himo
from tests.ui.conftest import LOOPBACK, serving

ROWS = [{"step": i, "loss": 1 / (i + 1), "acc": i / 10, "actual": str(i % 3), "predicted": str(i * 7 % 3),
         "feature": f"f{i}"} for i in range(12)]


def test_the_written_page_draws_every_template(page: Page, tmp_path: Path) -> None:
    files = {"a.json": json.dumps(ROWS).encode(), "b.csv": b"step,loss\n0,2\n1,1\n", "i.png": PNG}
    axes = {"confusion": ("actual", "predicted"), "confusion_normalized": ("actual", "predicted"),
            "bar_horizontal": ("acc", "feature"), "bar_horizontal_sorted": ("acc", "feature")}
    plots = []
    for template in TEMPLATES:
        x, y = axes.get(template, ("step", "loss"))
        files_y = {"a.json": (y,)} if template in axes else {"a.json": ("loss", "acc"), "b.csv": ("loss",)}
        definition = PlotDef(template, files_y, dict.fromkeys(files_y, x), template)
        plots += build(definition, [Source("HEAD", files.get), Source("workspace", files.get)])
    plots += build(PlotDef("i.png", {"i.png": ()}), [Source("workspace", files.get)])
    path = write_page(plots, tmp_path / "out")
    page.goto(path.as_uri())
    for template in TEMPLATES:
        figure = page.locator(f'figure[data-plot-id="{template}"]')
        expect(figure.locator(".vega-plot svg.marks")).to_have_count(1)
        assert figure.locator("path, text").count() > 10, template
    expect(page.locator(".plot-error")).to_have_count(0)
    assert page.locator("img").evaluate("i => i.naturalWidth") == 1  # the PNG, from its data: URI
    page.screenshot(path=str(tmp_path / "plots.png"), full_page=True)


@pytest.fixture(scope="module")
def plots_app(tmp_path_factory: pytest.TempPathFactory, _templates: dict[bool, Path]) -> Iterator:
    root = make_plots_project(tmp_path_factory.mktemp("ui-plots") / "repo", _templates[True])
    store, repo = open_source(None, root)
    yield create_app(store, repo), root
    store.close()


def run_ids(root: Path) -> list[str]:
    runs = json.loads(Himo(root)("runs", "--json").stdout)
    return [r["id"] for r in (runs["runs"] if isinstance(runs, dict) else runs) if r["command"] == "repro"]


def test_run_plots_route(plots_app: tuple) -> None:
    app, root = plots_app
    newest, older = run_ids(root)[:2]
    with TestClient(app, base_url=LOOPBACK) as client:
        plots = client.get(f"/api/runs/{newest}/plots").json()
        assert [p["id"] for p in plots] == ["ROC", "logs/loss.csv", "eval/importance.json",
                                            "eval/plots/pr.png", "eval/plots/roc.csv"]
        loss = [r["loss"] for r in plots[1]["spec"]["data"]["values"]]
        assert loss == [1.0, 0.6667, 0.5, 0.4, 0.3333]  # lr 0.5's, from the cache by the run's digest
        both = client.get("/api/plots", params={"run": [older, newest]}).json()
        assert {r["rev"] for r in both[1]["spec"]["data"]["values"]} == {older[:8], newest[:8]}
        assert client.get("/api/runs/zz/plots").status_code == 400


def test_run_and_compare_pages_draw_the_plots(plots_app: tuple, page: Page) -> None:
    app, root = plots_app
    newest, older = run_ids(root)[:2]
    with serving(app) as url:
        page.goto(f"{url}/runs/{newest}")
        expect(page.locator("#plots .vega-plot svg.marks")).to_have_count(4)
        assert page.locator("#plots svg path").count() > 10
        assert page.locator("#plots img").evaluate("i => i.naturalWidth") == 1
        page.goto(f"{url}/compare?run={older[:8]}&run={newest[:8]}")  # ids as the CLI prints them
        loss = page.locator('#plots figure[data-plot-id="logs/loss.csv"]')
        expect(loss.locator("svg.marks")).to_have_count(1)
        expect(loss.locator("svg .role-legend text", has_text=newest[:8])).to_have_count(1)
        expect(page.locator("#plots img")).to_have_count(2)  # the image of each run
