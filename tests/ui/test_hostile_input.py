"""A hostile or mistaken value in any query parameter of the dashboard: one clear message naming the
parameter (or what is unknown, with what is known), HTTP 4xx, the one error body, no traceback, on
the JSON API and on the pages alike; on SQLite and PostgreSQL (whose text cannot hold a NUL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from himo.api.recording import open_store, recording
from himo.ui.app import create_app
from himo.workspace.repo import Repo
from tests.ui.conftest import LOOPBACK

ACCURACY = "metrics.json:accuracy"
KNOWN_METRICS = "known metrics (FILE:KEY): metrics.json:accuracy, metrics.json:loss"
SWEEP = ", ".join(f"sweep@{i}" for i in sorted(str(n) for n in range(1, 13)))  # as sorted text: 1, 10, 11 ...
STAGES = f"recorded stages: add, evaluate, prepare, {SWEEP}, train"
FILE_KEY = "e.g. metrics.json:accuracy"

# Every route with query parameters, and each parameter's (page or API) name.
PARAMETERS = {
    "/runs": ["stage", "status", "trigger", "since", "until", "repo", "branch", "page", "metric", "param"],
    "/api/runs": ["stage", "status", "trigger", "since", "until", "repo", "branch", "page", "per_page"],
    "/api/live": ["run"], "/api/grid": ["days"], "/artifacts": ["q", "kind"], "/api/artifacts": ["q", "kind"],
    "/releases": ["env", "at"], "/api/releases": ["env", "at"], "/metrics": ["exec", "key"],
    "/api/metrics": ["exec"], "/api/metrics/history": ["key", "limit"],
    "/compare": ["run", "baseline", "metric", "group", "member", "exec"],
    "/api/compare": ["run", "baseline", "metric", "group", "member", "exec"],
    "/api/plots": ["run"], "/experiments": ["exp"], "/api/experiments": ["exp"],
}


def refused(client: TestClient, url: str, params: dict[str, Any], status: int, error: str, hint: str) -> None:
    """`url` answers `status` with exactly this error and hint: as JSON, and as the error page."""
    response = client.get(url, params=params)
    assert (response.status_code, response.json()) == (status, {"error": error, "hint": hint}), url
    if not url.startswith("/api"):
        page = client.get(url, params=params, headers={"accept": "text/html"})
        assert page.status_code == status and "Traceback" not in page.text
        assert f'<p class="error" id="error-message">{escape(error)}</p>' in page.text


def test_unknown_names_are_404_or_400_naming_what_there_is(team_client: TestClient) -> None:
    runs = team_client.get("/api/runs").json()["runs"]
    alone, lr3 = runs[1]["id"][:8], runs[3]["id"][:8]
    cases = [
        ("/runs", {"stage": "trian"}, 400, "stage: no execution of stage 'trian' is recorded", STAGES),
        ("/api/runs", {"stage": "<b>"}, 400, "stage: no execution of stage '<b>' is recorded", STAGES),
        ("/runs", {"metric": "accuracy"}, 400, "metric 'accuracy' is not FILE:KEY", FILE_KEY),
        ("/api/live", {"run": "00000000"}, 404, "no run 00000000 in the store", "pick a run on /runs"),
        ("/api/live", {"run": "0" * 8 + "-0000-0000-0000-" + "0" * 12}, 404,
         "no run 00000000-0000-0000-0000-000000000000 in the store", "pick a run on /runs"),
        ("/metrics", {"exec": "0" * 8}, 404,
         "execution 00000000 wrote no metrics file, or is not in the store",
         "pick executions in the list on /metrics (those that wrote metrics)"),
        ("/api/metrics/history", {"key": "metrics.json:f1"}, 400,
         "metric 'metrics.json:f1' is not reported by any execution shown", KNOWN_METRICS),
        ("/api/metrics/history", {"key": ":"}, 400, "metric ':' is not FILE:KEY", FILE_KEY),
        ("/experiments", {"exp": "nope"}, 404, "no experiment 'nope' among the newest 500",
         "run one with `himo exp run`"),
        ("/compare", {"run": [alone, lr3], "metric": "metrics.json:f1"}, 400,
         "metric 'metrics.json:f1' is not reported by the compared runs", KNOWN_METRICS),
        ("/compare", {"run": [alone, lr3], "baseline": runs[0]["id"][:8]}, 400,
         f"baseline {runs[0]['id'][:8]} is not one of the compared runs",
         "pick the baseline among the ticked runs"),
        ("/compare", {"run": runs[0]["id"][:8], "group": "swep"}, 404,
         f"run {runs[0]['id'][:8]} ran no foreach stage 'swep'", "its foreach stages: sweep@"),
        ("/api/compare", {"run": alone, "group": "sweep@"}, 404, f"run {alone} ran no foreach stage 'sweep'",
         "it ran no foreach or matrix stage"),
        ("/compare", {"run": runs[0]["id"][:8], "group": "sweep", "member": "13"}, 404,
         "no member '13' of sweep@ in the compared runs",
         f"its members: {', '.join(map(str, range(1, 13)))}"),
        ("/api/compare", {"exec": "0" * 8}, 404, "no execution 00000000 in the store",
         "pick the executions on a run's page"),
        ("/compare", {"group": "sweep"}, 400,
         "group= compares the members of a foreach stage in the runs given by run=",
         "e.g. /compare?run=ID&group=sweep (exec= compares chosen executions, alone)"),
        ("/api/compare", {"run": alone, "member": "1"}, 400,
         "member= names members of the foreach stage given by group=",
         "e.g. /compare?run=ID&group=train&member=a&member=b"),
        ("/api/compare", {"run": alone, "exec": alone}, 400,
         "exec= and run= both given: compare chosen executions, or runs",
         "e.g. /compare?exec=ID&exec=ID, or /compare?run=ID&group=train"),
        ("/compare", {"run": runs[0]["id"][:8], "group": "sweep", "baseline": alone}, 400,
         f"baseline {alone} is not one of the compared members", "pick one in the Baseline list: " +
         ", ".join(f"{e['id'][:8]} ({e['stage']})" for e in runs[0]["executions"])),
        ("/releases", {"env": "qa"}, 404, "no release in environment 'qa'",
         "environments released to: production, staging"),
        ("/api/lineage/" + team_client.get("/api/artifacts").json()["artifacts"][0]["digest"],
         {"direction": "sideways"}, 400, "direction 'sideways' is not both, upstream or downstream",
         "pick one in the Direction list (the URL's ?direction=)"),
    ]
    for url, params, status, error, hint in cases:
        refused(team_client, url, params, status, error, hint)


@pytest.mark.parametrize("value", ["x" * 600, "-1", "😀"], ids=["overlong", "negative", "emoji"])
def test_every_query_parameter_refuses_a_bad_value_with_one_message(team_client: TestClient,
                                                                   value: str) -> None:
    """Overlong, negative, not ASCII: each parameter of each route answers 200 (a value like any
    other: a search, a column) or 4xx with the one body; never 5xx."""
    run = team_client.get("/api/runs").json()["runs"][1]["id"][:8]
    for url, names in PARAMETERS.items():
        for name in names:
            compared = {"run": [run, run]} if url.endswith("/compare") and name != "run" else {}
            params = {name: value} | compared
            response = team_client.get(url, params=params)
            if response.status_code != 200:
                body = response.json()
                assert 400 <= response.status_code < 500 and set(body) == {"error", "hint"}, (url, name, body)
                assert "\n" not in body["error"] and "Traceback" not in body["error"], (url, name)


@pytest.fixture
def small_app(make_repo: Callable[..., Path], meta_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The dashboard over a store (SQLite, then PostgreSQL) with one run recorded for real."""
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    repo = Repo(make_repo())
    with recording(repo, "repro", []) as recorder:
        recorder.end_execution(recorder.start_execution("train", ["true"], {}, []), "succeeded", [], [], 0)
    store = open_store(repo)
    with TestClient(create_app(store, repo), base_url=LOOPBACK) as client:
        yield client
    store.close()


def test_a_nul_in_any_parameter_is_a_400_before_the_store_sees_it(small_app: TestClient) -> None:
    """PostgreSQL's text cannot hold a NUL: its driver's error was a 500 for ?stage=, ?q=, ?repo= ..."""
    for url, names in PARAMETERS.items():
        for name in names:
            refused(small_app, url, {name: "a\x00b"}, 400,
                    f"query parameter {name!r}: contains a NUL character (%00)", "remove it from the URL")
    assert small_app.get("/runs/%00").json()["error"] == "path: contains a NUL character (%00)"
    assert small_app.get("/runs", params={"stage": "train"}).status_code == 200
