"""The dashboard's comparing and browsing features in Chromium, over the team project
(tests/ui/project.py: a failure, run-cache restores, releases and a rollback, evaluate run alone,
a foreach sweep of 12 stages on a branch): the runs table, compare, lineage controls, artifacts,
releases; every page also fails its test on a console warning (tests/ui/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from himo import api
from himo.api.recording import open_store, recording
from himo.meta.store import Store
from himo.ui import views
from himo.ui.app import create_app
from himo.workspace.repo import Repo
from tests.conftest import Himo
from tests.ui.conftest import serving

ACCURACY = "metrics.json:accuracy"


def runs_of(page: Page, base: str) -> list[dict[str, Any]]:
    """The runs, newest first: sweep, evaluate alone, restored (lr 0.1), lr 0.3, lr 5 (failed), lr 0.1,
    add."""
    runs = page.request.get(base + "/api/runs").json()["runs"]
    assert [[e["stage"] for e in r["executions"]][:2] for r in runs] == [
        ["sweep@1", "sweep@2"], ["evaluate"], ["train", "evaluate"], ["train", "evaluate"], ["train"],
        ["prepare", "train"], ["add"]]
    return runs


def column(page: Page, key: str) -> list[str]:
    return page.locator(f"#runs tbody td[data-key='{key}']").all_inner_texts()


def test_runs_table_columns_sort_branch_filter_grid_groups_and_tick_to_compare(page: Page,
                                                                               team_served: str) -> None:
    runs = runs_of(page, team_served)
    page.goto(team_served + "/runs")
    heads = page.locator("#runs thead th.value-col")
    # the newest run's metrics, the param that differs between the runs shown
    expect(heads).to_have_text([ACCURACY, "metrics.json:loss", "train.lr"])
    ids = page.locator("#runs tbody td:nth-child(2)")
    expect(ids).to_have_text([r["id"][:8] for r in runs])  # as the CLI prints them
    assert column(page, "param:train.lr") == ["–", "–", "0.1", "0.3", "5", "0.1", "–"]
    assert column(page, f"metric:{ACCURACY}") == ["–", "0.6", "0.6", "0.8", "–", "0.6", "–"]

    page.locator("#runs thead th", has_text=ACCURACY).click()  # ascending, empty cells last
    expect(page.locator(f"#runs tbody td[data-key='metric:{ACCURACY}']")).to_have_text(
        ["0.6", "0.6", "0.6", "0.8", "–", "–", "–"])
    page.locator("#runs thead th", has_text=ACCURACY).click()
    expect(page.locator(f"#runs tbody td[data-key='metric:{ACCURACY}']").first).to_have_text("0.8")

    sweep = page.locator("#runs tbody tr").filter(has=page.locator(f"a[href='/runs/{runs[0]['id']}']"))
    expect(sweep.locator(".chip")).to_have_text(["sweep@ ×12"])  # one chip for the foreach stage

    grid = page.locator("#grid")
    group = grid.locator("tr.group[data-group=sweep]")
    expect(group.locator("th")).to_contain_text("sweep@")
    members = grid.locator("tr.member[data-member-of=sweep]")
    expect(members).to_have_count(0)  # loaded when the group is opened
    group.locator("button.toggle").click()
    expect(members).to_have_count(12)
    expect(members.first).to_be_visible()
    expect(members.locator("th.stage")).to_have_text([f"sweep@{i}" for i in range(1, 13)])  # 2 before 10
    expect(members.first.locator("td")).to_have_count(30)  # the page's days
    group.locator("button.toggle").click()
    expect(members.first).to_be_hidden()
    group.locator("button.toggle").click()  # shown again, not loaded twice
    expect(members).to_have_count(12)
    expect(members.first).to_be_visible()
    stages = page.locator("select[name=stage] option").all_inner_texts()
    assert stages.index("sweep@2") < stages.index("sweep@10")

    page.select_option("select[name=branch]", "sweep")
    page.locator("#run-filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"branch=sweep"))
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    page.goto(team_served + "/runs?branch=main&metric=metrics.json:loss&param=train.lr")
    expect(page.locator("#runs tbody tr")).to_have_count(6)
    expect(page.locator("#runs thead th.value-col")).to_have_text(["metrics.json:loss", "train.lr"])

    button = page.locator("#compare-button")
    expect(button).to_be_disabled()
    for run in (runs[1], runs[3]):  # evaluate alone (lr 0.1, from upstream) and lr 0.3
        page.locator(f"#runs input[value='{run['id'][:8]}']").check()
    expect(button).to_be_enabled()
    button.click()
    expect(page).to_have_url(re.compile(rf"/compare\?run={runs[1]['id'][:8]}&run={runs[3]['id'][:8]}$"))
    expect(page.locator("#compare-table thead th[data-run]")).to_have_count(2)  # only the ticked runs


def test_compare_params_used_deltas_against_a_baseline_and_charts(page: Page, team_served: str) -> None:
    runs = runs_of(page, team_served)
    alone, restored, lr3, failed = (r["id"][:8] for r in runs[1:5])
    page.goto(f"{team_served}/compare?run={alone}&run={restored}")
    # evaluate alone used its model's lr (train's, upstream, in an earlier run): the same as the restore
    expect(page.locator("#compare-params tr[data-param]")).to_have_count(0)
    expect(page.locator("#no-param-differs")).to_be_visible()
    expect(page.locator("#all-params tr[data-param='train.lr'] td.num")).to_have_text(["0.1", "0.1"])

    page.goto(f"{team_served}/compare?run={alone}&run={lr3}&run={failed}")
    expect(page.locator("#compare-table thead th[data-run]")).to_have_count(3)
    expect(page.locator("#compare-params tr[data-param='train.lr'] td.num")).to_have_text(["0.1", "0.3", "5"])
    accuracy = page.locator(f"#compare-metrics tr[data-key='{ACCURACY}'] td.num")
    expect(accuracy.nth(0)).to_have_text("0.6")  # the baseline: the first run with metrics
    expect(accuracy.nth(1)).to_contain_text("0.8 +0.2 (+33.33%)")
    expect(accuracy.nth(1).locator(".delta")).to_have_class(re.compile("delta-up"))
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    charts = page.locator("#metric-charts canvas")
    expect(charts).to_have_count(2)  # every metric at once
    low = page.evaluate("() => document.querySelector('#metric-charts canvas').chart.scales.y.min")
    assert 0.5 < low < 0.6  # around 0.6 .. 0.8, not from 0
    expect(page.locator("#scatter-chart")).to_have_attribute("data-points", "2")  # the failed run: no metric
    expect(page.locator("#parallel-chart")).to_have_attribute("data-axes", "3")  # train.lr, accuracy, loss

    page.select_option("#compare-controls select[name=baseline]", lr3)
    page.locator("#compare-controls input[value='metrics.json:loss']").uncheck()
    page.locator("#compare-controls button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"baseline={lr3}&metric=metrics.json%3Aaccuracy$"))
    expect(accuracy.nth(0)).to_contain_text("0.6 -0.2 (-25%)")
    expect(accuracy.nth(0).locator(".delta")).to_have_class(re.compile("delta-down"))
    expect(page.locator("#compare-table thead th.baseline")).to_contain_text(lr3)
    expect(page.locator("#metric-charts canvas")).to_have_count(1)

    page.goto(f"{team_served}/compare?run={alone}&run={lr3}&metric=metrics.json:f1")
    expect(page.locator("#error-message")).to_have_text(
        "metric 'metrics.json:f1' is not reported by the compared runs")
    expect(page.locator(".hint")).to_contain_text("metrics.json:accuracy, metrics.json:loss")
    page.goto(f"{team_served}/compare")
    expect(page.locator("#compare-empty")).to_be_visible()


def graph_view(page: Page) -> dict[str, Any]:
    return page.evaluate("() => { const cy = document.getElementById('lineage').cy; return {zoom: cy.zoom(), "
                         "pan: cy.pan(), labels: cy.nodes().map(n => n.data('label'))}; }")


def test_lineage_fit_reset_latest_only_and_url_state(page: Page, team_served: str) -> None:
    raw = next(a for a in page.request.get(team_served + "/api/artifacts?kind=dataset").json()["artifacts"]
                    if a["path"] == "data/raw.csv")["digest"]
    page.goto(f"{team_served}/artifacts/{raw}?direction=downstream&depth=4")
    form = page.locator("#lineage-controls")
    expect(form.locator("select[name=direction]")).to_have_value("downstream")
    expect(form.locator("input[name=depth]")).to_have_value("4")
    expect(page.locator("#lineage")).to_have_attribute("data-ready", re.compile(r"^\d+$"))
    everything = graph_view(page)
    assert sum(label.startswith("models/model.pkl") for label in everything["labels"]) == 2  # lr 0.1, lr 0.3

    form.locator("input[name=latest]").check()
    expect(page).to_have_url(re.compile(r"direction=downstream&depth=4&latest=1$"))
    page.wait_for_function("(n) => document.getElementById('lineage').dataset.ready !== String(n)",
                           arg=len(everything["labels"]))
    latest = graph_view(page)
    assert sum(label.startswith("models/model.pkl") for label in latest["labels"]) == 1  # not lr 0.3's
    assert len(latest["labels"]) < len(everything["labels"])

    page.evaluate("() => { const cy = document.getElementById('lineage').cy; cy.zoom(2.5); "
                  "cy.pan({x: -400, y: 0}); }")
    form.locator("button[name=fit]").click()  # every node in view again
    expect(page.locator("#lineage")).to_have_attribute("data-view", "fit")
    inside = page.evaluate("() => { const cy = document.getElementById('lineage').cy, e = cy.extent(), "
                           "b = cy.elements().boundingBox(); return b.x1 >= e.x1 - 1 && b.x2 <= e.x2 + 1 "
                           "&& b.y1 >= e.y1 - 1 && b.y2 <= e.y2 + 1; }")
    assert inside
    page.evaluate("() => { document.getElementById('lineage').cy.pan({x: 300, y: 200}); }")  # returns nothing
    form.locator("button[name=reset]").click()  # the view the page opened with
    expect(page.locator("#lineage")).to_have_attribute("data-view", "reset")
    assert graph_view(page)["zoom"] == latest["zoom"] and graph_view(page)["pan"] == latest["pan"]

    page.reload()  # the state lives in the URL
    expect(form.locator("input[name=latest]")).to_be_checked()
    expect(form.locator("select[name=direction]")).to_have_value("downstream")

    page.goto(f"{team_served}/artifacts/{raw}?direction=sideways")
    expect(page.locator("#lineage-message")).to_have_text(
        "direction 'sideways' is not both, upstream or downstream. pick one in the Direction list "
        "(the URL's ?direction=)")


def test_artifacts_page_model_metrics_releases_rollback_and_at(page: Page, team_served: str) -> None:
    page.goto(team_served + "/artifacts")
    rows = page.locator("#artifacts > tbody > tr")
    expect(rows).to_have_count(2)  # the model and the raw data (kinds model and dataset)
    model = page.locator("#artifacts tr[data-path='models/model.pkl']")
    expect(model).to_contain_text("production v3 · live")
    expect(model.locator(".metric-list")).to_contain_text("0.6")
    page.fill("input[name=q]", "MODEL")
    page.locator("#artifact-search button").click()
    expect(rows).to_have_count(1)
    page.goto(team_served + "/artifacts?q=nothing-like-it")
    expect(page.locator("#artifacts-empty")).to_contain_text("nothing-like-it")
    page.goto(team_served + "/artifacts?kind=code")
    expect(page.locator("#artifacts > tbody > tr")).to_have_count(4)  # the four scripts, newest version each

    page.goto(team_served + "/artifacts")
    model.locator("a").first.click()
    expect(page.locator("#artifact-metrics tr[data-key='metrics.json:accuracy']")).to_contain_text("0.6")
    expect(page.locator("#artifact-releases .rollback")).to_have_text("rollback")

    page.goto(team_served + "/releases")
    production = page.locator("section.env[data-env=production] table.releases tbody > tr")
    expect(production.locator("td:first-child b")).to_have_text(["v3", "v2", "v1"])
    expect(production.nth(0).locator(".rollback")).to_have_text("rollback to v1")
    expect(production.nth(1).locator(".rollback")).to_have_count(0)
    accuracy = f".release-metrics .metric[data-key='{ACCURACY}']"
    expect(production.nth(1).locator(accuracy)).to_contain_text("0.8")
    expect(production.nth(0).locator(accuracy)).to_contain_text("0.6")

    first = page.request.get(team_served + "/api/releases?env=production").json()["envs"]["production"][-1]
    at = (datetime.fromisoformat(first["released_at"]) + timedelta(seconds=1)).isoformat()  # inside v1
    page.goto(f"{team_served}/releases?at={at}")
    expect(page.locator("section.env[data-env=production] .live-now")).to_contain_text("live at")
    expect(page.locator("section.env[data-env=production] .live-now")).to_contain_text("v1")
    expect(page.locator("section.env.nothing-live[data-env=staging]")).to_contain_text(
        "Nothing was live in staging at")
    page.goto(team_served + "/releases?at=2000-01-01")
    expect(page.locator("section.env.nothing-live")).to_have_count(2)
    page.goto(team_served + "/releases?env=qa")
    expect(page.locator("#error-message")).to_have_text("no release in environment 'qa'")
    expect(page.locator(".hint")).to_have_text("environments released to: production, staging")


def test_run_ids_as_the_cli_prints_them_and_clear_messages(page: Page, team_served: str) -> None:
    run = runs_of(page, team_served)[1]
    page.goto(f"{team_served}/runs/{run['id'][:8]}")
    expect(page).to_have_url(f"{team_served}/runs/{run['id']}")
    expect(page.locator("h1")).to_contain_text(run["id"][:8])
    page.goto(f"{team_served}/runs/{run['id'][:8].upper()}")
    expect(page).to_have_url(f"{team_served}/runs/{run['id']}")
    page.goto(f"{team_served}/runs/00000000")
    expect(page.locator("#error-message")).to_have_text("no run 00000000 in the store")
    page.goto(f"{team_served}/metrics?key=metrics.json:f1")
    expect(page.locator("#error-message")).to_have_text("metric 'metrics.json:f1' is not reported by any "
                                                        "execution shown")
    expect(page.locator(".hint")).to_contain_text("metrics.json:accuracy")


def test_every_page_without_console_warnings_and_static_files_gzipped(page: Page, team_served: str) -> None:
    """Each page once (the fixture fails the test on any console error or warning); the browser gets
    the dashboard's script gzipped, with its cache header."""
    run = runs_of(page, team_served)[2]["id"]
    model = page.request.get(team_served + "/api/artifacts?kind=model").json()["artifacts"][0]["digest"]
    with page.expect_response(re.compile(r"/static/himo\.js$")) as script:
        page.goto(team_served + "/runs")
    assert script.value.headers["content-encoding"] == "gzip"
    assert script.value.headers["cache-control"] == "public, max-age=3600"
    for path in ["/runs", f"/runs/{run}", "/pipeline", "/artifacts", f"/artifacts/{model}", "/releases",
                 "/metrics", "/compare", "/experiments", "/schedules", "/api/docs"]:
        page.goto(team_served + path)
        expect(page.locator("h1, h2.title").first).to_be_visible()
        page.wait_for_load_state("networkidle")


def test_more_rows_than_shown_say_so(page: Page, team_served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the grid's and the chips' limits the page says "+N more" instead of dropping rows silently."""
    monkeypatch.setattr(views, "GRID_ROWS", 2)  # the served app runs in this process
    monkeypatch.setattr(views, "CHIPS", 1)
    grid = page.request.get(team_served + "/api/grid").json()
    assert len(grid["stages"]) == 2 and grid["more"] == 3  # add, prepare, train, evaluate, sweep@ (a group)
    page.goto(team_served + "/runs")
    expect(page.locator("#grid tbody > tr:not(.member)")).to_have_count(2)
    expect(page.locator("#grid-more")).to_have_text(re.compile(r"^\+3 more stages"))
    more = page.locator("#runs tbody tr").nth(2).locator(".chip")  # the restore: train, evaluate
    expect(more).to_have_text(["train", "+1 more"])
    more.last.click()
    expect(page.locator("section.execution")).to_have_count(2)  # the run page shows them all


def test_foreach_members_of_the_grid_come_when_their_group_is_opened(team_client: TestClient) -> None:
    """The runs page carries a foreach group's row, not its members' (most of a busy month's grid);
    /grid/members renders them for the page's days, the cells the API's grid has."""
    page = team_client.get("/runs", headers={"accept": "text/html"}).text
    assert 'class="member"' not in page and 'data-group="sweep"' in page and "×12</span>" in page
    grid = team_client.get("/api/grid").json()
    (sweep,) = [row for row in grid["stages"] if row.get("group") == "sweep"]
    today = grid["days"][-1]
    assert f'data-today="{today}"' in page and sweep["size"] == 12
    rows = team_client.get(f"/grid/members?group=sweep&today={today}").text
    assert rows.count('<tr class="member" data-member-of="sweep">') == 12
    assert rows.count("<td>") == 12 * 30
    for member in sweep["members"]:
        cell = member["cells"][-1]
        assert f'title="{today}: {cell["summary"]}"' in rows.split(f">{member['stage']}</a>")[1]
    assert team_client.get("/grid/members?group=nothing").text.strip() == ""
    bad = team_client.get("/grid/members?group=sweep&today=yesterday")
    assert bad.status_code == 400 and "today" in bad.json()["error"]


def test_static_files_gzipped_and_cached(team_client: TestClient) -> None:
    response = team_client.get("/static/himo.js", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "public, max-age=3600"
    again = team_client.get("/static/himo.js", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    page = team_client.get("/runs", headers={"accept-encoding": "gzip", "accept": "text/html"})
    assert page.headers["content-encoding"] == "gzip" and "content-security-policy" in page.headers


def test_a_team_store_filters_by_repository(page: Page, make_repo: Callable[..., Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Two repositories recording into one store (meta.url): the Runs page offers each, and shows
    only the chosen one's runs; /api/runs takes the same filter."""
    url = f"sqlite:///{tmp_path / 'team.db'}"
    monkeypatch.setenv("HIMO_META_URL", url)
    repos = [Repo(make_repo(name)) for name in ("alpha", "beta")]
    for repo, stages in zip(repos, (["train"], ["prepare", "train"]), strict=True):
        with recording(repo, "repro", []) as recorder:
            for stage in stages:
                recorder.end_execution(recorder.start_execution(stage, ["true"]), "succeeded", [], [], 0)
        api.runs(repo)  # delivered to the team store
    store = Store(url, "--meta-url").open()
    try:
        with serving(create_app(store, None)) as base:
            page.goto(base + "/runs")
            expect(page.locator("#runs tbody tr")).to_have_count(2)
            choices = page.locator("select[name=repo] option")
            expect(choices).to_have_text(["any", str(repos[0].root), str(repos[1].root)])
            page.select_option("select[name=repo]", str(repos[1].root))
            page.locator("#run-filters button[type=submit]").click()
            expect(page.locator("#runs tbody tr")).to_have_count(1)
            expect(page.locator("#runs tbody tr .chip")).to_have_text(["prepare", "train"])
            beta = page.request.get(base + "/api/runs", params={"repo": str(repos[1].root)}).json()["runs"]
            assert [r["repo"] for r in beta] == [str(repos[1].root)]
    finally:
        store.close()


def test_value_columns_chosen_per_project_in_its_config(page: Page, make_repo: Callable[..., Path]) -> None:
    """`ui.metrics` / `ui.params` in .himo/config choose the columns (read at each page: no restart),
    the URL's `metric=` / `param=` go first, and without either the newest metrics and the params
    that differ are shown."""
    root = make_repo()
    repo = Repo(root)
    for lr, acc in ((0.1, 0.6), (0.3, 0.8)):
        with recording(repo, "repro", []) as recorder:
            exec_id = recorder.start_execution("train", ["true"], {"params.yaml": {"lr": lr, "depth": 3}})
            recorder.end_execution(exec_id, "succeeded", [], [], 0,
                                   metrics={"m.json": {"acc": acc, "loss": 1 - acc}})
    store = open_store(repo)
    try:
        with serving(create_app(store, repo)) as base:
            heads = page.locator("#runs thead th.value-col")
            page.goto(base + "/runs")
            expect(heads).to_have_text(["m.json:acc", "m.json:loss", "lr"])
            Himo(root)("config", "ui.metrics", "m.json:loss")
            Himo(root)("config", "ui.params", "depth, lr")
            page.reload()
            expect(heads).to_have_text(["m.json:loss", "depth", "lr"])
            expect(page.locator("#runs tbody td[data-key='param:depth']")).to_have_text(["3", "3"])
            page.goto(base + "/runs?metric=m.json:acc")
            expect(heads).to_have_text(["m.json:acc", "depth", "lr"])
    finally:
        store.close()
