"""The Schedules page: every schedule of the repository's himo.yaml, its next run, paused or
not, and its last 30 logical dates as a row of cells (failures link to their runs)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from himo.ui.app import Dashboard

router = APIRouter(include_in_schema=False)
DAYS = 30  # logical dates shown per schedule


@router.get("/schedules")
def schedules(request: Request) -> HTMLResponse:
    d: Dashboard = request.app.state.dashboard
    return d.render("schedules.html", request, schedules=schedule_rows(d), days=DAYS)


def schedule_rows(d: Dashboard) -> list[dict[str, object]] | None:
    """The page's rows, oldest logical date first in each grid; None outside a repository."""
    if d.repo is None:
        return None
    from himo.api.schedules import schedule_list

    rows = []
    for info in schedule_list(d.repo, history=DAYS, store=d.store):
        row = info.to_dict()
        row["history"] = list(reversed(row["history"]))  # type: ignore[call-overload]
        rows.append(row)
    return rows
