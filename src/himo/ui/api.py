"""The JSON API under /api (OpenAPI at /api/docs). Read-only: GET only. Each route checks its
input in himo.ui.views and returns what the matching page shows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from himo.ui import views
from himo.ui.app import Dashboard
from himo.ui.compare import compare as compare_view

router = APIRouter(tags=["himo"])


def _d(request: Request) -> Dashboard:
    return request.app.state.dashboard


@router.get("/runs", summary="Runs, newest first, with their executions")
def runs(request: Request, stage: str | None = None, status: str | None = None,
         trigger: str | None = None, since: str | None = None, until: str | None = None,
         repo: str | None = None, branch: str | None = None,
         page: Annotated[int, Query(ge=1, le=100_000)] = 1,
         per_page: Annotated[int, Query(ge=1, le=500)] = 50,
         metric: Annotated[list[str] | None, Query()] = None,
         param: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """Filters: `stage` (runs with an execution of it), `status`, `trigger` (manual|schedule|ci),
    `repo`, `branch`, `since` / `until` (YYYY-MM-DD or ISO time, UTC; a date as `until` includes the
    day). `metric` (FILE:KEY) and `param` (repeated): the value `columns`, as on the Runs page."""
    return views.runs(_d(request), views.run_filter(stage, status, trigger, since, until, repo, branch), page,
                      per_page, metrics=metric, params=param)


@router.get("/live", summary="A key that changes whenever runs in progress do (pages poll it)")
def live(request: Request, run: str | None = None) -> dict[str, Any]:
    """Without `run`: the newest run and every run in progress (a run or a stage starting or
    ending changes `key`); with `run`: that run alone. `running`: ids of the runs in progress."""
    return views.live(_d(request), run)


@router.get("/runs/{run_id}", summary="One run: executions, params and their changes, inputs, outputs")
def run(request: Request, run_id: str) -> dict[str, Any]:
    return views.run(_d(request), run_id)


@router.get("/runs/{run_id}/plots", summary="The plots of himo.yaml drawn from what the run wrote")
def run_plots(request: Request, run_id: str) -> list[dict[str, Any]]:
    return views.plots(_d(request), [run_id])


@router.get("/plots", summary="The plots of several runs overlaid, one colour per run (Vega-Lite)")
def plots(request: Request, run: Annotated[list[str] | None, Query()] = None) -> list[dict[str, Any]]:
    return views.plots(_d(request), run or [])


@router.get("/executions/{exec_id}", summary="The run an execution belongs to")
def execution(request: Request, exec_id: str) -> dict[str, str]:
    return {"execution": exec_id, "run_id": views.execution_run(_d(request), exec_id)}


@router.get("/grid", summary="Per stage and day, how executions ended (the last `days` days)")
def grid(request: Request, days: Annotated[int, Query(ge=1, le=365)] = 30) -> dict[str, Any]:
    return views.grid(_d(request), days)


@router.get("/stages", summary="Stage names seen in the store")
def stages(request: Request) -> list[str]:
    return views.stages(_d(request))


@router.get("/pipeline", summary="The DAG of himo.yaml, stale stages, each stage's latest execution")
def pipeline(request: Request) -> dict[str, Any]:
    return views.pipeline(_d(request))


@router.get("/artifacts", summary="Models and datasets: the newest version at each path, with metrics")
def artifacts(request: Request, q: str = "", kind: str = "") -> dict[str, Any]:
    """`q`: a part of the path or of a released model name (case-insensitive); `kind`: one kind
    (default: models and datasets)."""
    return views.artifacts(_d(request), q, kind)


@router.get("/artifacts/{digest}", summary="An artifact: paths, versions, producers, readers, locations")
def artifact(request: Request, digest: str) -> dict[str, Any]:
    return views.artifact(_d(request), digest)


@router.get("/lineage/{digest}", summary="The lineage graph of an artifact (cytoscape elements)")
def lineage(request: Request, digest: str, direction: str = "both",
            depth: Annotated[int, Query(ge=1, le=views.MAX_DEPTH)] = 5) -> dict[str, Any]:
    return views.lineage(_d(request), digest, direction, depth)


@router.get("/releases", summary="Releases per environment, newest first: which model was live when")
def releases(request: Request, env: str | None = None, at: str | None = None) -> dict[str, Any]:
    """`env`: one environment; `at` (YYYY-MM-DD or ISO time, UTC): only the release live then in
    each environment. Each release: id, env, version, digest, kind, path, commit, released_at,
    retired_at (null: live), who, note, run_id (the run that produced it), tags."""
    return views.releases(_d(request), env, at)


@router.get("/metrics", summary="Metrics of chosen executions (`exec`, repeated), side by side")
def metrics(request: Request, exec: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    return views.metrics(_d(request), exec)


@router.get("/metrics/history", summary="One metric (FILE:KEY) over time")
def metric_history(request: Request, key: str,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    return views.metric_history(_d(request), key, limit)


@router.get("/compare", summary="Runs, a sweep's members or chosen executions side by side: metrics, "
                                 "deltas against a baseline, params used")
def compare(request: Request, run: Annotated[list[str] | None, Query()] = None, baseline: str | None = None,
            metric: Annotated[list[str] | None, Query()] = None, group: str | None = None,
            member: Annotated[list[str] | None, Query()] = None,
            exec: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """`run` (repeated): run ids or their first 8 characters; `group`: a foreach stage (`train` of
    train@a ...) whose members in those runs are compared, `member` (repeated): only those
    (`a`); or `exec` (repeated): chosen executions; `baseline`: the execution (or run) deltas
    are measured against (default: the first with metrics); `metric` (repeated, FILE:KEY): those charted."""
    return compare_view(_d(request), run or [], baseline, metric, group, exec, member)
