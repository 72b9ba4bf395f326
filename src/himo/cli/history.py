"""`himo runs`, `himo runs show`, `himo lineage`: what ran, and what produced what.

Times print in local time; JSON gives them in UTC (ISO 8601 with Z).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import find_repo
from himo.errors import UsageError
from himo.meta.records import STATUSES

SHORT = 8  # characters of an id shown
DIGEST = 12  # characters of a digest shown
KIND_ORDER = ("model", "dataset", "features", "predictions", "metrics", "other", "code")  # inputs listed so


# -- formatting helpers --------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Dataclasses as JSON-ready values; times as ISO 8601 UTC."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return value


def when(value: datetime | None) -> str:
    """A stored (naive UTC) time in local time."""
    if value is None:
        return "-"
    return value.replace(tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def changes_text(changes: list[Any]) -> str:
    """`lr 0.1->0.2, +epochs=3, -dropout`."""
    parts = []
    for c in changes:
        if c.change == "changed":
            parts.append(f"{c.key} {value_text(c.before)}->{value_text(c.after)}")
        elif c.change == "added":
            parts.append(f"+{c.key}={value_text(c.after)}")
        else:
            parts.append(f"-{c.key}")
    return ", ".join(parts)


def git_text(commit: str, branch: str, dirty: bool) -> str:
    if not commit:
        return "no commit" + (" (dirty)" if dirty else "")
    where = ", ".join(p for p in (branch, "dirty" if dirty else "") if p)
    return f"git {commit[:SHORT]}" + (f" ({where})" if where else "")


# -- himo runs ------------------------------------------------------------------------------


@click.group("runs", invoke_without_command=True, subcommand_metavar="[COMMAND] [ARGS]...")
@click.option("--stage", help="Only runs with an execution of this stage (and only those executions).")
@click.option("--status", type=click.Choice(STATUSES),
              help="Only runs that ended so (cached: with a restored stage); with --stage, its executions.")
@click.option("--since", metavar="T", help="Runs started at or after T: 2024-05-01, 2024-05-01T13:30, 7d.")
@click.option("--until", metavar="T", help="Runs started before T (same forms as --since).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
@click.pass_context
def runs_group(ctx: click.Context, stage: str | None, status: str | None, since: str | None,
               until: str | None, limit: int, as_json: bool) -> None:
    """Runs newest first, with their executions: when, how long, status, trigger, and the params
    that differ from the previous execution of each stage.

    `himo runs show ID` shows one run in full.
    """
    if ctx.invoked_subcommand is not None:
        return
    from himo.api.history import runs

    found = runs(find_repo(), stage=stage, status=status, since=since, until=until, limit=limit)
    if as_json:
        OUT.json(plain(found))
    elif not found:
        OUT.echo("No runs recorded" + (" match" if any((stage, status, since, until)) else " yet") + ".")
    else:
        click.echo("\n".join(_runs_lines(found)))


def _runs_lines(found: list[Any]) -> Iterator[str]:
    head = [[r.id[:SHORT], when(r.started_at), r.command, r.status, duration(r.seconds), r.trigger,
             git_text(r.git_commit, r.branch, r.dirty)] for r in found]
    widths = [max(len(row[i]) for row in head) for i in range(len(head[0]))]
    stage_width = max((len(e.stage) for r in found for e in r.executions), default=0)
    for run, row in zip(found, head, strict=True):
        yield "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for e in run.executions:
            params = changes_text(e.changes)
            yield (f"  {e.stage.ljust(stage_width)}  {e.status.ljust(9)}  {duration(e.seconds).rjust(7)}"
                   + (f"  params: {params}" if params else "")).rstrip()


@runs_group.command("show")
@click.argument("run_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def runs_show_cmd(run_id: str, as_json: bool) -> None:
    """One run (ID: the first characters of a run id, or of an execution id for that execution
    alone): params, inputs and outputs, git state, durations, exit codes and the log tails."""
    from himo.api.history import run_show

    detail = run_show(find_repo(), run_id)
    if as_json:
        OUT.json(plain(detail))
    else:
        click.echo("\n".join(_show_lines(detail)))


def _show_lines(detail: Any) -> Iterator[str]:
    r = detail.run
    yield f"Run {r.id}  {r.command} {' '.join(map(str, r.args))}".rstrip()
    yield f"  status    {r.status}  ({r.trigger}, {r.user or '?'}@{r.host or '?'})"
    if r.queued_at is not None and r.queued_at != r.started_at:
        yield f"  queued    {when(r.queued_at)}"
    yield f"  started   {when(r.started_at)}   ended {when(r.ended_at)}   took {duration(r.seconds)}"
    yield f"  git       {git_text(r.git_commit, r.branch, r.dirty)}"
    yield f"  repo      {r.repo}"
    if not detail.transfers and r.command in ("push", "fetch", "pull", "export"):
        yield "  moved     nothing (everything was already there)"
    for i, t in enumerate(detail.transfers):
        yield (f"  {'moved' if i == 0 else '':<8}  {t.kind:<6} {t.artifact_kind:<11} {t.digest[:DIGEST]}  "
               f"{t.path}  ({_size(t.size)})  {'to' if t.kind in ('push', 'export') else 'from'} {t.url}")
    for e in detail.executions:
        yield from _execution_lines(e)


def _execution_lines(e: Any) -> Iterator[str]:
    s = e.summary
    exit_code = "-" if s.exit_code is None else str(s.exit_code)
    yield ""
    yield f"Execution {s.id}  stage {s.stage}"
    yield (f"  status    {s.status}  exit code {exit_code}  took {duration(s.seconds)}  "
           f"started {when(s.started_at)}")
    yield f"  cmd       {e.cmd.replace(chr(10), '; ')}"
    if e.reasons:
        yield f"  why       {'; '.join(map(str, e.reasons))}"
    yield f"  git       {git_text(e.git_commit, e.branch, e.dirty)}"
    params = ", ".join(f"{k}={value_text(v)}" for k, v in s.params.items())
    yield f"  params    {params or '-'}"
    if s.changes and s.previous_id:
        yield f"  changed   {changes_text(s.changes)}  (since execution {s.previous_id[:SHORT]})"
    for label, entries in (("inputs", e.inputs), ("outputs", e.outputs)):
        for i, entry in enumerate(entries):
            yield (f"  {label if i == 0 else '':<8}  {entry.kind:<11} {entry.digest[:DIGEST]}  "
                   f"{entry.path}  ({_size(entry.size)})")
        if not entries:
            yield f"  {label:<8}  -"
    for path, values in e.metrics.items():
        yield f"  metrics   {path}: " + (", ".join(f"{k}={value_text(v)}" for k, v in values.items()) or "-")
    yield f"  log       {e.log or '-'}" + (f" (last {len(e.log_tail)} lines)" if e.log_tail else "")
    for line in e.log_tail:
        yield f"    | {line}"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n:.1f} TB"


# -- himo lineage ---------------------------------------------------------------------------


@click.command("lineage")
@click.argument("target")
@click.option("--upstream", is_flag=True, help="Only what produced TARGET.")
@click.option("--downstream", is_flag=True, help="Only what was built from TARGET.")
@click.option("--depth", type=click.IntRange(min=1), help="Executions deep in each direction [default: all].")
@click.option("--limit", "fan_out", default=20, show_default=True, type=click.IntRange(min=1),
              help="Readers listed per artifact downstream (the newest; the rest are counted).")
@click.option("--json", "as_json", is_flag=True, help="Print the graph as JSON.")
@click.option("--dot", is_flag=True, help="Print Graphviz source (dot -Tsvg).")
@click.option("--mermaid", is_flag=True, help="Print Mermaid flowchart source.")
@common
def lineage_cmd(target: str, upstream: bool, downstream: bool, depth: int | None, fan_out: int,
                as_json: bool, dot: bool, mermaid: bool) -> None:
    """What produced TARGET and what was built from it, across commits and runs.

    TARGET: a tracked path (its current version), PATH@REV (its version at a git revision),
    a digest (a unique prefix is enough), or an untracked file a stage read, such as code (its
    current content: `--downstream` lists what was built from it). Upstream follows each artifact to the
    execution that computed it (not a restore from the run-cache) and that execution's inputs
    (data, model, code) with git commit and params; downstream follows readers and what they wrote.
    """
    from himo.api.history import lineage

    fmt = _one_format(as_json=as_json, dot=dot, mermaid=mermaid)
    if upstream and downstream:
        raise UsageError("--upstream and --downstream exclude each other",
                         "give neither to walk both directions")
    result = lineage(find_repo(), target, upstream=not downstream, downstream=not upstream,
                     depth=depth, fan_out=fan_out)
    if fmt == "json":
        OUT.json(plain(result))
    elif fmt == "dot":
        click.echo(to_dot(result.graph))
    elif fmt == "mermaid":
        click.echo(to_mermaid(result.graph))
    else:
        click.echo("\n".join(LineageText(result).lines()))


def _one_format(**given: bool) -> str | None:
    chosen = [f"--{name.removeprefix('as_')}" for name, on in given.items() if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} exclude each other", "give one output format")
    return chosen[0][2:] if chosen else None


class LineageText:
    """The graph as trees that answer the questions directly: what produced TARGET (and from
    which data, model and code), and what was built from it."""

    def __init__(self, result: Any) -> None:
        self.result = result
        g = self.graph = result.graph
        self.producers: dict[str, list[str]] = {}
        self.consumers: dict[str, list[str]] = {}
        self.inputs: dict[str, list[tuple[str, str]]] = {}
        self.outputs: dict[str, list[tuple[str, str]]] = {}
        for edge in g.edges:
            if edge.direction == "OUTPUT":
                _add(self.producers, edge.artifact, edge.execution)
                _add(self.outputs, edge.execution, (edge.artifact, edge.path))
            else:
                _add(self.consumers, edge.artifact, edge.execution)
                _add(self.inputs, edge.execution, (edge.artifact, edge.path))
        self.consumers = {d: sorted(ids, key=lambda i: g.executions[i].started_at, reverse=True)
                          for d, ids in self.consumers.items()}
        rank = {kind: n for n, kind in enumerate(KIND_ORDER)}
        self.inputs = {e: sorted(arts, key=lambda a: (rank.get(g.artifacts[a[0]].kind, 5), a[1]))
                       for e, arts in self.inputs.items()}

    def lines(self) -> Iterator[str]:
        r, root = self.result, self.graph.root
        name = self._artifact(root, r.path)
        at = f" at {r.revision}" if r.revision else ""
        if r.upstream:
            yield from self._summary_up(root, name + at)
            yield from self._tree(root, r.path, up=True, seen=set())
        if r.upstream and r.downstream:
            yield ""
        if r.downstream:
            yield from self._summary_down(root, name + at)
            if self.consumers.get(root):
                yield from self._tree(root, r.path, up=False, seen=set())
        if self.graph.truncated:
            yield "(the walk stopped after 5000 nodes: use --depth to look closer)"

    def _summary_up(self, root: str, name: str) -> Iterator[str]:
        makers = self.producers.get(root, [])
        if not makers:
            yield f"{name}: no recorded producer (source data, or made before recording began)"
            return
        e = self.graph.executions[makers[0]]
        made = self._execution(e)
        uses = ", ".join(f"{self.graph.artifacts[d].kind} {p or d[:DIGEST]}"
                         for d, p in self.inputs.get(e.id, []))
        yield f"{name} was made by {made}" + (f"\n  from {uses}" if uses else "")
        if root in self.graph.restored:
            yield f"  {restored_text(self.graph.restored[root])}"
        for check in self._model_checks(e.id):
            yield f"  {check}"
        yield ""

    def _summary_down(self, root: str, name: str) -> Iterator[str]:
        if not self.consumers.get(root):
            yield f"Nothing recorded was built from {name}."
            return
        versions: dict[str, list[str]] = {}  # "kind path" -> digests, in the order found
        for d in self._built_from(root)[1:]:
            _add(versions, f"{self.graph.artifacts[d].kind} {self._path(d)}", d[:DIGEST])
        what = ", ".join(f"{name} ({', '.join(ds)})" for name, ds in versions.items()) or "no outputs"
        yield f"Built from {name}: {what}"
        yield ""

    def _built_from(self, root: str) -> list[str]:
        """Artifacts written by readers of `root`, by their readers, and so on (breadth first)."""
        found, frontier = [root], [root]
        while frontier:
            execs = [e for d in frontier for e in self.consumers.get(d, [])]
            frontier = [d for e in execs for d, _ in self.outputs.get(e, []) if d not in found]
            found += list(dict.fromkeys(frontier))
        return found

    def _tree(self, digest: str, path: str | None, up: bool, seen: set[str]) -> Iterator[str]:
        yield self._artifact(digest, path)
        yield from self._children(digest, up, seen, "")

    def _children(self, digest: str, up: bool, seen: set[str], indent: str) -> Iterator[str]:
        if digest in seen:
            return
        seen.add(digest)
        execs = (self.producers if up else self.consumers).get(digest, [])
        omitted = 0 if up else self.graph.omitted.get(digest, 0)
        for n, exec_id in enumerate(execs):
            last = n == len(execs) - 1 and not omitted
            e = self.graph.executions[exec_id]
            yield f"{indent}{'└── ' if last else '├── '}{'made by' if up else 'read by'} {self._execution(e)}"
            inner = indent + ("    " if last else "│   ")
            params = ", ".join(f"{k}={value_text(v)}" for k, v in e.params.items())
            if params:
                yield f"{inner}params: {params}"
            if up and digest in self.graph.restored:
                yield f"{inner}{restored_text(self.graph.restored[digest])}"
            for check in self._model_checks(exec_id):
                yield f"{inner}{check}"
            arts = (self.inputs if up else self.outputs).get(exec_id, [])
            for m, (child, child_path) in enumerate(arts):
                end = m == len(arts) - 1
                shown = child in seen and (self.producers if up else self.consumers).get(child)
                again = " (see above)" if shown else ""
                yield f"{inner}{'└── ' if end else '├── '}{self._artifact(child, child_path)}{again}"
                yield from self._children(child, up, seen, inner + ("    " if end else "│   "))
        if omitted:
            yield f"{indent}└── ... {omitted} more readers not shown (use --limit to list more)"

    def _execution(self, e: Any) -> str:
        return (f"stage '{e.stage}' ({e.status} {when(e.started_at)}, "
                f"{git_text(e.git_commit, e.branch, e.dirty)}, run {e.run_id[:SHORT]})")

    def _artifact(self, digest: str, path: str | None) -> str:
        art = self.graph.artifacts[digest]
        marks = "; ".join(f"{m.name} {m.version} in {m.env} {when(m.released_at)} -> "
                          f"{when(m.retired_at) if m.retired_at else 'now'}"
                          for m in self.graph.releases.get(digest, []))
        return f"{art.kind} {path or self._path(digest)} {digest[:DIGEST]}" + (
            f" [released: {marks}]" if marks else "")

    def _model_checks(self, exec_id: str) -> Iterator[str]:
        """Was the model this execution read the released one, in each environment, at the time?"""
        for m in self.graph.models_at_run:
            if m.execution != exec_id:
                continue
            model = f"model {self._path(m.model)} {m.model[:DIGEST]}"
            if m.was_live:
                yield f"{model} was the {m.env} release of {m.name!r} ({m.live_version}) at the time"
            elif m.live_version:
                yield (f"{model} was NOT the {m.env} release of {m.name!r} at the time "
                       f"(that was {m.live_version}, {(m.live_digest or '')[:DIGEST]})")
            else:
                yield f"{model}: nothing was released in {m.env} as {m.name!r} at the time"

    def _path(self, digest: str) -> str:
        paths = self.graph.artifacts[digest].paths
        return ", ".join(paths) if paths else "(no path)"


def restored_text(restore: Any) -> str:
    """What a restore from the run-cache adds: the artifact was computed once, then reused."""
    latest = f"run {restore.run_id[:SHORT]} at {when(restore.at)}"
    if restore.count == 1:
        return f"then restored from the run-cache by {latest}"
    return f"then restored from the run-cache {restore.count} times, latest by {latest}"


def _add(index: dict[str, list[Any]], key: str, value: Any) -> None:
    items = index.setdefault(key, [])
    if value not in items:
        items.append(value)


def _label(*parts: str) -> list[str]:
    return [p for p in parts if p]


def _nodes(graph: Any) -> Iterator[tuple[str, str, list[str], bool]]:
    """(key, type, label lines, is root) of every node."""
    for d, art in graph.artifacts.items():
        restore = graph.restored.get(d)
        reused = f"restored {restore.count}x, latest run {restore.run_id[:SHORT]}" if restore else ""
        label = _label(art.kind, ", ".join(art.paths), d[:DIGEST], reused)
        yield f"a:{d}", "artifact", label, d == graph.root
    for i, e in graph.executions.items():
        yield f"e:{i}", "execution", _label(e.stage, f"{e.status} {when(e.started_at)}",
                                            git_text(e.git_commit, e.branch, e.dirty)), False


def _edges(graph: Any) -> Iterator[tuple[str, str]]:
    for edge in graph.edges:
        a, e = f"a:{edge.artifact}", f"e:{edge.execution}"
        yield (a, e) if edge.direction == "INPUT" else (e, a)


def to_dot(graph: Any) -> str:
    """Graphviz source: artifacts as boxes, executions as ellipses, data flowing left to right."""
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for key, kind, label, root in _nodes(graph):
        shape = "box" if kind == "artifact" else "ellipse"
        extra = ", penwidth=2" if root else ""
        text = "\\n".join(esc(p) for p in label)
        lines.append(f'  "{key}" [shape={shape}{extra}, label="{text}"];')
    lines += [f'  "{a}" -> "{b}";' for a, b in _edges(graph)]
    return "\n".join([*lines, "}"])


def to_mermaid(graph: Any) -> str:
    """Mermaid flowchart source: artifacts as rectangles, executions as stadiums."""
    ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    for key, kind, label, root in _nodes(graph):
        ids[key] = f"{key[0]}{len(ids)}"
        text = "<br/>".join(p.replace('"', "#quot;") for p in label)
        lines.append(f'  {ids[key]}["{text}"]' if kind == "artifact" else f'  {ids[key]}(["{text}"])')
        if root:
            lines.append(f"  style {ids[key]} stroke-width:3px")
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in _edges(graph)]
    return "\n".join(lines)
