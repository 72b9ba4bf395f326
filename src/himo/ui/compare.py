"""What the compare page (and /api/compare) shows: executions side by side, each with the metrics
it reported and the params it actually used (himo.meta.compare), every metric's delta against a
baseline, the params that differ. Three ways to choose them, each a URL to keep:

- `run=ID` (repeated): each run's executions that reported metrics (the runs ticked on /runs);
- `run=ID&group=NAME`: the members of the foreach/matrix stage NAME (stages `NAME@...`) of that
  run, the usual sweep (one `himo repro` of `train@a`, `train@b` ...); with several runs, the
  members of each, side by side; `&member=a&member=b`: only those members;
- `exec=ID` (repeated): chosen executions of any runs (the stages ticked on a run page).

Ids may be the 8-character prefixes the CLI prints. What the store does not have is a 404 naming
it; a malformed or contradictory query a 400 (himo.ui.views' conventions).
"""

from __future__ import annotations

import re
from typing import Any

from himo.errors import UsageError
from himo.meta.results import ComparedExecution
from himo.ui.app import Dashboard, not_found
from himo.ui.views import check_id, differing, jsonable, natural, resolve_run, unknown_metric

MAX_RUNS = 50
MAX_EXECUTIONS = 200  # columns of a compared sweep, or of chosen executions
Members = dict[str, dict[str, list[str]]]  # {run id: {foreach stage: its members' names}}
GROUP = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")  # a stage name (pipeline/loader.py NAME_RE)


def compare(d: Dashboard, run_values: list[str], baseline: str | None = None,
            metrics: list[str] | None = None, group: str | None = None, exec_values: list[str] | None = None,
            members: list[str] | None = None) -> dict[str, Any]:
    """The compared executions (`columns`), in the order chosen, each with `deltas` against the
    `baseline` (an execution or run id; default: the first that reported metrics), `keys` every
    metric reported, `chosen` those charted (`metrics`; default: all), `params` the params used that
    differ, `all_params`; `mode` (runs, members or executions), `groups` the foreach stages of the
    compared runs (to compare their members), `group` and `members` those compared; `member_axis`:
    the members' names can be charted (they differ); `starred`: a key has a member's name as `*`;
    `scatter_param`: the differing param with the most values, the scatter's first choice."""
    exec_values, members = exec_values or [], members or []
    group = _check_query(group, run_values, exec_values, members)
    if not run_values and not exec_values:
        return {"columns": [], "keys": [], "chosen": [], "params": [], "all_params": [], "baseline": None,
                "mode": "runs", "groups": [], "group": None, "members": [], "runs": []}
    entries, run_ids, groups = _compared(d, run_values, group, members, exec_values)
    mode = "executions" if exec_values else "members" if group else "runs"
    found = _side_by_side(d, entries, run_ids, baseline, metrics, mode)
    return found | {"mode": mode, "group": group, "members": members, "runs": run_ids,
                    "groups": list(dict.fromkeys(g for r in run_ids for g in groups[r])),
                    "member_axis": mode == "members" and len({e.member for e in entries}) > 1,
                    "starred": any("*" in k.split(".") for k in found["all_params"])}


def _check_query(group: str | None, run_values: list[str], exec_values: list[str],
                 members: list[str]) -> str | None:
    """The query's choice of what to compare is one of the three; `group` without its `@` (the runs
    page's chip says `train@`)."""
    if exec_values and run_values:
        raise UsageError("exec= and run= both given: compare chosen executions, or runs",
                         "e.g. /compare?exec=ID&exec=ID, or /compare?run=ID&group=train")
    if members and not group:
        raise UsageError("member= names members of the foreach stage given by group=",
                         "e.g. /compare?run=ID&group=train&member=a&member=b")
    for member in members:
        if not member or len(member) > 200:
            raise UsageError(f"member {member[:80]!r} is not a member's name",
                             "the part of a stage's name after @ (train@a: a)")
    if not group:
        return None
    name = group[:-1] if group.endswith("@") else group
    if not GROUP.fullmatch(name):
        raise UsageError(f"group {group[:80]!r} is not a stage name",
                         "name a foreach stage as himo.yaml does, e.g. group=train for train@a, train@b")
    if exec_values or not run_values:
        raise UsageError("group= compares the members of a foreach stage in the runs given by run=",
                         f"e.g. /compare?run=ID&group={name} (exec= compares chosen executions, alone)")
    return name


def _compared(d: Dashboard, run_values: list[str], group: str | None, members: list[str],
              exec_values: list[str]) -> tuple[list[ComparedExecution], list[str], Members]:
    """The compared executions, their runs, and each run's foreach stages with their members."""
    if exec_values:
        entries = _chosen_executions(d, exec_values)
        run_ids = list(dict.fromkeys(e.run_id for e in entries))
        return entries, run_ids, d.meta.foreach_members(run_ids)
    run_ids = _runs(d, run_values)
    groups = d.meta.foreach_members(run_ids)
    entries = _members(d, run_ids, group, members, groups) if group else d.meta.compared(run_ids)
    return entries, run_ids, groups


def _runs(d: Dashboard, values: list[str]) -> list[str]:
    if len(values) > MAX_RUNS:
        raise UsageError(f"{len(values)} runs to compare: at most {MAX_RUNS}", "tick fewer runs")
    return list(dict.fromkeys(resolve_run(d, r) for r in values))


def _members(d: Dashboard, run_ids: list[str], group: str, members: list[str],
             groups: Members) -> list[ComparedExecution]:
    """The members of `group` in each run (only `members` if any): a run that did not run the
    group, or a member named that no run ran, is a 404 naming what there is."""
    for run_id in run_ids:
        if group not in groups[run_id]:
            ran = ", ".join(f"{g}@" for g in groups[run_id])
            raise not_found(f"run {run_id[:8]} ran no foreach stage {group!r}",
                            f"its foreach stages: {ran}" if ran else "it ran no foreach or matrix stage")
    ran = list(dict.fromkeys(m for r in run_ids for m in groups[r][group]))
    for member in members:
        if member not in ran:
            more = f" and {len(ran) - 30} more" if len(ran) > 30 else ""
            raise not_found(f"no member {member!r} of {group}@ in the compared runs",
                            f"its members: {', '.join(ran[:30])}{more}")
    count = sum(len([m for m in groups[r][group] if not members or m in members]) for r in run_ids)
    if count > MAX_EXECUTIONS:
        raise UsageError(f"{count} members of {group}@ to compare: at most {MAX_EXECUTIONS}",
                         "tick the members to compare on the run page (member=NAME)")
    return d.meta.group_members(run_ids, group, members or None)


def _chosen_executions(d: Dashboard, values: list[str]) -> list[ComparedExecution]:
    if len(values) > MAX_EXECUTIONS:
        raise UsageError(f"{len(values)} executions to compare: at most {MAX_EXECUTIONS}", "tick fewer")
    return d.meta.compared_executions(list(dict.fromkeys(resolve_execution(d, v) for v in values)))


def resolve_execution(d: Dashboard, value: str) -> str:
    """An execution id, or its prefix as the CLI prints it (8 characters): the full id, 404 if none,
    400 if several executions start so."""
    value = check_id(value, "execution")
    _, found = d.meta.find_ids(value)
    if not found:
        raise not_found(f"no execution {value} in the store", "pick the executions on a run's page")
    if len(found) > 1:
        raise UsageError(f"execution id prefix {value} is ambiguous: {', '.join(f[0][:12] for f in found)}",
                         "give more characters")
    return found[0][0]


def _side_by_side(d: Dashboard, entries: list[ComparedExecution], run_ids: list[str], baseline: str | None,
                  metrics: list[str] | None, mode: str) -> dict[str, Any]:
    one_run = len(run_ids) == 1
    columns = [jsonable(e) | {"label": e.stage if one_run else f"{e.run_id[:8]} {e.stage}"} for e in entries]
    keys = sorted({k for c in columns for k in c["metrics"]}, key=natural)
    chosen = _chosen_metrics(metrics, keys, "the compared runs" if mode == "runs" else f"the compared {mode}")
    base = _baseline(d, baseline, run_ids, columns, mode)
    for c in columns:
        c["deltas"] = {k: _delta(c["metrics"].get(k), base["metrics"].get(k) if base else None) for k in keys}
        c["baseline"] = base is not None and c["id"] == base["id"]
    params = differing(columns)
    return {"columns": columns, "keys": keys, "chosen": chosen, "baseline": base["id"] if base else None,
            "params": params, "all_params": sorted({k for c in columns for k in c["params"]}, key=natural),
            "scatter_param": max(params, key=lambda k: len({repr(c["params"].get(k)) for c in columns}),
                                 default=None)}


def _chosen_metrics(metrics: list[str] | None, keys: list[str], where: str) -> list[str]:
    for m in metrics or []:
        if m not in keys:
            unknown_metric(m, keys, where)
    return list(metrics) if metrics else keys


def _baseline(d: Dashboard, baseline: str | None, run_ids: list[str], columns: list[dict[str, Any]],
              mode: str) -> dict[str, Any] | None:
    """The column deltas are measured against: the compared execution `baseline` names, else the
    first entry with metrics of the compared run it names (default: the first that reported any)."""
    if not baseline:
        return next((c for c in columns if c["metrics"]), columns[0] if columns else None)
    value = check_id(baseline, "baseline")
    executions = [c for c in columns if c["id"].startswith(value)]
    if len(executions) == 1:
        return executions[0]
    if mode == "runs":
        run_id = resolve_run(d, baseline)
    else:  # an execution's prefix, or the run of the compared ones (the runs mode's baseline kept)
        run_id = next((r for r in run_ids if r.startswith(value)), "")
    if run_id not in run_ids:
        shown = ", ".join(f"{c['id'][:8]} ({c['label']})" for c in columns[:12])
        raise UsageError(f"baseline {baseline} is not one of the compared {mode}",
                         "pick the baseline among the ticked runs" if mode == "runs"
                         else f"pick one in the Baseline list: {shown}")
    mine = [c for c in columns if c["run_id"] == run_id]
    return next((c for c in mine if c["metrics"]), mine[0] if mine else None)


def _delta(value: Any, base: Any) -> dict[str, float] | None:
    """value - base, and relative to base (None when either is not a number)."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (value, base)):
        return None
    diff = value - base
    return {"abs": round(diff, 10), "rel": round(diff / abs(base) * 100, 2) if base else None}
