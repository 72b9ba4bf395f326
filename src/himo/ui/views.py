"""What each page and API route shows, as JSON-ready dicts: the one place both are built from.

Input from the request is checked here (ids, digests, statuses, dates) and raises UsageError
(HTTP 400); what the store does not have raises a MetaError answered with 404. Every read goes
through the dashboard's himo.meta.reads.MetaReader (`d.meta`), the one the CLI's commands use too.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from himo.api.history import check_stage, execution_log
from himo.errors import ArtifactNotFound, HimoError, UsageError
from himo.meta.artifacts import LISTED
from himo.meta.records import KINDS, STATUSES, TRIGGERS
from himo.meta.results import ArtifactNode, ExecutionDetail, GridCell, GridRow, ReleaseMark, RunFilter
from himo.model.urls import mask_url
from himo.ui import files
from himo.ui.app import Dashboard, not_found
from himo.workspace.config import Config

ID = re.compile(r"[0-9a-fA-F-]{1,36}")
HEX = re.compile(r"[0-9a-fA-F]{4,80}")
MAX_DEPTH = 20
GRID_ROWS = 60  # rows of the day grid (a foreach group counts once): the most recently run; "+N more"
CHIPS = 8  # stage chips of a run in the run list, then "+N more"
COLUMNS = 4  # metric and param columns of the run list chosen by default, each
NUMBER = re.compile(r"(\d+)")
LOG_LINES = 200  # of a stage's log, on its run page


PLAIN = frozenset({str, int, float, bool, type(None)})  # JSON values as they are


def jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and containers as JSON values (times: ISO 8601, naive UTC).

    Plain values return first, also without a call for each field or item, and each dataclass's
    field names are looked up once: a page of sweep runs has ~3,000 executions, and
    `dataclasses.fields` per value was a third of the runs page."""
    if type(value) in PLAIN or isinstance(value, str | int | float):
        return value
    names = _field_names(type(value))
    if names is not None:
        return {name: v if type(v := getattr(value, name)) in PLAIN else jsonable(v) for name in names}
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {str(k): v if type(v) in PLAIN else jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [v if type(v) in PLAIN else jsonable(v) for v in value]
    return value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def iso(value: datetime | None) -> str | None:
    """A stored time (naive UTC) as the dashboard shows it everywhere: `2024-11-27 09:30:00`, in UTC."""
    return value.isoformat(sep=" ", timespec="seconds") if value else None


# -- checking input -----------------------------------------------------------------------


def check_id(value: str, what: str) -> str:
    if not ID.fullmatch(value):
        raise UsageError(f"{what} {value!r} is not an id", f"{what}s are UUIDs, as listed on /runs")
    return value.lower()


def parse_time(value: str | None, field: str, end: bool = False) -> datetime | None:
    """YYYY-MM-DD or an ISO time; a date as `until` includes that whole day."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:  # its text only repeats the value: not a cause worth showing
        raise UsageError(f"{field} {value!r} is not a date", "use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if parsed.tzinfo is not None:  # the store's times are naive UTC, whatever the server's zone
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed + timedelta(days=1) if end and len(value) == 10 else parsed


def run_filter(stage: str | None, status: str | None, trigger: str | None, since: str | None,
               until: str | None, repo: str | None = None, branch: str | None = None) -> RunFilter:
    if status and status not in STATUSES:
        raise UsageError(f"status {status!r} is not one of {', '.join(STATUSES)}", "pick one from the list")
    if trigger and trigger not in TRIGGERS:
        raise UsageError(f"trigger {trigger!r} is not one of {', '.join(TRIGGERS)}", "pick one from the list")
    for field, value in (("stage", stage), ("repo", repo), ("branch", branch)):
        if value and len(value) > 500:
            raise UsageError(f"{field}: longer than 500 characters", f"pick a {field} from the list")
    return RunFilter(stage or None, status or None, trigger or None,
                     parse_time(since, "since"), parse_time(until, "until", end=True), repo or None,
                     branch or None)


def resolve_digest(d: Dashboard, prefix: str) -> str:
    """The one digest starting with `prefix`: 400 if it is not hex or is ambiguous, 404 if unknown."""
    if not HEX.fullmatch(prefix):
        raise UsageError(f"{prefix!r} is not a digest",
                         "artifacts are named by their hex digest (4+ characters)")
    try:
        return d.meta.resolve_digest(prefix)
    except ArtifactNotFound:
        raise not_found(f"no artifact {prefix} in the store",
                        "open an artifact from a run's inputs or outputs") from None


# -- runs ---------------------------------------------------------------------------------


def runs(d: Dashboard, f: RunFilter, page: int, per_page: int = 50,
         metrics: list[str] | None = None, params: list[str] | None = None) -> dict[str, Any]:
    """A page of runs, each with its `chips` (stages, foreach groups folded) and `values` (its params
    and reported metrics); `columns`: the metric and param keys shown (see `chosen_columns`). A stage
    nothing ran, or a metric not written FILE:KEY, is a UsageError (as `himo runs --stage`)."""
    if f.stage:
        check_stage(d.meta, f.stage, "stage")
    for key in metrics or []:
        metric_key(key)
    found = jsonable(d.meta.runs_page(f, page, per_page))
    values = d.meta.run_columns([r["id"] for r in found["runs"]])
    for r in found["runs"]:
        with_elapsed(r)
        for e in r["executions"]:
            with_elapsed(e)
        r["chips"], r["more"] = chips(r["id"], r["executions"])
        r["values"] = {f"param:{k}": v for k, v in values[r["id"]].params.items()} | \
            {f"metric:{k}": v for k, v in values[r["id"]].metrics.items()}
    found["columns"] = chosen_columns(d, found["runs"], metrics, params)
    return found


def with_elapsed(item: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A running run or execution gets `elapsed`: seconds since it started (its `seconds` is null)."""
    if item.get("status") == "running" and item.get("started_at"):
        now = now or datetime.now(UTC).replace(tzinfo=None)
        item["elapsed"] = round((now - datetime.fromisoformat(item["started_at"])).total_seconds(), 1)
    return item


def live(d: Dashboard, run_id: str | None = None) -> dict[str, Any]:
    """What a page of runs in progress polls: a key that changes whenever the page would, and the
    ids of the runs in progress (`run_id`: that run's state alone)."""
    state = d.meta.live_state(resolve_run(d, run_id) if run_id else None)
    return {"key": state.key, "running": state.running}


def chosen_columns(d: Dashboard, runs: list[dict[str, Any]], metrics: list[str] | None,
                   params: list[str] | None) -> list[dict[str, str]]:
    """The run list's value columns: the metrics and params asked for (query `metric=`, `param=`),
    else the project's (`ui.metrics`, `ui.params` in .himo/config), else the newest run's first
    metrics and the params whose value differs between the runs shown."""
    if metrics is None:
        metrics = _config_list(d, "ui.metrics") or d.meta.newest_metric_keys(COLUMNS)
    if params is None:
        shown = [{"params": {k[6:]: v for k, v in r["values"].items() if k.startswith("param:")}}
                 for r in runs]
        params = _config_list(d, "ui.params") or differing(shown)[:COLUMNS]
    return [{"key": f"metric:{m}", "label": m, "kind": "metric"} for m in metrics] + \
        [{"key": f"param:{p}", "label": p, "kind": "param"} for p in params]


def _config_list(d: Dashboard, key: str) -> list[str]:
    """A comma-separated list from the repository's config ([] without a repository), read anew
    each time: `himo config ui.metrics ...` shows at the next page, not at the next `himo ui`."""
    value = Config(d.repo.himo_dir).get(key) if d.repo is not None else None
    return [v.strip() for v in str(value).split(",") if v.strip()] if value else []


def natural(name: str) -> list[Any]:
    """Sort key: digits compare as numbers (sweep@2 before sweep@10)."""
    return [int(part) if part.isdigit() else part for part in NUMBER.split(name)]


def group_of(stage: str) -> str:
    """The foreach/matrix stage a generated stage (`base@item`) came from; others: themselves."""
    return stage.split("@", 1)[0] if "@" in stage else stage


def chips(run_id: str, executions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """A run's stages as chips: a foreach stage's executions as one (`sweep@ ×12`, its worst status,
    opening the run page at its "Compare members"), in the order they ran; at most CHIPS, and how
    many more."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for e in executions:
        groups.setdefault(group_of(e["stage"]), []).append(e)
    shown = []
    for name, members in groups.items():
        first = members[0]
        if len(members) == 1 and "@" not in first["stage"]:
            shown.append({"label": first["stage"], "status": first["status"], "seconds": first["seconds"],
                          "href": f"/runs/{run_id}#exec-{first['id']}", "count": 1})
            continue
        status = next((s for s in ("failed", "aborted", "running", "succeeded", "cached")
                       if any(m["status"] == s for m in members)), first["status"])
        shown.append({"label": f"{name}@", "status": status, "count": len(members),
                      "seconds": sum(m["seconds"] or 0 for m in members),
                      "href": f"/runs/{run_id}#foreach-{name}"})  # its "Compare members", above them
    return shown[:CHIPS], max(len(shown) - CHIPS, 0)


def grid(d: Dashboard, days: int = 30, today: date | None = None, members: bool = True) -> dict[str, Any]:
    """The day grid: stages sorted naturally, foreach stages under their group's row (its cells:
    the members' days together; `size`: how many), the GRID_ROWS most recently run rows and how
    many more. `members`: each group's member rows too (the API's); the runs page leaves them out
    (~85 % of a month's grid at 1M executions) and loads a group's when it is opened (`grid_members`)."""
    found = d.meta.grid(days, today)
    groups: dict[str, list[GridRow]] = {}
    for row in found.stages:
        groups.setdefault(group_of(row.stage), []).append(row)
    rows = [_grid_group(name, sorted(grouped, key=lambda r: natural(r.stage)), members)
            for name, grouped in groups.items()]
    recent = sorted(rows, key=lambda r: r["last"], reverse=True)[:GRID_ROWS]
    return {"days": found.days, "stages": sorted(recent, key=lambda r: natural(r["stage"])),
            "more": len(rows) - len(recent)}


def grid_members(d: Dashboard, group: str, days: int = 30, today: date | None = None) -> list[dict[str, Any]]:
    """The member rows of the foreach group `group` in the day grid (what its row shows opened)."""
    found = d.meta.grid(days, today)
    rows = [row for row in found.stages if "@" in row.stage and group_of(row.stage) == group]
    return [jsonable(row) for row in sorted(rows, key=lambda r: natural(r.stage))]


def _grid_group(name: str, members: list[GridRow], with_members: bool) -> dict[str, Any]:
    """A stage's row, or a foreach group's made of its members' rows. Only the rows shown become
    JSON values (jsonable): a month's grid is ~2,000 cells."""
    if len(members) == 1 and "@" not in members[0].stage:
        return jsonable(members[0]) | {"members": []}
    cells = [_group_cell(day.date, [m.cells[i] for m in members]) for i, day in enumerate(members[0].cells)]
    return {"stage": f"{name}@", "group": name, "last": max(m.last for m in members), "cells": cells,
            "size": len(members), "members": [jsonable(m) for m in members] if with_members else []}


def _group_cell(day: str, cells: list[GridCell]) -> dict[str, Any]:
    """A foreach group's day: each status with its count, the state of its members' last states
    (a failed member still failing shows red; one that recovered does not)."""
    counts: dict[str, int] = {}
    for cell in cells:
        for status, n in cell.counts.items():
            counts[status] = counts.get(status, 0) + n
    states = {c.state for c in cells if c.state != "none"}
    state = next((s for s in ("failed", "running", "succeeded", "cached") if s in states), "none")
    segments = [{"status": s, "n": n} for s, n in sorted(counts.items(), key=lambda i: i[0] == state)]
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no run"
    runs = {r.run_id: r for c in cells for r in c.scheduled}  # a run of several members: once
    scheduled = sorted(runs.values(), key=lambda r: r.started_at, reverse=True)
    return {"date": day, "counts": counts, "segments": segments, "state": state, "summary": summary,
            "scheduled": jsonable(scheduled)}


def stages(d: Dashboard) -> list[str]:
    return sorted(d.meta.stages(), key=natural)


def filter_choices(d: Dashboard) -> dict[str, list[str]]:
    """Repositories and branches of the newest runs, for the run list's filter."""
    repos, branches = d.meta.repos_and_branches()
    return {"repos": repos, "branches": branches}


def resolve_run(d: Dashboard, value: str) -> str:
    """A run id, or its prefix as the CLI prints it (8 characters): the full id, 404 if none, 400 if
    several runs start so."""
    value = check_id(value, "run")
    found, _ = d.meta.find_ids(value)  # a whole id too: one seek, and an unknown one is a 404
    if not found:
        raise not_found(f"no run {value} in the store", "pick a run on /runs")
    if len(found) > 1:
        raise UsageError(f"run id prefix {value} is ambiguous: {', '.join(f[:12] for f in found)}",
                         "give more characters")
    return found[0]


def run(d: Dashboard, run_id: str) -> dict[str, Any]:
    """The run, its executions with params (and their change since the stage's previous run, as
    himo.meta.reads defines it), inputs, outputs, metrics and log tail (the repository's file, else
    the store's copy)."""
    run_id = resolve_run(d, run_id)
    detail = d.meta.run(run_id)
    if detail is None:
        raise not_found(f"no run {run_id} in the store", "pick a run on /runs")
    result = with_elapsed(jsonable(detail.run))
    result["executions"] = [with_elapsed(_execution(d, e)) for e in detail.executions]
    result["groups"] = [{"name": group, "members": members}  # what its page offers to compare
                        for group, members in d.meta.foreach_members([run_id])[run_id].items()]
    return result


def _execution(d: Dashboard, e: ExecutionDetail) -> dict[str, Any]:
    """One execution as the run page shows it, with a row per param and its change."""
    result = jsonable(e)
    summary = result.pop("summary")
    before = {c["key"]: c for c in summary["changes"]}
    summary["param_rows"] = [{"key": k, "value": v, "change": before.get(k)}
                             for k, v in summary["params"].items()]
    summary["param_rows"] += [{"key": k, "value": None, "change": c} for k, c in before.items()
                              if c["change"] == "removed"]
    result.update(summary)
    lines = execution_log(d.repo, e, LOG_LINES)
    result["log_tail"] = "".join(f"{line}\n" for line in lines) if lines else None
    result["metrics"] = {o.path: _metrics_values(d, e.metrics, o.digest, o.path)
                         for o in e.outputs if o.kind == "metrics"}
    return result


def _metrics_values(d: Dashboard, stored: dict[str, Any], digest: str, path: str) -> dict[str, Any] | None:
    """{key: value} of a metrics file: as the store keeps it, else read from the repository's cache."""
    values = stored.get(path)
    return values if isinstance(values, dict) else files.metrics_values(d.repo, digest, path)


def execution_run(d: Dashboard, exec_id: str) -> str:
    exec_id = check_id(exec_id, "execution")
    run_id = d.meta.run_of_execution(exec_id)
    if run_id is None:
        raise not_found(f"no execution {exec_id} in the store", "pick a run on /runs")
    return run_id


# -- pipeline -----------------------------------------------------------------------------


def pipeline(d: Dashboard) -> dict[str, Any]:
    """The DAG of himo.yaml (the repository the dashboard runs in), stale stages, latest executions."""
    if d.repo is None:
        return {"available": False, "nodes": [], "edges": []}
    from himo.api.dag import dag_edges
    from himo.api.repro import load_dag
    from himo.api.status import stage_status

    dag = load_dag(d.repo)
    names = dag.order()
    try:
        stale = {s.name: s.reasons for s in stage_status(d.repo)}
    except HimoError:
        stale = {}
    latest = jsonable(d.meta.latest_executions(names))
    nodes = [{"name": n, "cmd": list(dag.stages[n].cmd), "deps": list(dag.stages[n].deps),
              "outs": [o.path for o in dag.stages[n].outs], "stale": n in stale, "reasons": stale.get(n, []),
              "latest": latest.get(n)} for n in names]
    return {"available": True, "nodes": nodes,
            "edges": [{"from": a, "to": b} for a, b in dag_edges(dag, names)]}


# -- artifacts ----------------------------------------------------------------------------


def artifact(d: Dashboard, prefix: str) -> dict[str, Any]:
    digest = resolve_digest(d, prefix)
    detail = d.meta.artifact(digest)
    if detail is None:
        raise not_found(f"no artifact {digest} in the store", "")
    found = jsonable(detail)
    found["locations"] = [{k: v for k, v in loc.items() if k != "run_id"} for loc in found["locations"]]
    found["releases"] = jsonable(d.meta.releases_of_digest(digest))
    found["metrics"] = jsonable(d.meta.model_metrics([digest]).get(digest))
    found["locations"] = _cache_places(d, digest) + found["locations"]
    return found


def _cache_places(d: Dashboard, digest: str) -> list[dict[str, Any]]:
    """The repository's cache (checked now by `himo where`'s himo.api.delivery.where), when the
    dashboard runs in one: whether the bytes are there, complete or partly."""
    if d.repo is None:
        return []
    from himo.api.delivery import where

    try:
        places = where(d.repo, digest).places
    except HimoError:  # an artifact of another repository's store
        return []
    return [{"kind": p.kind, "url": mask_url(p.url), "first_at": None, "last_at": None, "who": p.who,
             "detail": p.detail} for p in places if p.kind == "cache"]


def lineage_args(direction: str, depth: str) -> int:
    """The lineage graph's direction and depth checked (a UsageError names the choices); the depth."""
    if direction not in ("both", "upstream", "downstream"):
        raise UsageError(f"direction {direction!r} is not both, upstream or downstream",
                         "pick one in the Direction list (the URL's ?direction=)")
    if not depth.isdigit() or not 1 <= int(depth) <= MAX_DEPTH:
        raise UsageError(f"depth {depth!r} is not a number from 1 to {MAX_DEPTH}",
                         "pick a depth in the Depth box (the URL's ?depth=)")
    return int(depth)


def lineage(d: Dashboard, prefix: str, direction: str = "both", depth: int = 5) -> dict[str, Any]:
    """The lineage graph as cytoscape elements: artifacts and executions, edges in data-flow order."""
    lineage_args(direction, str(depth))
    digest = resolve_digest(d, prefix)
    graph = d.meta.lineage(digest, upstream=direction != "downstream", downstream=direction != "upstream",
                           depth=max(1, min(depth, MAX_DEPTH)))
    old = d.meta.superseded(list(graph.artifacts)) if graph is not None else set()
    if graph is None:
        raise not_found(f"no artifact {digest} in the store", "")
    nodes = [_artifact_node(a, graph.releases.get(a.digest, []), a.digest == digest)
             | {"superseded": a.digest in old} for a in graph.artifacts.values()]
    nodes += [{"id": e.id, "type": "execution", "status": e.status, "label": e.stage,
               "href": f"/runs/{e.run_id}#exec-{e.id}", "started_at": iso(e.started_at),
               "git_commit": e.git_commit} for e in graph.executions.values()]
    edges = {(e.artifact, e.execution) if e.direction == "INPUT" else (e.execution, e.artifact)
             for e in graph.edges}
    return {"root": digest, "nodes": nodes, "truncated": graph.truncated,
            "edges": [{"source": s, "target": t} for s, t in sorted(edges)],
            "models_at_run": jsonable(graph.models_at_run)}


def _artifact_node(a: ArtifactNode, marks: list[ReleaseMark], root: bool) -> dict[str, Any]:
    """A graph node; a released artifact names its releases (`production v2 · live`) in its label."""
    label = f"{a.paths[0] if a.paths else a.digest[:12]}\n{a.kind} · {a.digest[:8]}"
    label += "".join(f"\n{m.env} {m.version}{' · live' if m.retired_at is None else ''}" for m in marks)
    return {"id": a.digest, "type": "artifact", "kind": a.kind, "label": label, "root": root,
            "href": f"/artifacts/{a.digest}", "released": bool(marks),
            "live": any(m.retired_at is None for m in marks), "releases": jsonable(marks)}


def artifacts(d: Dashboard, query: str = "", kind: str = "") -> dict[str, Any]:
    """The artifacts page: the newest version at each path of models and datasets (or of `kind`),
    searchable by a part of the path or of a released name; each model with its metrics."""
    if len(query) > 200:
        raise UsageError("q: longer than 200 characters", "search by a part of a path or a model name")
    if kind and kind not in KINDS:
        raise UsageError(f"kind {kind!r} is not one of {', '.join(KINDS)}", "pick one from the list")
    kinds = [kind] if kind else list(LISTED)
    found, more = d.meta.artifacts(query.strip(), kinds)
    metrics = d.meta.model_metrics([a.digest for a in found if a.kind == "model"])
    items = [jsonable(a) | {"metrics": jsonable(metrics.get(a.digest))} for a in found]
    return {"artifacts": items, "more": more, "q": query, "kind": kind, "kinds": KINDS}


# -- releases -----------------------------------------------------------------------------


def releases(d: Dashboard, env: str | None = None, at: str | None = None) -> dict[str, Any]:
    """Releases per environment, newest first (himo.meta.releases.timeline), and per environment
    then model name (`models`); `at`: only those live at that time, per env. Every bar is placed
    (left/width in %) on one time scale for the whole page, from the first release to `at` (or now)."""
    if env and len(env) > 200:
        raise UsageError("env: longer than 200 characters", "name an environment, e.g. production")
    when = parse_time(at, "at")
    environments = d.meta.envs()
    if env and env not in environments:
        raise not_found(f"no release in environment {env!r}",
                        f"environments released to: {', '.join(environments)}" if environments
                        else "nothing is released yet: himo release PATH --env ENV")
    rows = [jsonable(r) for r in d.meta.timeline(env=env or None, at=when)]
    rollbacks = _rollbacks(jsonable(d.meta.timeline(env=env or None)) if when else rows)
    metrics = d.meta.model_metrics([r["digest"] for r in rows])
    envs: dict[str, list[dict[str, Any]]] = {}
    models: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        row["live"] = when is not None or row["retired_at"] is None  # at `at`: the rows are those live then
        row["rollback_to"] = rollbacks.get(row["id"])
        row["metrics"] = jsonable(metrics.get(row["digest"]))
        envs.setdefault(row["env"], []).append(row)
        models.setdefault(row["env"], {}).setdefault(row["name"] or "", []).append(row)
    end = when or datetime.now(UTC).replace(tzinfo=None)
    scale = _place(rows, end)
    nothing_live = [e for e in environments if e not in envs and (not env or e == env)] if when else []
    return {"envs": envs, "models": {e: dict(sorted(m.items())) for e, m in models.items()},
            "releases": rows, "at": iso(when), "environments": environments, "scale": scale,
            "nothing_live": nothing_live}


def _rollbacks(rows: list[Any]) -> dict[int, str]:
    """{release id: the version it rolled back to}: a release of an artifact that an earlier release
    of the same name in the same environment already had (rows: newest first per env and name)."""
    found: dict[int, str] = {}
    seen: dict[tuple[str, str, str], str] = {}
    for row in reversed(rows):
        r = row
        place = (r["env"], r["name"] or "", r["digest"])
        if place in seen:
            found[r["id"]] = seen[place]
        else:
            seen[place] = r["version"]
    return found


def _place(rows: list[dict[str, Any]], end: datetime) -> dict[str, str | None]:
    """Each release's interval as a share of one scale, from the first release shown to `end`
    (a bar still live then runs to `end`); the scale's ends, for its labels."""
    def at(value: str | None) -> datetime:
        return min(datetime.fromisoformat(value), end) if value else end

    if not rows:
        return {"start": None, "end": iso(end)}
    start = min(at(r["released_at"]) for r in rows)
    span = max((end - start).total_seconds(), 1.0)
    for r in rows:
        r["left"] = round((at(r["released_at"]) - start).total_seconds() / span * 100, 2)
        length = (at(r["retired_at"]) - at(r["released_at"])).total_seconds()
        r["width"] = max(round(length / span * 100, 2), 0.5)
    return {"start": iso(start), "end": iso(end)}


# -- metrics ------------------------------------------------------------------------------


def metrics(d: Dashboard, exec_ids: list[str] | None = None) -> dict[str, Any]:
    """Metrics of the chosen executions (default: the newest 20 that wrote metrics), side by side,
    oldest first (left to right, as the history chart); `params`: the params that differ between them."""
    chosen = [check_id(e, "execution") for e in exec_ids] if exec_ids else None
    outputs = jsonable(d.meta.metrics_outputs(chosen, limit=20 if chosen is None else 200))
    missing = sorted(set(chosen or []) - {out["id"] for out in outputs})
    if missing:
        raise not_found(f"execution {missing[0]} wrote no metrics file, or is not in the store",
                        "pick executions in the list on /metrics (those that wrote metrics)")
    params = d.meta.run_params([out["run_id"] for out in outputs])
    columns = []
    for out in reversed(outputs):
        out["params"] = params.get(out["run_id"], {}) | out["params"]
        stored = out.pop("reported") or {}
        values = _metrics_values(d, stored if isinstance(stored, dict) else {}, out["digest"], out["path"])
        columns.append(out | {"values": {f"{out['path']}:{k}": v for k, v in (values or {}).items()}})
    keys = sorted({k for c in columns for k in c["values"]})
    return {"columns": columns, "keys": keys, "repo": d.repo is not None, "params": differing(columns)}


def differing(columns: list[dict[str, Any]]) -> list[str]:
    """The param keys whose value is not the same in every column (missing counts as a value)."""
    keys = sorted({k for c in columns for k in c["params"]})
    return [k for k in keys if len({repr(c["params"].get(k)) for c in columns}) > 1]


def metric_history(d: Dashboard, key: str, limit: int = 200) -> list[dict[str, Any]]:
    """One metric (`FILE:KEY`) over time, oldest first, from the newest `limit` metrics outputs; a key
    none of them reported is a UsageError naming the known ones (not an empty chart)."""
    path, name = metric_key(key)
    outputs = jsonable(d.meta.metrics_outputs(None, path, limit))
    points = []
    for out in reversed(outputs):
        stored = out["reported"] if isinstance(out["reported"], dict) else {}
        value = (_metrics_values(d, stored, out["digest"], path) or {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            points.append({"exec_id": out["id"], "run_id": out["run_id"], "stage": out["stage"],
                           "started_at": out["started_at"], "value": value})
    if not points and key not in (known := metrics(d)["keys"]):
        unknown_metric(key, known)
    return points


def metric_key(key: str) -> tuple[str, str]:
    """A metric named as the pages name them, `FILE:KEY`: (file, key); else a UsageError."""
    path, _, name = key.partition(":")
    if not path or not name:
        raise UsageError(f"metric {key!r} is not FILE:KEY", "e.g. metrics.json:accuracy")
    return path, name


def unknown_metric(key: str, keys: list[str], where: str = "any execution shown") -> None:
    """A metric key nothing reported: an error naming the keys that exist (not an empty chart)."""
    known = ", ".join(keys) if keys else "none: no metrics were reported"
    raise UsageError(f"metric {key!r} is not reported by {where}", f"known metrics (FILE:KEY): {known}")


# -- plots (the compare page's values: himo.ui.compare) ----------------------------------


def plots(d: Dashboard, run_ids: list[str]) -> list[dict[str, Any]]:
    """The plots of himo.yaml drawn from what these runs wrote, one colour per run (himo.api.plots:
    the same specs as `himo plots show`); none without the repository (its himo.yaml and cache)."""
    from himo.api.plots import run_plots

    if d.repo is None or not run_ids:
        return []
    outputs: dict[str, dict[str, str]] = {}
    commit = ""
    full_ids = list(dict.fromkeys(resolve_run(d, r) for r in run_ids))
    for run_id in full_ids:
        detail = d.meta.run(run_id)
        if detail is None:
            raise not_found(f"no run {run_id} in the store", "pick a run on /runs")
        outputs[detail.run.id[:8]] = {o.path: o.digest for e in detail.executions for o in e.outputs}
        commit = commit or detail.run.git_commit
    return [p.as_json() for p in run_plots(d.repo, outputs, commit or None)]
