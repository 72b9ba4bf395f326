"""The server-rendered pages. Each builds its values with himo.ui.views (as the API does) and
renders a Jinja2 template with autoescaping on: store contents are never trusted as HTML."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from himo.errors import UsageError
from himo.meta.records import STATUSES, TRIGGERS
from himo.ui import views
from himo.ui.app import Dashboard
from himo.ui.compare import compare as compare_view

router = APIRouter(include_in_schema=False)


def _d(request: Request) -> Dashboard:
    return request.app.state.dashboard


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
def runs(request: Request, stage: str = "", status: str = "", trigger: str = "", since: str = "",
         until: str = "", repo: str = "", branch: str = "", page: Annotated[int, Query(ge=1, le=100_000)] = 1,
         metric: Annotated[list[str] | None, Query()] = None,
         param: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    d = _d(request)
    found = views.runs(d, views.run_filter(stage, status, trigger, since, until, repo, branch), page,
                       metrics=metric, params=param)
    filters = {k: v for k, v in dict(stage=stage, status=status, trigger=trigger, since=since, until=until,
                                      repo=repo, branch=branch).items() if v}
    chosen = [("metric", m) for m in metric or []] + [("param", p) for p in param or []]
    link = lambda n: "/runs?" + urlencode([*filters.items(), *chosen, ("page", n)])  # noqa: E731
    return d.render("runs.html", request, found=found, grid=views.grid(d, members=False),
                    stages=views.stages(d), live={"url": "/api/live", "key": views.live(d)["key"]},
                    choices=views.filter_choices(d), filters=filters, statuses=STATUSES, triggers=TRIGGERS,
                    chosen=chosen, prev_link=link(page - 1) if page > 1 else None,
                    next_link=link(page + 1) if found["has_next"] else None)


@router.get("/grid/members")
def grid_members(request: Request, group: str, today: str = "") -> HTMLResponse:
    """The member rows of a foreach group of the runs page's grid (for the days up to `today`, the
    page's), which the page loads when the group is opened."""
    d = _d(request)
    if len(group) > 500:
        raise UsageError("group: longer than 500 characters", "open a group on /runs")
    day = views.parse_time(today, "today")
    rows = views.grid_members(d, group, today=day.date() if day else None)
    return d.render("grid_members.html", request, rows=rows, group=group)


@router.get("/runs/{run_id}")
def run(request: Request, run_id: str) -> Response:
    d = _d(request)
    full = views.resolve_run(d, run_id)
    if full != run_id:  # an id as the CLI prints it (8 characters): the run's own address
        return RedirectResponse(f"/runs/{full}", status_code=303)
    shown = views.run(d, run_id)
    live = None
    if shown["status"] == "running":  # the page follows it until it ends
        live = {"url": f"/api/live?run={shown['id']}", "key": views.live(d, shown["id"])["key"]}
    return d.render("run.html", request, run=shown, live=live, plots=views.plots(d, [run_id]))


@router.get("/executions/{exec_id}")
def execution(request: Request, exec_id: str) -> RedirectResponse:
    run_id = views.execution_run(_d(request), exec_id)
    return RedirectResponse(f"/runs/{run_id}#exec-{views.check_id(exec_id, 'execution')}", status_code=303)


@router.get("/pipeline")
def pipeline(request: Request) -> HTMLResponse:
    d = _d(request)
    return d.render("pipeline.html", request, pipeline=views.pipeline(d))


@router.get("/artifacts")
def artifacts(request: Request, q: str = "", kind: str = "") -> HTMLResponse:
    d = _d(request)
    return d.render("artifacts.html", request, found=views.artifacts(d, q, kind))


@router.get("/artifacts/{digest}")
def artifact(request: Request, digest: str, direction: str = "both", depth: str = "5") -> HTMLResponse:
    """`direction`, `depth` (and `latest=1`): the lineage graph's, kept in the URL by the page."""
    d = _d(request)
    try:
        views.lineage_args(direction, depth)
        problem = None
    except UsageError as error:  # said above the graph (which waits for a valid choice), not as a page
        problem = f"{error.message}. {error.hint}"
    return d.render("artifact.html", request, artifact=views.artifact(d, digest), lineage_problem=problem)


@router.get("/releases")
def releases(request: Request, env: str = "", at: str = "") -> HTMLResponse:
    d = _d(request)
    return d.render("releases.html", request, releases=views.releases(d, env or None, at or None), env=env,
                    at=at)


@router.get("/metrics")
def metrics(request: Request, exec: Annotated[list[str] | None, Query()] = None,
            key: str = "") -> HTMLResponse:
    d = _d(request)
    recent = views.metrics(d)
    found = views.metrics(d, exec) if exec else recent
    key = key or (found["keys"][0] if found["keys"] else "")
    history = views.metric_history(d, key) if key else []
    return d.render("metrics.html", request, recent=recent, metrics=found, key=key, history=history,
                    chosen=exec or [])


@router.get("/compare")
def compare(request: Request, run: Annotated[list[str] | None, Query()] = None, baseline: str = "",
            metric: Annotated[list[str] | None, Query()] = None, group: str = "",
            member: Annotated[list[str] | None, Query()] = None,
            exec: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    """Ticked runs; the members of a foreach stage (`group`, `member`) of a run; or chosen
    executions (`exec`): see himo.ui.compare."""
    d = _d(request)
    found = compare_view(d, run or [], baseline or None, metric, group or None, exec, member)
    return d.render("compare.html", request, compare=found, plots=views.plots(d, found["runs"]))
