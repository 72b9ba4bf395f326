"""Comparing the members of a foreach sweep (one `himo repro` of train@lr1e-3 .. train@lr1e-1: one
run), written the DVC way (tests/ui/project.py make_sweep_project): the read on SQLite and
PostgreSQL, and the compare page in Chromium, from the run page's "Compare members", each
member's params and metrics checked against what the stages read and wrote."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from himo.api.recording import open_reader
from himo.ui.app import create_app
from himo.ui.server import open_source
from himo.workspace.repo import Repo
from tests.ui.conftest import serving
from tests.ui.project import SWEEP_MEMBERS, make_sweep_project

LR, DEPTH = "sweep.*.lr", "sweep.*.depth"  # a member's own sweep.<its name>.lr, shared by the members
ACCURACY, LOSS = "metrics/*.json:accuracy", "metrics/*.json:loss"  # each member's metrics/<its name>.json
MEMBERS = list(SWEEP_MEMBERS)


def test_the_members_of_a_foreach_stage_with_the_params_they_used_and_their_metrics(
        tmp_path: Path, meta_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    root, wrote = make_sweep_project(tmp_path / "sweep")
    reader = open_reader(Repo(root))
    try:
        second, first = (r.id for r in reader.runs(limit=2))
        assert reader.foreach_members([first, second]) == {first: {"train": MEMBERS},
                                                            second: {"train": ["lr1e-1"]}}
        members = reader.group_members([first, second], "train")
        assert [(m.run_id, m.stage, m.member) for m in members] == [
            *((first, f"train@{k}", k) for k in MEMBERS), (second, "train@lr1e-1", "lr1e-1")]
        runs = [wrote[0]] * len(MEMBERS) + [wrote[1]]
        for m, ran in zip(members, runs, strict=True):
            used = ran[m.member]
            assert m.params == {LR: used["lr"], DEPTH: used["depth"], "train.epochs": used["epochs"],
                                "prepare.rows": used["rows"]}  # its own (the member's name as *), prepare's
            assert m.metrics == {ACCURACY: used["accuracy"], LOSS: used["loss"]}
            assert m.status == "succeeded"
        chosen = reader.compared_executions([members[4].id, members[0].id, "0" * 36])
        assert [c.id for c in chosen] == [members[4].id, members[0].id]  # as asked; an unknown id left out
        assert reader.group_members([first], "trai") == []  # a prefix of the name is not the stage
        assert [m.stage for m in reader.group_members([second, first], "train", ["lr1e-1", "lr1e-2"])] == [
            "train@lr1e-1", "train@lr1e-2", "train@lr1e-1"]  # run by run, as given; only those members
        assert reader.foreach_members([]) == {}
    finally:
        reader.close()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, _environment: None) -> tuple[Path, list[dict[str, Any]]]:
    return make_sweep_project(tmp_path_factory.mktemp("ui-sweep") / "sweep")


@pytest.fixture(scope="module")
def sweep_served(sweep: tuple[Path, list[dict[str, Any]]]) -> Iterator[str]:
    store, repo = open_source(None, sweep[0])
    with serving(create_app(store, repo)) as url:
        yield url
    store.close()


def cells(page: Page, row: str) -> list[str]:
    return page.locator(f"{row} td.num").all_text_contents()  # also those of a closed <details>


def delta(value: float, base: float) -> str:
    """The delta as the page writes it: absolute, and in % of the baseline."""
    diff = round(value - base, 10)
    return f"{diff:+g} ({round(diff / abs(base) * 100, 2):+g}%)"


@pytest.mark.xdist_group("ui-sweep")  # the worker that builds the project runs the tests on it
def test_compare_the_members_of_a_sweep_from_its_run_page(page: Page, sweep_served: str,
                                                          sweep: tuple[Path, list[dict[str, Any]]]) -> None:
    wrote = sweep[1][0]
    runs = page.request.get(sweep_served + "/api/runs").json()["runs"]
    second, first = runs[0]["id"], runs[1]["id"]
    page.goto(f"{sweep_served}/runs")  # the run's chip of its foreach stage opens its "Compare members"
    page.locator(f"#runs tr[data-run='{first}'] .chip", has_text="train@").click()
    expect(page).to_have_url(re.compile(rf"/runs/{first}#foreach-train$"))
    group = page.locator("#foreach-groups form[data-group=train]")
    expect(group).to_contain_text("×4")
    group.get_by_role("button", name="Compare members").click()
    expect(page).to_have_url(re.compile(rf"/compare\?run={first[:8]}&group=train$"))
    expect(page.locator("h1")).to_contain_text("Compare the members of train@")

    heads = page.locator("#compare-table thead th[data-exec]")
    expect(heads).to_have_count(4)
    assert [heads.nth(i).get_attribute("data-member") for i in range(4)] == MEMBERS
    # the params each member used, as params.yaml had them when it ran; those equal in all: under All
    expect(page.locator("#compare-params tr[data-param]")).to_have_count(2)
    for row, name in ((LR, "lr"), (DEPTH, "depth")):
        shown = cells(page, f"#compare-params tr[data-param='{row}']")
        assert shown == [str(wrote[m][name]) for m in MEMBERS]
    all_params = page.locator("#all-params tr[data-param]")
    expect(all_params).to_have_count(4)
    assert cells(page, "#all-params tr[data-param='train.epochs']") == ["3"] * 4
    assert cells(page, "#all-params tr[data-param='prepare.rows']") == ["2"] * 4  # prepare's, upstream
    # the metrics each member wrote; the baseline: the first member
    accuracy = page.locator(f"#compare-metrics tr[data-key='{ACCURACY}'] td.num")
    expect(accuracy).to_have_count(4)
    base = wrote[MEMBERS[0]]["accuracy"]
    for i, key in enumerate(MEMBERS):
        value = wrote[key]["accuracy"]
        expect(accuracy.nth(i)).to_have_text(f"{value}" if i == 0 else f"{value} {delta(value, base)}")
    expect(page.locator("#compare-table thead th.baseline")).to_have_attribute("data-member", MEMBERS[0])

    page.select_option("#compare-controls select[name=baseline]", label="train@lr3e-2")
    page.locator("#compare-controls button[type=submit]").click()
    baseline = page.locator("#compare-table thead th.baseline")
    expect(baseline).to_have_attribute("data-member", "lr3e-2")
    exec8 = baseline.get_attribute("data-exec")[:8]
    expect(page).to_have_url(re.compile(rf"group=train&baseline={exec8}&metric="))
    for row, key in ((ACCURACY, "accuracy"), (LOSS, "loss")):
        base = wrote["lr3e-2"][key]
        values = page.locator(f"#compare-metrics tr[data-key='{row}'] td.num")
        for i, member in enumerate(MEMBERS):
            shown = values.nth(i).locator(".delta")
            if member == "lr3e-2":
                expect(shown).to_have_count(0)
            else:
                expect(shown).to_have_text(delta(wrote[member][key], base))
                better = wrote[member][key] > base
                expect(shown).to_have_class(re.compile("delta-up" if better else "delta-down"))

    # one point and one line per member; the scatter of a metric against the param that varies
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    expect(page.locator("#metric-charts canvas")).to_have_count(2)
    expect(page.locator("#parallel-chart")).to_have_attribute("data-lines", "4")
    expect(page.locator("#parallel-chart")).to_have_attribute("data-axes", "4")  # depth, lr, accuracy, loss
    scatter = page.locator("#scatter-chart")
    page.select_option("#scatter-controls select[name=metric]", ACCURACY)
    expect(page.locator("#scatter-controls select[name=param]")).to_have_value(LR)  # 4 values; depth: 3
    expect(scatter).to_have_attribute("data-points", "4")
    points = page.evaluate("() => document.getElementById('scatter-chart').chart.data.datasets[0].data"
                           ".map(p => [p.x, p.y, p.label])")
    assert points == [[wrote[k]["lr"], wrote[k]["accuracy"], f"train@{k}"] for k in MEMBERS]
    page.select_option("#scatter-controls select[name=param]", "@")  # the members' names, as categories
    expect(scatter).to_have_attribute("data-points", "4")
    axis = page.evaluate("() => { const x = document.getElementById('scatter-chart').chart.scales.x;"
                         " return [x.type, x.getLabels()]; }")
    assert axis == ["category", MEMBERS]

    # chosen members, from the run page: only those
    page.goto(f"{sweep_served}/runs/{first}")
    group.locator("summary").click()
    for member in ("lr1e-2", "lr1e-1"):
        group.locator(f"input[name=member][value='{member}']").check()
    group.get_by_role("button", name="Compare members").click()
    expect(page).to_have_url(re.compile(r"group=train&member=lr1e-2&member=lr1e-1$"))
    expect(heads).to_have_count(2)
    expect(page.locator("#parallel-chart")).to_have_attribute("data-lines", "2")

    # the members of two runs' sweeps side by side: the second ran lr1e-1 alone, at lr 0.2
    page.goto(f"{sweep_served}/compare?run={first[:8]}&run={second[:8]}&group=train")
    expect(heads).to_have_count(5)
    assert cells(page, f"#compare-params tr[data-param='{LR}']")[3:] == ["0.1", "0.2"]
    expect(page.locator("#parallel-chart")).to_have_attribute("data-lines", "5")
    page.locator("#compare-what a", has_text="each run's executions").click()  # back to the runs' view
    expect(page).to_have_url(re.compile(rf"/compare\?run={first[:8]}&run={second[:8]}$"))
    expect(heads).to_have_count(5)  # each run's executions that reported metrics: the same members here

    page.goto(f"{sweep_served}/compare?run={first[:8]}&group=evaluate")
    expect(page.locator("#error-message")).to_have_text(f"run {first[:8]} ran no foreach stage 'evaluate'")
    expect(page.locator(".hint")).to_have_text("its foreach stages: train@")
    page.goto(f"{sweep_served}/compare?run={first[:8]}&group=train&member=lr5e-1")
    expect(page.locator("#error-message")).to_have_text("no member 'lr5e-1' of train@ in the compared runs")
    expect(page.locator(".hint")).to_have_text(f"its members: {', '.join(MEMBERS)}")


def test_a_sweep_whose_members_reported_nothing_compares_without_charts(page: Page, team_served: str) -> None:
    """The team project's sweep@1..12 read no params and wrote no metrics: the page says so."""
    sweep = page.request.get(team_served + "/api/runs").json()["runs"][0]
    page.goto(f"{team_served}/runs/{sweep['id']}")
    page.locator("#foreach-sweep").get_by_role("button", name="Compare members").click()
    heads = page.locator("#compare-table thead th[data-exec]")
    expect(heads).to_have_count(12)
    assert [heads.nth(i).get_attribute("data-member") for i in range(12)] == [str(i) for i in range(1, 13)]
    expect(page.locator("#compare-metrics .empty")).to_have_text("These members reported no metrics.")
    expect(page.locator("#no-param-differs")).to_be_visible()
    expect(page.locator("#metric-charts, #parallel-chart, #scatter-chart")).to_have_count(0)
