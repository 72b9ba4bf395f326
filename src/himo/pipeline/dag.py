"""The pipeline graph: stage B depends on stage A when B reads a path A writes (or inside it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from himo.errors import PipelineError
from himo.model.stage import Stage
from himo.pipeline.loader import PIPELINE_FILE
from himo.pipeline.params import load_params_file, lookup


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


@dataclass
class Dag:
    stages: dict[str, Stage]  # by name, in file order
    upstream: dict[str, set[str]] = field(default_factory=dict)  # stage -> stages it reads from
    producer: dict[str, str] = field(default_factory=dict)  # out path -> stage writing it

    def downstream_of(self, name: str) -> set[str]:
        return {s for s, ups in self.upstream.items() if name in ups}

    def order(self, names: set[str] | None = None) -> list[str]:
        """Topological order (file order among equals) of `names`, all stages if None."""
        wanted = set(self.stages) if names is None else names
        done: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for up in sorted(self.upstream[name], key=list(self.stages).index):
                visit(up)
            if name in wanted:
                done.append(name)

        for name in self.stages:
            if name in wanted:
                visit(name)
        return done

    def ancestors(self, name: str) -> set[str]:
        found: set[str] = set()
        stack = [name]
        while stack:
            for up in self.upstream[stack.pop()]:
                if up not in found:
                    found.add(up)
                    stack.append(up)
        return found

    def descendants(self, name: str) -> set[str]:
        found: set[str] = set()
        stack = [name]
        while stack:
            for down in self.downstream_of(stack.pop()):
                if down not in found:
                    found.add(down)
                    stack.append(down)
        return found


def build_dag(root: Path, stages: list[Stage]) -> Dag:
    """Link stages by paths; PipelineError for clashing outputs, cycles, dangling deps, a missing
    wdir and params keys missing from their files."""
    dag = Dag({s.name: s for s in stages})
    _index_outputs(root, dag)
    for stage in stages:
        dag.upstream[stage.name] = set()
        for dep in stage.deps:
            producers = _producers_of(dag, dep)
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
    for path, name in dag.producer.items():
        for outer in [str(p) for p in PurePosixPath(path).parents if str(p) != "."]:
            if outer in dag.producer:
                raise _error(dag.stages[name], f"output {path!r} is inside output {outer!r} of stage"
                                               f" '{dag.producer[outer]}'", "outputs must not overlap")
        for tracked in [path, *map(str, PurePosixPath(path).parents)][:-1]:
            if (root / (tracked + ".himo")).exists():
                raise _error(dag.stages[name], f"output {path!r} is tracked by {tracked}.himo (himo add)",
                             f"a stage output cannot also be added: himo remove {tracked}.himo")


def _producers_of(dag: Dag, dep: str) -> set[str]:
    return {name for out, name in dag.producer.items() if _within(dep, out) or _within(out, dep)}


def _exists(root: Path, path: str) -> bool:
    return (root / path).exists() or (root / (path + ".himo")).exists()


def _check_wdir(root: Path, dag: Dag, stage: Stage) -> None:
    """The folder the commands run in exists (or a stage writes it)."""
    if stage.wdir == "." or (root / stage.wdir).is_dir() or _producers_of(dag, stage.wdir):
        return
    problem = "is not a folder" if (root / stage.wdir).exists() else "does not exist"
    raise _error(stage, f"wdir {stage.wdir!r} {problem}", f"create the folder {stage.wdir}, or fix 'wdir'")


def _check_params(root: Path, dag: Dag) -> None:
    """Every params key a stage names is in its file (files a stage writes are checked when run)."""
    files: dict[str, dict[str, object]] = {}
    for stage in dag.stages.values():
        for ref in stage.params:
            if ref.file not in files:
                if _producers_of(dag, ref.file):
                    continue
                if not (root / ref.file).is_file():
                    raise _error(stage, f"params file {ref.file} does not exist", f"create {ref.file}")
                files[ref.file] = load_params_file(root / ref.file, ref.file)
            for key in ref.keys:
                try:
                    lookup(files[ref.file], key)
                except KeyError:
                    raise _error(stage, f"params key {key!r} not found in {ref.file}",
                                 f"add {key} to {ref.file}, or remove it from the stage") from None


def _check_acyclic(dag: Dag) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [name, *reversed(trail[trail.index(name):])]  # in the direction data flows
            raise _error(dag.stages[name], f"dependency cycle: {' -> '.join(cycle)}",
                         "each stage reads an output of the one before it; a stage cannot depend on"
                         " what it produces, even indirectly")
        state[name] = 1
        for up in sorted(dag.upstream[name]):
            visit(up, [*trail, name])
        state[name] = 2

    for name in dag.stages:
        visit(name, [])


def _error(stage: Stage, problem: str, hint: str = "") -> PipelineError:
    return PipelineError(f"{PIPELINE_FILE}:{stage.line}: stage '{stage.name}': {problem}",
                         hint or f"fix {PIPELINE_FILE}")
