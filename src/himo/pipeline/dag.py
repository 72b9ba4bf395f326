"""The pipeline graph: stage B depends on stage A when B reads a path A writes (or inside it)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from himo.errors import PipelineError
from himo.model.stage import Stage
from himo.pipeline.loader import PIPELINE_FILE
from himo.pipeline.params import load_params_file, lookup


def _self_and_parents(path: str) -> Iterator[str]:
    """`a/b/c`, `a/b`, `a`: the path and the folders holding it (paths are normalised)."""
    yield path
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        yield path


@dataclass
class Dag:
    """Every walk is linear in the stages and edges (pipelines of 100,000 stages are read by
    `status`), and iterative (a chain of thousands of stages is deeper than Python's stack)."""

    stages: dict[str, Stage]  # by name, in file order
    upstream: dict[str, set[str]] = field(default_factory=dict)  # stage -> stages it reads from
    producer: dict[str, str] = field(default_factory=dict)  # out path -> stage writing it
    inside: dict[str, set[str]] = field(default_factory=dict)  # folder -> stages writing below it

    @cached_property
    def position(self) -> dict[str, int]:
        """Stage -> its place in himo.yaml."""
        return {name: i for i, name in enumerate(self.stages)}

    @cached_property
    def downstream(self) -> dict[str, set[str]]:
        """Stage -> stages that read from it (read once the graph is built)."""
        below: dict[str, set[str]] = {name: set() for name in self.stages}
        for name, ups in self.upstream.items():
            for up in ups:
                below[up].add(name)
        return below

    def downstream_of(self, name: str) -> set[str]:
        return set(self.downstream[name])

    def output_holding(self, path: str) -> str | None:
        """The output that is `path` or a folder holding it, if a stage writes one."""
        return next((p for p in _self_and_parents(path) if p in self.producer), None)

    def producers_of(self, path: str) -> set[str]:
        """Stages writing `path`, a folder holding it, or something inside it."""
        holding = self.output_holding(path)  # outputs never nest: at most one holds `path`
        return self.inside.get(path, set()) | ({self.producer[holding]} if holding is not None else set())

    def order(self, names: set[str] | None = None) -> list[str]:
        """Topological order (file order among equals) of `names`, all stages if None: each
        wanted stage after the stages it reads from, visited depth first in file order."""
        wanted = set(self.stages) if names is None else names
        done: list[str] = []
        seen: set[str] = set()
        for start in self.stages:
            if start not in wanted or start in seen:
                continue
            seen.add(start)
            stack = [(start, self._ups_in_file_order(start))]
            while stack:  # depth first, each stage after its upstream stages (post-order)
                name, ups = stack[-1]
                up = next((u for u in ups if u not in seen), None)
                if up is not None:
                    seen.add(up)
                    stack.append((up, self._ups_in_file_order(up)))
                    continue
                stack.pop()
                if name in wanted:
                    done.append(name)
        return done

    def _ups_in_file_order(self, name: str) -> Iterator[str]:
        return iter(sorted(self.upstream[name], key=self.position.__getitem__))

    def ancestors(self, *names: str) -> set[str]:
        """Stages that any of `names` reads from, directly or not."""
        return _reachable(names, self.upstream)

    def descendants(self, *names: str) -> set[str]:
        """Stages that read from any of `names`, directly or not."""
        return _reachable(names, self.downstream)


def _reachable(starts: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    """What one or more steps along `edges` lead to from any of `starts` (one shared walk)."""
    found: set[str] = set()
    stack = list(starts)
    while stack:
        for step in edges[stack.pop()]:
            if step not in found:
                found.add(step)
                stack.append(step)
    return found


def build_dag(root: Path, stages: list[Stage]) -> Dag:
    """Link stages by paths; PipelineError for clashing outputs, cycles, dangling deps, a missing
    wdir and params keys missing from their files."""
    dag = Dag({s.name: s for s in stages})
    _index_outputs(root, dag)
    for stage in stages:
        dag.upstream[stage.name] = set()
        for dep in stage.deps:
            producers = dag.producers_of(dep)
            if not producers and not _exists(root, dep):
                raise _error(stage, f"dependency {dep!r} does not exist and no stage produces it",
                             f"create {dep}, `himo add` it, or add the stage that writes it")
            dag.upstream[stage.name].update(producers - {stage.name})
            if stage.name in producers:
                raise _error(stage, f"depends on its own output {dep!r}")
        _check_wdir(root, dag, stage)
    _check_acyclic(dag)
    _check_params(root, dag)
    return dag


def _index_outputs(root: Path, dag: Dag) -> None:
    for stage in dag.stages.values():
        for out in stage.outs:
            other = dag.producer.get(out.path)
            if other is not None:
                raise _error(stage, f"output {out.path!r} is also an output of stage '{other}'",
                             "each path is written by one stage only")
            dag.producer[out.path] = stage.name
    added: dict[str, bool] = {}  # path -> whether PATH.himo exists (folders hold many outputs)
    for path, name in dag.producer.items():
        folders = list(_self_and_parents(path))[1:]
        for outer in folders:
            if outer in dag.producer:
                raise _error(dag.stages[name], f"output {path!r} is inside output {outer!r} of stage"
                                               f" '{dag.producer[outer]}'", "outputs must not overlap")
            dag.inside.setdefault(outer, set()).add(name)
        for tracked in [path, *folders]:
            if tracked not in added:
                added[tracked] = (root / (tracked + ".himo")).exists()
            if added[tracked]:
                raise _error(dag.stages[name], f"output {path!r} is tracked by {tracked}.himo (himo add)",
                             f"a stage output cannot also be added: himo remove {tracked}.himo")


def _exists(root: Path, path: str) -> bool:
    return (root / path).exists() or (root / (path + ".himo")).exists()


def _check_wdir(root: Path, dag: Dag, stage: Stage) -> None:
    """The folder the commands run in exists (or a stage writes it)."""
    if stage.wdir == "." or (root / stage.wdir).is_dir() or dag.producers_of(stage.wdir):
        return
    problem = "is not a folder" if (root / stage.wdir).exists() else "does not exist"
    raise _error(stage, f"wdir {stage.wdir!r} {problem}", f"create the folder {stage.wdir}, or fix 'wdir'")


def _check_params(root: Path, dag: Dag) -> None:
    """Every params key a stage names is in its file (files a stage writes are checked when run)."""
    files: dict[str, dict[str, object]] = {}
    for stage in dag.stages.values():
        for ref in stage.params:
            if ref.file not in files:
                if dag.producers_of(ref.file):
                    continue
                if not (root / ref.file).is_file():
                    raise _error(stage, f"params file {ref.file} does not exist", f"create {ref.file}")
                files[ref.file] = load_params_file(root / ref.file, ref.file)
            for key in ref.keys:
                try:
                    lookup(files[ref.file], key)
                except KeyError:  # names only the key, which the message names too
                    raise _error(stage, f"params key {key!r} not found in {ref.file}",
                                 f"add {key} to {ref.file}, or remove it from the stage") from None


def _check_acyclic(dag: Dag) -> None:
    """PipelineError naming a cycle, in the direction data flows, if there is one."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in dag.stages:
        if start in state:
            continue
        state[start] = 1
        path = [start]  # the stages being visited, each reading from the next
        stack = [iter(sorted(dag.upstream[start]))]
        while stack:
            up = next((u for u in stack[-1] if state.get(u) != 2), None)
            if up is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(up) == 1:
                cycle = [up, *reversed(path[path.index(up):])]
                raise _error(dag.stages[up], f"dependency cycle: {' -> '.join(cycle)}",
                             "each stage reads an output of the one before it; a stage cannot depend on"
                             " what it produces, even indirectly")
            else:
                state[up] = 1
                path.append(up)
                stack.append(iter(sorted(dag.upstream[up])))


def _error(stage: Stage, problem: str, hint: str = "") -> PipelineError:
    return PipelineError(f"{PIPELINE_FILE}:{stage.line}: stage '{stage.name}': {problem}",
                         hint or f"fix {PIPELINE_FILE}")
