"""`himo dag`: the pipeline graph as text, JSON, Mermaid or Graphviz dot."""

from __future__ import annotations

import json

from himo.api.repro import ReproOptions, load_dag, select
from himo.pipeline.dag import Dag
from himo.workspace.repo import Repo


def dag_edges(dag: Dag, names: list[str]) -> list[tuple[str, str]]:
    """(upstream, downstream) pairs among `names`, in order."""
    chosen = set(names)
    return [(up, n) for n in names for up in sorted(dag.upstream[n]) if up in chosen]


def render_dag(repo: Repo, target: str | None, fmt: str) -> str:
    dag = load_dag(repo)
    names = select(dag, [target] if target else [], ReproOptions())
    edges = dag_edges(dag, names)
    if fmt == "json":
        nodes = [{"name": n, "cmd": list(dag.stages[n].cmd), "deps": list(dag.stages[n].deps),
                  "outs": [o.path for o in dag.stages[n].outs]} for n in names]
        return json.dumps({"nodes": nodes, "edges": [{"from": a, "to": b} for a, b in edges]}, indent=2)
    if fmt == "mermaid":
        ids = {n: f"s{i}" for i, n in enumerate(names)}
        lines = ["flowchart TD"] + [f'    {ids[n]}["{n}"]' for n in names]
        return "\n".join(lines + [f"    {ids[a]} --> {ids[b]}" for a, b in edges])
    if fmt == "dot":
        lines = ["digraph himo {", "    rankdir=TB;"] + [f'    "{n}";' for n in names]
        return "\n".join(lines + [f'    "{a}" -> "{b}";' for a, b in edges] + ["}"])
    return _text(names, edges)


def _text(names: list[str], edges: list[tuple[str, str]]) -> str:
    if not names:
        return "No stages in himo.yaml."
    below: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        below[a].append(b)
    lines = []
    for name in names:
        lines.append(f"* {name}" + (f"  -> {', '.join(below[name])}" if below[name] else ""))
    return "\n".join(lines)
