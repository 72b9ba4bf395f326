"""The dashboard's JSON API and pages through FastAPI's TestClient (httpx), over the store a real
project filled; the security rules: escaping, `..` refused, filters as bound parameters, tokens."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from himo.api.recording import open_store, recording
from himo.meta import browse
from himo.meta.reads import MetaReader
from himo.meta.records import ArtifactRef
from himo.meta.results import RunFilter
from himo.ui import views
from himo.ui.app import create_app
from himo.ui.server import check_token, is_loopback, open_source
from himo.workspace.repo import Repo
from tests.conftest import Himo, write
from tests.ui.conftest import LOOPBACK, free_port

EVIL = "<script>alert('x')</script>"
EVIL_SHOWN = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def repros(client: TestClient, **query: Any) -> list[dict[str, Any]]:
    response = client.get("/api/runs", params=query)
    assert response.status_code == 200, response.text
    return response.json()["runs"]


# -- what the API answers ---------------------------------------------------------------------


def test_runs_newest_first_with_executions_and_durations(client: TestClient) -> None:
    runs = repros(client)
    assert [r["command"] for r in runs] == ["repro", "repro", "repro", "add"]
    assert [e["stage"] for e in runs[0]["executions"]] == ["train", "evaluate"]
    assert [(e["stage"], e["status"]) for e in runs[1]["executions"]] == [("train", "failed")]  # lr 5
    assert [e["stage"] for e in runs[2]["executions"]] == ["prepare", "train", "evaluate"]
    assert runs[0]["started_at"] >= runs[1]["started_at"] >= runs[2]["started_at"] >= runs[3]["started_at"]
    assert [r["status"] for r in runs] == ["succeeded", "failed", "succeeded", "succeeded"]
    assert all(r["seconds"] >= 0 for r in runs)


@pytest.mark.parametrize(("query", "commands"), [
    ({"stage": "prepare"}, ["repro"]),
    ({"stage": "add"}, ["add"]),
    ({"status": "succeeded"}, ["repro", "repro", "add"]),
    ({"status": "failed"}, ["repro"]),
    ({"status": "cached"}, []),
    ({"trigger": "manual"}, ["repro", "repro", "repro", "add"]),
    ({"trigger": "ci"}, []),
    ({"since": "2999-01-01"}, []),
    ({"until": "2000-01-01"}, []),
    ({"stage": "train", "since": "2000-01-01", "until": "2999-12-31"}, ["repro", "repro", "repro"]),
])
def test_run_filters(client: TestClient, query: dict[str, str], commands: list[str]) -> None:
    assert [r["command"] for r in repros(client, **query)] == commands


def test_pages_of_runs(client: TestClient) -> None:
    first = client.get("/api/runs", params={"per_page": 2}).json()
    second = client.get("/api/runs", params={"per_page": 2, "page": 2}).json()
    assert first["has_next"] and not second["has_next"]
    assert [r["command"] for r in first["runs"] + second["runs"]] == ["repro", "repro", "repro", "add"]


@pytest.mark.parametrize(("query", "message"), [
    ({"status": "done"}, "status 'done' is not one of running, succeeded, failed, cached, aborted"),
    ({"trigger": "cron"}, "trigger 'cron' is not one of manual, schedule, ci"),
    ({"since": "yesterday"}, "since 'yesterday' is not a date"),
    ({"page": "0"}, "page: Input should be greater than or equal to 1"),
])
def test_bad_filters_are_400_with_the_one_error_body(client: TestClient, query: dict[str, str],
                                                       message: str) -> None:
    response = client.get("/api/runs", params=query)
    assert response.status_code == 400
    assert response.json()["error"] == message and "hint" in response.json()


def test_run_shows_params_diff_metrics_io_log_and_git(client: TestClient, project: Path) -> None:
    run = client.get(f"/api/runs/{repros(client)[0]['id']}").json()
    train, evaluate = run["executions"]
    assert train["params"] == {"train.lr": 0.3}
    assert [(c["key"], c["before"], c["after"]) for c in train["changes"]] == [("train.lr", 0.1, 0.3)]
    assert train["outputs"][0]["path"] == "models/model.pkl" and train["outputs"][0]["kind"] == "model"
    assert {i["path"] for i in train["inputs"]} == {"train.py", "data/prepared.csv"}
    assert "trained with lr 0.3" in train["log_tail"]
    head = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=project, capture_output=True, text=True)
    assert train["git_commit"] == head.stdout.strip()
    assert evaluate["metrics"] == {"metrics.json": {"accuracy": 0.8, "loss": 0.7}}


def test_params_are_compared_with_the_previous_successful_execution(client: TestClient) -> None:
    """lr 0.3 after a failed lr 5: the change shown is 0.1 -> 0.3, as himo.lock (why it ran) says."""
    newest, failed, first = repros(client, stage="train")
    train = client.get(f"/api/runs/{newest['id']}").json()["executions"][0]
    first_train = next(e["id"] for e in first["executions"] if e["stage"] == "train")
    assert train["previous_id"] == first_train != failed["executions"][0]["id"]
    assert train["reasons"] and any("lr" in r for r in train["reasons"])
    page = client.get(f"/runs/{newest['id']}").text
    assert f'previous successful run of train, <a href="/executions/{first_train}">' in page
    attempt = client.get(f"/api/runs/{failed['id']}").json()["executions"][0]
    assert attempt["status"] == "failed" and attempt["previous_id"] == first_train
    assert [(c["key"], c["before"], c["after"]) for c in attempt["changes"]] == [("train.lr", 0.1, 5)]


@pytest.fixture
def store_only(app, tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """The project's store opened by its URL alone, from a folder outside any repository (as
    `himo ui --meta-url URL` serves a team store): no cache, no log files."""
    store, repo = open_source(app.state.dashboard.store.url.render_as_string(hide_password=False), tmp_path)
    assert repo is None
    with TestClient(create_app(store, None), base_url=LOOPBACK) as client:
        yield client
    store.close()


def test_a_store_without_its_repository_shows_metrics_and_log_tails(store_only: TestClient) -> None:
    run = store_only.get(f"/api/runs/{repros(store_only)[0]['id']}").json()
    train, evaluate = run["executions"]
    assert "trained with lr 0.3" in train["log_tail"]
    assert evaluate["metrics"] == {"metrics.json": {"accuracy": 0.8, "loss": 0.7}}
    compared = store_only.get("/api/metrics").json()
    assert compared["repo"] is False and compared["keys"] == ["metrics.json:accuracy", "metrics.json:loss"]
    assert [c["values"]["metrics.json:accuracy"] for c in compared["columns"]] == [0.6, 0.8]
    history = store_only.get("/api/metrics/history", params={"key": "metrics.json:loss"}).json()
    assert [p["value"] for p in history] == [0.9, 0.7]
    page = store_only.get("/metrics").text
    assert 'data-key="metrics.json:accuracy"' in page and "before the store kept metric values" not in page
    assert "trained with lr 0.3" in store_only.get(f"/runs/{run['id']}").text
    assert store_only.get("/api/pipeline").json()["available"] is False


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    missing = client.get("/api/runs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no run 00000000-0000-0000-0000-000000000000 in the store"
    bad = client.get("/api/runs/not-a-run;drop")
    assert bad.status_code == 400 and bad.json()["error"] == "run 'not-a-run;drop' is not an id"
    assert client.get("/api/artifacts/zzzz").status_code == 400
    assert client.get("/api/artifacts/ffffffffffff").status_code == 404


def test_artifact_by_prefix_with_versions_producer_and_lineage(client: TestClient) -> None:
    train = client.get(f"/api/runs/{repros(client)[0]['id']}").json()["executions"][0]
    digest = train["outputs"][0]["digest"]
    art = client.get(f"/api/artifacts/{digest[:10]}").json()
    assert art["digest"] == digest and art["kind"] == "model"
    assert len(art["versions"]) == 2 and art["versions"][0]["digest"] == digest
    assert [e["stage"] for e in art["produced_by"]] == ["train"]
    assert [e["stage"] for e in art["used_by"]] == ["evaluate"]
    up = client.get(f"/api/lineage/{digest}", params={"direction": "upstream"}).json()
    labels = {n["label"].split("\n")[0] for n in up["nodes"]}
    assert labels == {"models/model.pkl", "train", "train.py", "data/prepared.csv", "prepare",
                      "prepare.py", "data/raw.csv", "add"}
    down = client.get(f"/api/lineage/{digest}", params={"direction": "downstream", "depth": 1}).json()
    assert {n["label"].split("\n")[0] for n in down["nodes"]} == {
        "models/model.pkl", "evaluate", "metrics.json", "predictions.csv"}
    assert {"source": digest, "target": next(n["id"] for n in down["nodes"] if n["label"] == "evaluate")} \
        in down["edges"]


def test_grid_pipeline_and_metrics(client: TestClient) -> None:
    grid = client.get("/api/grid").json()
    today = {row["stage"]: row["cells"][-1] for row in grid["stages"]}
    # lr 0.1 succeeded, lr 5 failed, lr 0.3 succeeded: the day split in that order, green at the end
    assert today["train"]["counts"] == {"succeeded": 2, "failed": 1}
    assert today["train"]["state"] == "succeeded"
    assert today["train"]["segments"] == [{"status": "failed", "n": 1}, {"status": "succeeded", "n": 2}]
    assert today["train"]["summary"] == "1 failed, then 2 succeeded"
    assert today["prepare"]["counts"] == {"succeeded": 1} and len(grid["days"]) == 30
    pipeline = client.get("/api/pipeline").json()
    assert [n["name"] for n in pipeline["nodes"]] == ["prepare", "train", "evaluate"]
    assert [n["name"] for n in pipeline["nodes"] if n["stale"]] == ["train", "evaluate"]  # lr 0.5, not run
    assert pipeline["nodes"][1]["latest"]["status"] == "succeeded"
    assert pipeline["edges"] == [{"from": "prepare", "to": "train"}, {"from": "train", "to": "evaluate"}]
    history = client.get("/api/metrics/history", params={"key": "metrics.json:accuracy"}).json()
    assert [p["value"] for p in history] == [0.6, 0.8]
    compared = client.get("/api/metrics", params={"exec": [p["exec_id"] for p in history]}).json()
    assert compared["keys"] == ["metrics.json:accuracy", "metrics.json:loss"]
    assert [c["id"] for c in compared["columns"]] == [p["exec_id"] for p in history]  # oldest first
    assert compared["params"] == ["train.lr"]  # the run's params that differ (evaluate has none)
    assert [c["params"]["train.lr"] for c in compared["columns"]] == [0.1, 0.3]


def models(client: TestClient) -> tuple[str, str]:
    """Digests of the two trained models: (lr 0.1, lr 0.3)."""
    newest, older = repros(client, stage="train", status="succeeded")
    return tuple(client.get(f"/api/runs/{r['id']}").json()["executions"][0 if r is newest else 1]
                 ["outputs"][0]["digest"] for r in (older, newest))  # type: ignore[return-value]


def test_releases_timeline_per_environment(client: TestClient) -> None:
    first, second = models(client)
    answer = client.get("/api/releases").json()
    assert answer["environments"] == ["production", "staging"] and answer["at"] is None
    production = answer["envs"]["production"]
    assert [(r["version"], r["digest"], r["live"]) for r in production] == [
        ("v2", second, True), ("v1", first, False)]
    v2, v1 = production
    assert v1["retired_at"] == v2["released_at"] and v2["retired_at"] is None
    assert (v1["note"], v2["note"]) == ("first model", "lr 0.3")
    assert (v1["path"], v1["kind"]) == ("models/model.pkl", "model")
    assert len(v1["commit"]) == 40 and v1["commit"] != v2["commit"]  # committed before each release
    train_runs = [r["id"] for r in repros(client, stage="train", status="succeeded")]
    assert [v2["run_id"], v1["run_id"]] == train_runs  # the run whose train produced each model
    assert 0 <= v1["left"] < v2["left"] <= 100 and v1["width"] > 0
    assert [(r["version"], r["digest"]) for r in answer["envs"]["staging"]] == [("v1", second)]
    only = client.get("/api/releases", params={"env": "staging"}).json()
    assert list(only["envs"]) == ["staging"] and [r["env"] for r in only["releases"]] == ["staging"]


def test_releases_live_at_a_time(client: TestClient) -> None:
    first, _ = models(client)
    v2, v1 = client.get("/api/releases", params={"env": "production"}).json()["envs"]["production"]
    inside = datetime.fromisoformat(v1["released_at"]) + timedelta(seconds=1)  # times are shown to the second
    assert inside < datetime.fromisoformat(v2["released_at"])
    then = client.get("/api/releases", params={"at": inside.isoformat()}).json()
    assert [(r["env"], r["version"], r["digest"]) for r in then["releases"]] == [("production", "v1", first)]
    assert client.get("/api/releases", params={"at": "2000-01-01"}).json()["envs"] == {}
    bad = client.get("/api/releases", params={"at": "yesterday-ish"})
    assert bad.status_code == 400 and bad.json()["error"] == "at 'yesterday-ish' is not a date"


def test_releases_share_one_time_scale_that_ends_at_at(client: TestClient) -> None:
    answer = client.get("/api/releases").json()
    (v2, v1), (staging,) = answer["envs"]["production"], answer["envs"]["staging"]
    assert answer["scale"]["start"] == v1["released_at"] and v1["left"] == 0
    assert v2["left"] <= staging["left"] < 100  # staging's bar on production's scale, not its own
    assert answer["models"] == {"production": {v1["name"]: [v2, v1]}, "staging": {staging["name"]: [staging]}}
    inside = datetime.fromisoformat(v1["released_at"]) + timedelta(seconds=1)
    then = client.get("/api/releases", params={"at": inside.isoformat()}).json()
    assert then["scale"] == {"start": v1["released_at"], "end": then["at"]}
    assert then["at"] == views.iso(inside)
    assert [(r["left"], r["width"]) for r in then["releases"]] == [(0, 100)]  # live until `at`, the end
    page = client.get("/releases", params={"at": inside.isoformat()}).text
    assert f"<span>{then['at']}</span>" in page and ">then<" not in page


def test_artifact_releases_box_and_lineage_marks(client: TestClient) -> None:
    first, second = models(client)
    boxes = {d: client.get(f"/api/artifacts/{d}").json()["releases"] for d in (first, second)}
    assert [(r["env"], r["version"], r["retired_at"] is None) for r in boxes[first]] == [
        ("production", "v1", False)]
    assert [(r["env"], r["version"], r["retired_at"] is None) for r in boxes[second]] == [
        ("production", "v2", True), ("staging", "v1", True)]  # oldest first
    graph = client.get(f"/api/lineage/{second}", params={"direction": "downstream", "depth": 1}).json()
    root = next(n for n in graph["nodes"] if n["id"] == second)
    assert root["released"] and root["live"]
    assert root["label"].split("\n")[2:] == ["production v2 · live", "staging v1 · live"]
    # the evaluate that read the lr 0.3 model ran while production's live model was still v1,
    # and before anything was live in staging
    assert [(m["env"], m["live_version"], m["live_digest"], m["was_live"]) for m in graph["models_at_run"]] \
        == [("production", "v1", first, False), ("staging", None, None, False)]


def test_releases_and_artifact_pages_show_the_timeline(client: TestClient) -> None:
    first, second = models(client)
    page = client.get("/releases").text
    for text in ('data-env="production"', 'data-env="staging"', 'data-version="v1"', "first model",
                 f'href="/artifacts/{second}#lineage"', "live: v2 (models/model.pkl"):
        assert text in page
    assert page.count('class="span live"') == 2 and page.count('class="span"') == 1
    artifact = client.get(f"/artifacts/{first}").text
    assert 'id="artifact-releases"' in artifact and "/releases?env=production#release-" in artifact
    evaluate = client.get(f"/api/runs/{repros(client)[0]['id']}").json()["executions"][1]
    predictions = next(o["digest"] for o in evaluate["outputs"] if o["path"] == "predictions.csv")
    assert "Never released" in client.get(f"/artifacts/{predictions}").text


def test_openapi_docs_are_served_without_network(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert {"/api/runs", "/api/runs/{run_id}", "/api/lineage/{digest}", "/api/releases"} <= set(spec["paths"])
    docs = client.get("/api/docs").text
    assert "/static/swagger-ui-bundle.js" in docs and "https://" not in docs
    assert client.get("/static/swagger-ui-bundle.js").status_code == 200
    assert '<a href="/runs" id="back-to-dashboard">' in docs and "/static/favicon.svg" in docs
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_vendored_scripts_are_packaged_with_their_licenses() -> None:
    import tomllib

    static = Path(views.__file__).parent / "static"
    for script, license in [("cytoscape-dagre.min.js", "cytoscape-dagre.LICENSE"),
                            ("cytoscape-dagre.min.js", "dagre.LICENSE"), ("favicon.svg", None),
                            ("vega.min.js", "vega.LICENSE"), ("vega-lite.min.js", "vega-lite.LICENSE"),
                            ("vega-embed.min.js", "vega-embed.LICENSE"),
                            ("vega-embed.min.js", "vega.THIRD-PARTY-LICENSES")]:
        assert (static / script).stat().st_size > 0 and (license is None or (static / license).is_file())
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "ui/static/*" in pyproject["tool"]["setuptools"]["package-data"]["himo"]


def test_artifact_bytes_include_the_local_cache(client: TestClient, store_only: TestClient) -> None:
    _, second = models(client)
    places = client.get(f"/api/artifacts/{second}").json()["locations"]
    assert [(p["kind"], p["detail"]) for p in places] == [("cache", "complete")]
    assert places[0]["url"].endswith(".himo/cache") or "cache" in places[0]["url"]
    assert 'data-kind="cache"' in client.get(f"/artifacts/{second}").text
    assert store_only.get(f"/api/artifacts/{second}").json()["locations"] == []  # no repository here


def test_read_only(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, "/api/runs").status_code == 405


# -- security -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/api/runs/..%2F..%2Fetc%2Fpasswd", "/api/artifacts/%2e%2e%2F%2e%2e%2Fetc", "/runs/..%5C..%5Cwin.ini",
    "/static/..%2F..%2F..%2Fetc%2Fpasswd", "/api/lineage/%252e%252e%252fx", "/artifacts/%2E%2E",
])
def test_dot_dot_in_a_path_parameter_is_refused(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert "refused: '..' segment" in response.json()["error"]


def test_literal_dot_dot_reaches_the_server_and_is_refused(served: str) -> None:
    """http.client sends the path as written (httpx would normalize it away)."""
    host, port = served.removeprefix("http://").split(":")
    for path in ("/static/../../../../etc/passwd", "/api/artifacts/../../etc/passwd"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 400, path
        assert b"root:" not in response.read()
        conn.close()


def test_filters_are_bound_parameters_never_sql_text(client: TestClient) -> None:
    evil = "x' OR '1'='1"
    response = client.get("/api/runs", params={"stage": evil})  # as text, the OR would match every stage
    assert response.status_code == 400
    assert response.json() == {"error": f"stage: no execution of stage {evil!r} is recorded",
                               "hint": "recorded stages: add, evaluate, prepare, train"}
    sql = str(browse.run_query(RunFilter(stage=evil, trigger="manual")).compile())
    assert evil not in sql and "manual" not in sql and ":stage_1" in sql
    assert len(repros(client)) == 4  # the store is intact


@pytest.mark.parametrize("stage", ["train", "prepare", "add", "nosuch"])
def test_stage_filter_plans_agree(app, stage: str) -> None:  # type: ignore[no-untyped-def]
    """Both plans of the stage filter (collect a rare stage's runs; probe runs newest first)."""
    meta = app.state.dashboard.meta
    pages = [meta.runs_page(RunFilter(stage=stage), rare_stage=rare) for rare in (1, 5000)]
    found = [[r.id for r in page.runs] for page in pages]
    expected = {"train": 3, "prepare": 1, "add": 1, "nosuch": 0}[stage]
    assert found[0] == found[1] and len(found[0]) == expected


def test_grid_stages_and_stage_filter_on_both_backends(make_repo: Callable[..., Path], meta_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The queries with a dialect of their own (the grid's day, the stage list's loose index scan,
    both stage-filter plans) on SQLite and PostgreSQL, over runs recorded for real."""
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    repo = Repo(make_repo())
    for ends in (("succeeded", "failed"), ("cached",)):
        with recording(repo, "repro", []) as recorder:
            for stage, status in zip(("a", "b"), ends, strict=False):
                recorder.end_execution(recorder.start_execution(stage, ["true"], {}, []), status, [], [], 0)
    store = open_store(repo)
    try:
        with TestClient(create_app(store, repo), base_url=LOOPBACK) as client:
            today = {row["stage"]: row["cells"][-1] for row in client.get("/api/grid").json()["stages"]}
            assert client.get("/api/stages").json() == ["a", "b"]
            b_runs = [r["id"] for r in repros(client, stage="b")]
            assert len(repros(client, stage="a")) == 2 and len(b_runs) == 1
        for rare in (1, 5000):
            found = MetaReader(store).runs_page(RunFilter(stage="b"), rare_stage=rare).runs
            assert [r.id for r in found] == b_runs
    finally:
        store.close()
    assert today["a"]["counts"] == {"succeeded": 1, "cached": 1}
    assert today["a"]["state"] == "cached"  # the last
    assert today["b"] == {"date": today["b"]["date"], "counts": {"failed": 1}, "state": "failed",
                          "summary": "1 failed", "segments": [{"status": "failed", "n": 1}], "scheduled": []}


@pytest.fixture
def evil_store(make_repo: Callable[..., Path]) -> Repo:
    """A store with `<script>` in a stage name, a param value and a log line (recorded for real)."""
    repo = Repo(make_repo("evil"))
    write(repo.himo_dir / "logs" / "evil.log", f"step 1\n{EVIL}\n")
    with recording(repo, "repro", []) as recorder:
        exec_id = recorder.start_execution(EVIL, ["echo"], {"params.yaml": {"note": EVIL}}, [EVIL])
        out = ArtifactRef(path="out.txt", digest="ab" * 32, size=1, kind="other")
        recorder.end_execution(exec_id, "failed", [], [out], 1, ".himo/logs/evil.log")
    return repo


def test_script_in_stage_param_and_log_is_escaped(evil_store: Repo) -> None:
    store = open_store(evil_store)
    with TestClient(create_app(store, evil_store), base_url=LOOPBACK) as client:
        listing = client.get("/runs").text
        run_id = repros(client)[0]["id"]
        page = client.get(f"/runs/{run_id}").text
        grid = client.get("/api/grid").json()
    store.close()
    for html in (listing, page):
        assert "<script>alert" not in html
        assert EVIL_SHOWN in html
    assert page.count(EVIL_SHOWN) >= 4  # stage name, reason, param value, log line
    assert grid["stages"][0]["stage"] == EVIL  # JSON carries the value as it is


def test_script_is_not_run_by_the_browser(evil_store: Repo, page) -> None:  # type: ignore[no-untyped-def]
    """The same store in Chromium: no dialog opens, the text is shown as text."""
    import threading

    import uvicorn

    store = open_store(evil_store)
    server = uvicorn.Server(uvicorn.Config(create_app(store, evil_store), host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(f"http://127.0.0.1:{server.config.port}/runs")
        page.locator("a.run-link").first.click()
        assert EVIL in page.locator("section.execution h2").inner_text()
        assert EVIL in page.locator("pre.log").inner_text()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
    assert dialogs == []


# -- tokens ---------------------------------------------------------------------------------

TOKEN = "s3cret-t0ken"


@pytest.fixture
def guarded(app) -> TestClient:  # type: ignore[no-untyped-def]
    state = app.state.dashboard
    return TestClient(create_app(state.store, state.repo, token=TOKEN), base_url=LOOPBACK)


@pytest.mark.parametrize("path", ["/api/runs", "/runs", "/api/docs", "/static/himo.css", "/"])
def test_without_the_token_everything_is_401(guarded: TestClient, path: str) -> None:
    assert guarded.get(path).status_code == 401
    wrong = guarded.get(path, headers={"Authorization": "Bearer wrong-token"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"


def test_the_token_as_bearer_or_once_in_the_url(guarded: TestClient) -> None:
    assert guarded.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.get(f"/runs?token={TOKEN}").status_code == 200
    assert guarded.get("/runs").status_code == 200  # the cookie set by the URL token


def test_token_rule_by_host() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")
    assert check_token("127.0.0.1", None) is None
    assert check_token("0.0.0.0", TOKEN) == TOKEN


def test_himo_ui_refuses_a_non_loopback_host_without_a_token(project: Path) -> None:
    proc = Himo(project)("ui", "--host", "0.0.0.0", ok=False, env=_env_without_token())
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "Error: --host 0.0.0.0: serving beyond this machine needs a token"
    assert "HIMO_UI_TOKEN" in proc.stderr


@pytest.mark.slow
def test_himo_ui_serves_the_store_of_the_repository(project: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "himo", "ui", "--port", str(port)], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = _get_when_up(f"http://127.0.0.1:{port}/api/runs", proc)
        assert [r["command"] for r in json.loads(body)["runs"]] == ["repro", "repro", "repro", "add"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"himo dashboard on http://127.0.0.1:{port}/" in out


@pytest.mark.slow
def test_himo_ui_on_all_interfaces_asks_every_request_for_its_token(project: Path) -> None:
    """Bound to 0.0.0.0 (not loopback: the token is required), reached here through 127.0.0.1."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "himo", "ui", "--host", "0.0.0.0", "--port", str(port),
                             "--token", TOKEN], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env_without_token())
    url = f"http://127.0.0.1:{port}/api/runs"
    try:
        body = _get_when_up(url, proc, {"Authorization": f"Bearer {TOKEN}"})
        assert len(json.loads(body)["runs"]) == 4
        for headers in ({}, {"Authorization": "Bearer wrong-token"}):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)
            assert refused.value.code == 401
            assert json.loads(refused.value.read())["error"] == "a token is required"
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def _get_when_up(url: str, proc: subprocess.Popen[str], headers: dict[str, str] | None = None) -> bytes:
    deadline = time.monotonic() + 30
    request = urllib.request.Request(url, headers=headers or {})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.read()
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"himo ui did not serve {url}: {proc.communicate()[1]}")
            time.sleep(0.2)


def _env_without_token() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "HIMO_UI_TOKEN"}


def test_the_same_answers_from_a_postgresql_store(pg_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.ui.project import make_project

    monkeypatch.setenv("HIMO_META_URL", pg_url)
    store, repo = open_source(None, make_project(tmp_path / "pg"))
    with TestClient(create_app(store, repo), base_url=LOOPBACK) as client:
        runs = repros(client)
        assert [r["command"] for r in runs] == ["repro", "repro", "repro", "add"]
        assert [r["command"] for r in repros(client, stage="prepare", trigger="manual")] == ["repro"]
        grid = {row["stage"]: row["cells"][-1]["counts"] for row in client.get("/api/grid").json()["stages"]}
        assert grid == {"add": {"succeeded": 1}, "prepare": {"succeeded": 1},
                        "train": {"succeeded": 2, "failed": 1}, "evaluate": {"succeeded": 2}}
        train = client.get(f"/api/runs/{runs[0]['id']}").json()["executions"][0]
        assert [(c["key"], c["before"], c["after"]) for c in train["changes"]] == [("train.lr", 0.1, 0.3)]
        up = client.get(f"/api/lineage/{train['outputs'][0]['digest']}", params={"direction": "upstream"})
        assert len(up.json()["nodes"]) == 8
        assert client.get("/runs").text.count("himo repro") == 3  # the page renders from PostgreSQL too
    store.close()
