"""The Experiments page (`/experiments`) and its JSON (`/api/experiments`): every experiment in
the store, ticked ones compared side by side (params, metrics, and each number's change from
the first ticked one, and the plots of himo.yaml drawn from each one's outputs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from himo.api.exp_show import columns
from himo.meta.experiments import ExperimentRow
from himo.ui.app import Dashboard, not_found
from himo.ui.views import jsonable

router = APIRouter()
NEWEST = 500  # experiments listed
COMPARED = 8  # ticked by default: the newest ones


def experiments(d: Dashboard, chosen: list[str] | None = None) -> dict[str, Any]:
    """{"rows": newest first, "chosen": names compared, "params"/"metrics": [{key, values, changes,
    differ}], "plots": [Plot.as_json()]}; `chosen` None: the COMPARED newest; a name not listed is
    a 404 naming some that are."""
    from himo.api.recording import _repo_identity

    rows = d.meta.experiments(_repo_identity(d.repo) if d.repo else None, limit=NEWEST)
    names = [r.name for r in rows]
    for name in chosen or []:
        if name not in names:
            listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            raise not_found(f"no experiment {name!r} among the newest {NEWEST}",
                            f"experiments: {listed}" if names else "run one with `himo exp run`")
    picked = chosen if chosen is not None else names[:COMPARED]
    by_name = {r.name: r for r in rows}
    compared = [by_name[n] for n in picked]
    return {"rows": [jsonable(r) | {"chosen": r.name in picked} for r in rows], "chosen": picked,
            "params": _table([columns(r.params) for r in compared]),
            "metrics": _table([columns(r.metrics) for r in compared]), "plots": _plots(d, compared)}


def _plots(d: Dashboard, compared: list[ExperimentRow]) -> list[dict[str, Any]]:
    """The plots himo.yaml defines at the first compared experiment's base commit, drawn from each
    experiment's outputs (by digest, from the cache: stages an experiment reused count too), one
    colour per experiment; none without the repository (its himo.yaml and cache)."""
    from himo.api.plots import run_plots

    if d.repo is None or not compared:
        return []
    outputs = {r.name: dict(r.outputs) for r in compared}
    return [p.as_json() for p in run_plots(d.repo, outputs, compared[0].base_commit or None)]


def _table(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = sorted({k for v in values for k in v})
    table = []
    for key in keys:
        cells = [v.get(key) for v in values]
        first = cells[0] if cells else None
        changes = [c - first if _number(c) and _number(first) else None for c in cells]
        table.append({"key": key, "values": cells, "changes": changes,
                      "differ": len({repr(c) for c in cells}) > 1})
    return table


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@router.get("/api/experiments", tags=["experiments"])
def experiments_json(request: Request, exp: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """Experiments (newest first) and the comparison of `exp` (default: the newest few)."""
    return experiments(request.app.state.dashboard, exp)


@router.get("/experiments", include_in_schema=False)
def experiments_page(request: Request, exp: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    d: Dashboard = request.app.state.dashboard
    return d.render("experiments.html", request, found=experiments(d, exp))
