"""The pages in a real browser (Debian's Chromium through Playwright), over a served store that
a real pipeline filled: click through runs -> run -> artifact -> lineage node -> release, and
assert on what is shown. Screenshots go to the test's tmp dir (and to $HIMO_UI_SCREENSHOTS, which
docs/dashboard.md's pictures come from)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect


def shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("HIMO_UI_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["HIMO_UI_SCREENSHOTS"]) / path.name)


def click_node(page: Page, container: str, node_id: str) -> None:
    """Click a graph node where cytoscape drew it on its canvas."""
    pos = page.evaluate("([c, id]) => document.getElementById(c).cy.getElementById(id).renderedPosition()",
                        [container, node_id])
    box = page.locator(f"#{container}").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])


def test_click_through_runs_run_artifact_lineage_release(page: Page, served: str, tmp_path: Path) -> None:
    page.goto(served + "/runs")
    expect(page.locator("h1")).to_have_text("Runs")
    grid = page.locator("#grid")
    for stage in ("prepare", "train", "evaluate"):
        expect(grid.locator(f"th.stage >> text={stage}")).to_be_visible()
    expect(grid.locator(".cell.c-succeeded").first).to_be_visible()
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(3)  # add, repro, repro
    expect(rows.first).to_contain_text("himo repro")
    expect(rows.first.locator(".chip")).to_have_text(["train", "evaluate"])  # only what lr changed
    shot(page, tmp_path, "runs")

    rows.first.locator("a.run-link").click()
    train = page.locator("section.execution[data-stage=train]")
    expect(train.locator("h2")).to_contain_text("succeeded")
    changed = train.locator("tr.changed[data-key='train.lr']")
    expect(changed).to_contain_text("0.3")
    expect(changed).to_contain_text("0.1")
    expect(train.locator("pre.log")).to_contain_text("trained with lr 0.3")
    evaluate = page.locator("section.execution[data-stage=evaluate]")
    expect(evaluate.locator("table.metrics")).to_contain_text("0.8")  # accuracy = 0.5 + lr
    shot(page, tmp_path, "run")

    train.locator("table.outputs a.digest").click()
    expect(page.locator("h1")).to_contain_text("models/model.pkl")
    expect(page.locator("h1 .kind")).to_have_text("model")
    # 3 executions; raw data, prepared data, model, predictions, metrics, 3 scripts
    expect(page.locator("#lineage")).to_have_attribute("data-ready", "11")
    model = page.locator("#digest").inner_text()
    expect(page.locator("#versions tbody tr")).to_have_count(2)  # lr 0.1 and lr 0.3
    shot(page, tmp_path, "artifact")

    prepared = page.evaluate(
        "() => document.getElementById('lineage').cy.nodes().filter(n => n.data('label')"
        ".startsWith('data/prepared.csv'))[0].id()")
    click_node(page, "lineage", prepared)
    expect(page.locator("#digest")).to_have_text(prepared)
    expect(page.locator("h1")).to_contain_text("data/prepared.csv")
    expect(page.locator("#artifact-releases")).to_have_count(0)
    expect(page.locator("text=Never released.")).to_be_visible()
    assert model != prepared

    # downstream of the prepared data, both models; the released one names its releases
    expect(page.locator("#lineage")).to_have_attribute("data-ready", re.compile(r"\d+"))
    label = page.evaluate("(id) => document.getElementById('lineage').cy.getElementById(id).data('label')",
                          model)
    assert label.endswith("production v2 · live\nstaging v1 · live"), label
    click_node(page, "lineage", model)
    expect(page.locator("#digest")).to_have_text(model)
    box = page.locator("#artifact-releases tbody tr")
    expect(box).to_have_count(2)
    expect(box.nth(0)).to_contain_text("production")
    expect(box.nth(0)).to_contain_text("v2")
    expect(box.nth(0).locator(".status")).to_have_text("live")
    expect(box.nth(1)).to_contain_text("staging")

    box.nth(0).locator("a").click()  # the release, on the environment's timeline
    expect(page).to_have_url(re.compile(r"/releases\?env=production#release-\d+$"))
    expect(page.locator("h1")).to_have_text("Releases in production")
    env = page.locator("section.env[data-env=production]")
    expect(env.locator(".timeline .span")).to_have_text(["v2", "v1"])
    expect(env.locator(".timeline .span.live")).to_have_text("v2")
    rows = env.locator("table.releases tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("lr 0.3")
    expect(rows.nth(1)).to_contain_text("first model")
    expect(rows.nth(0).locator("a.digest")).to_have_attribute("href", f"/artifacts/{model}")
    expect(page.locator("section.env")).to_have_count(1)

    page.goto(served + "/releases")  # every environment
    expect(page.locator("section.env")).to_have_count(2)
    expect(page.locator("section.env[data-env=staging] .timeline .span.live")).to_have_text("v1")
    shot(page, tmp_path, "releases")
    page.locator("section.env[data-env=production] tr[data-version=v1] a.lineage-link").click()
    expect(page.locator("#lineage")).to_have_attribute("data-ready", "11")  # v1 has a lineage of its own
    first = page.locator("#digest").inner_text()
    assert first != model
    expect(page.locator("#artifact-releases tbody tr")).to_have_count(1)
    expect(page.locator("#artifact-releases tbody tr")).to_contain_text("v1")
    expect(page.locator("#artifact-releases .status")).to_have_count(0)  # retired


def test_pipeline_page_links_each_stage_to_its_latest_execution(page: Page, served: str,
                                                                tmp_path: Path) -> None:
    page.goto(served + "/pipeline")
    expect(page.locator("#dag")).to_have_attribute("data-ready", "3")
    expect(page.locator("#stages tbody tr")).to_have_count(3)
    expect(page.locator("#stages tr.stale")).to_have_count(0)
    shot(page, tmp_path, "pipeline")
    click_node(page, "dag", "stage:train")
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}#exec-[0-9a-f-]{36}$"))
    expect(page.locator("section.execution[data-stage=train]")).to_be_visible()


def test_metrics_page_compares_runs_in_a_table_and_charts(page: Page, served: str, tmp_path: Path) -> None:
    page.goto(served + "/metrics")
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    row = page.locator("#compare tr[data-key='metrics.json:accuracy']")
    expect(row.locator("td.num")).to_have_text(["0.8", "0.6"])  # newest first
    page.locator("#compare a >> text=metrics.json:loss").click()
    expect(page.locator("h3").nth(1)).to_contain_text("metrics.json:loss")
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    shot(page, tmp_path, "metrics")
