"""The pages in a real browser (Debian's Chromium through Playwright), over a served store that
a real pipeline filled: click through runs -> run -> artifact -> lineage node -> release, and
assert on what is shown. Screenshots go to the test's tmp dir (docs/dashboard.md's pictures come
from docs/gen_screenshots.py)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect


def shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


RED, GREEN, AMBER = "rgb(214,69,65)", "rgb(46,157,79)", "rgb(240,165,0)"


def colour(locator: Locator) -> str:
    return locator.evaluate("e => getComputedStyle(e).backgroundColor").replace(" ", "")


def assert_left_to_right(page: Page, container: str) -> None:
    """Every edge of the graph goes from left to right: upstream nodes are left of downstream ones."""
    backwards = page.evaluate("(c) => document.getElementById(c).cy.edges().filter(e => "
                              "e.source().position('x') >= e.target().position('x')).map(e => e.id())",
                              container)
    assert backwards == []


def assert_zoom_and_pan(page: Page, container: str) -> None:
    """The wheel zooms, a drag on the background pans."""
    view = f"() => {{ const cy = document.getElementById('{container}').cy; return [cy.zoom(), cy.pan()]; }}"
    zoom, pan = page.evaluate(view)
    box = page.locator(f"#{container}").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"() => document.getElementById('{container}').cy.zoom() > {zoom}")
    zoomed, _ = page.evaluate(view)
    assert zoomed < zoom * 4  # one wheel turn is a step, not a jump
    corner = (box["x"] + 4, box["y"] + 4)  # background
    page.mouse.move(*corner)
    page.mouse.down()
    page.mouse.move(corner[0] + 60, corner[1] + 30, steps=5)
    page.mouse.up()
    _, moved = page.evaluate(view)
    assert moved != pan


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
    expect(grid.locator("thead th.day span").first).to_have_text(re.compile(r"^\d{1,2} [A-Z][a-z]{2}$"))
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(4)  # add, repro, repro (train failed: lr 5), repro
    expect(rows.first).to_contain_text("himo repro")
    expect(rows.first.locator(".chip")).to_have_text(["train", "evaluate"])  # only what lr changed
    failed = rows.nth(1)
    expect(failed.locator(".status")).to_have_text("failed")
    assert colour(failed.locator(".status")) == RED and colour(failed.locator(".chip")) == RED
    assert failed.locator("td").last.evaluate("td => getComputedStyle(td).display") == "table-cell"
    shot(page, tmp_path, "runs")

    # today's train: lr 0.1 succeeded, lr 5 failed, lr 0.3 succeeded: split, green last, not red all day
    expect(grid.locator("a.cell.c-failed")).to_have_count(0)
    train_today = grid.locator("tr", has=page.locator("th.stage a", has_text=re.compile("^train$"))) \
        .locator("a.cell").last
    expect(train_today).to_have_class(re.compile(r"\bc-succeeded\b.*\bsplit\b"))
    segments = train_today.locator(".seg")
    expect(segments).to_have_count(2)
    assert [colour(segments.nth(0)), colour(segments.nth(1))] == [RED, GREEN]
    expect(train_today).to_have_attribute("title", re.compile(r": 1 failed, then 2 succeeded$"))
    train_today.click()  # that stage, that day
    expect(page).to_have_url(re.compile(r"/runs\?stage=train&since=[-\d]+&until=[-\d]+$"))
    expect(rows).to_have_count(3)
    page.goto(served + "/runs?status=failed")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".status")).to_have_text("failed")
    page.goto(served + "/runs")

    rows.first.locator("a.run-link").click()
    train = page.locator("section.execution[data-stage=train]")
    expect(train.locator("h2")).to_contain_text("succeeded")
    changed = train.locator("tr.changed[data-key='train.lr']")
    expect(changed).to_contain_text("0.3")
    expect(changed).to_contain_text("0.1")  # the previous successful run's, not the failed lr 5
    expect(train.locator("dd.previous")).to_contain_text("previous successful run of train")
    expect(train.locator("pre.log")).to_contain_text("trained with lr 0.3")
    evaluate = page.locator("section.execution[data-stage=evaluate]")
    expect(evaluate.locator("table.metrics")).to_contain_text("0.8")  # accuracy = 0.5 + lr
    shot(page, tmp_path, "run")

    train.locator("table.outputs a.digest").click()
    expect(page.locator("h1")).to_contain_text("models/model.pkl")
    expect(page.locator("h1 .kind")).to_have_text("model")
    # 3 executions; raw data, prepared data, model, predictions, metrics, 3 scripts
    expect(page.locator("#lineage")).to_have_attribute("data-ready", "11")
    assert_left_to_right(page, "lineage")
    assert_zoom_and_pan(page, "lineage")
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

    # downstream of the prepared data, both models and the failed train (red); the released one
    # names its releases
    expect(page.locator("#lineage")).to_have_attribute("data-ready", re.compile(r"\d+"))
    assert_left_to_right(page, "lineage")
    statuses = page.evaluate("() => document.getElementById('lineage').cy.nodes('[type = \"execution\"]')"
                             ".map(n => [n.data('status'), n.style('background-color')])")
    assert ["failed", RED] in statuses and ["succeeded", GREEN] in statuses, statuses
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
    expect(page.locator("#stages tr.stale")).to_have_count(2)  # lr 0.5 not run: train, then evaluate
    assert_left_to_right(page, "dag")
    train = page.evaluate("() => { const n = document.getElementById('dag').cy.getElementById('stage:train');"
                          " return [n.style('background-color'), n.style('border-color')]; }")
    assert train == [GREEN, AMBER], train  # stale keeps its last status as its fill
    shot(page, tmp_path, "pipeline")
    click_node(page, "dag", "stage:train")
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}#exec-[0-9a-f-]{36}$"))
    expect(page.locator("section.execution[data-stage=train]")).to_be_visible()


def test_metrics_page_compares_runs_in_a_table_and_charts(page: Page, served: str, tmp_path: Path) -> None:
    page.goto(served + "/metrics")
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    row = page.locator("#compare tr[data-key='metrics.json:accuracy']")
    expect(row.locator("td.num")).to_have_text(["0.6", "0.8"])  # oldest first, as the history
    expect(page.locator("#compare-params tr[data-param='train.lr'] td.num")).to_have_text(["0.1", "0.3"])
    page.locator("#compare a >> text=metrics.json:loss").click()
    expect(page.locator("h3").nth(1)).to_contain_text("metrics.json:loss")
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    shot(page, tmp_path, "metrics")
