"""The pipeline graph on generated pipelines: the edges, the order, ancestors and descendants agree
with their definitions (written out plainly here), and a chain deeper than Python's recursion limit
is walked like a short one."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from himo.errors import PipelineError
from himo.model.stage import Output, Stage
from himo.pipeline.dag import Dag, build_dag
from himo.pipeline.scheduler import run_in_order


def generated(seed: int, count: int) -> list[Stage]:
    """`count` stages in a shuffled file order; each reads 0-3 earlier stages' outputs: a file,
    a file inside an output folder, or a folder holding several stages' outputs (written by
    stages that read nothing, so that reading the folder makes no cycle)."""
    rng = random.Random(seed)
    outputs: list[tuple[str, str]] = []  # (output path, a path a stage may read from it)
    stages = []
    for i in range(count):
        kind = rng.choice(["file", "folder", "grouped"])
        deps: set[str] = set()
        if kind != "grouped" and outputs:
            deps = {rng.choice(outputs)[1] for _ in range(rng.randint(0, 3))}
            if rng.random() < 0.1:
                deps.add(f"group{rng.randint(0, 9)}")  # every output in that folder
        if kind == "file":
            out, read = f"s{i}.txt", f"s{i}.txt"
        elif kind == "folder":
            out, read = f"d{i}", f"d{i}/part.csv"
        else:
            out = read = f"group{i % 10}/s{i}.txt"
        outputs.append((out, read))
        stages.append(Stage(f"s{i}", ("true",), deps=tuple(sorted(deps)), outs=(Output(out),), line=i + 1))
    rng.shuffle(stages)
    return stages


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def expected_upstream(stages: list[Stage]) -> dict[str, set[str]]:
    """B reads from A when B reads a path A writes, a folder holding it, or something inside it."""
    return {s.name: {o.name for o in stages for out in o.outs for dep in s.deps
                     if within(dep, out.path) or within(out.path, dep)} for s in stages}


def expected_order(dag: Dag, names: set[str]) -> list[str]:
    """The order by its definition: stages in file order, each after the stages it reads from
    (visited first, in file order), the wanted ones kept."""
    files = list(dag.stages)
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name not in seen:
            seen.add(name)
            for up in sorted(dag.upstream[name], key=files.index):
                visit(up)
            done.append(name)

    for name in files:
        if name in names:
            visit(name)
    return [n for n in done if n in names]


def closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    found: set[str] = set()
    frontier = set(edges[start])
    while frontier:
        found |= frontier
        frontier = {n for f in frontier for n in edges[f]} - found
    return found


@pytest.mark.parametrize("seed", range(5))
def test_order_edges_and_walks_of_a_generated_pipeline(tmp_path: Path, seed: int):
    stages = generated(seed, 300)
    dag = build_dag(tmp_path, stages)
    assert dag.upstream == expected_upstream(stages)
    order = dag.order()
    assert sorted(order) == sorted(dag.stages)
    place = {name: i for i, name in enumerate(order)}
    assert all(place[up] < place[name] for name in order for up in dag.upstream[name])
    assert order == expected_order(dag, set(dag.stages))
    some = set(random.Random(seed).sample(sorted(dag.stages), 40))
    assert dag.order(some) == expected_order(dag, some)
    downstream = {n: {d for d in dag.stages if n in dag.upstream[d]} for n in dag.stages}
    for name in sorted(some):
        assert dag.ancestors(name) == closure(name, dag.upstream)
        assert dag.descendants(name) == closure(name, downstream)
        assert dag.downstream_of(name) == downstream[name]
    assert dag.ancestors(*some) == set().union(*(closure(n, dag.upstream) for n in some))


def chain(count: int, closed: bool = False) -> list[Stage]:
    """s0 -> s1 -> ... each reading the output of the one before; `closed`: s0 reads the last one's."""
    return [Stage(f"s{i}", ("true",), deps=(f"s{(i - 1) % count}.txt",) if i or closed else (),
                  outs=(Output(f"s{i}.txt"),), line=i + 1) for i in range(count)]


def test_a_chain_deeper_than_the_recursion_limit(tmp_path: Path):
    stages = chain(5000)
    stages.reverse()  # file order against data flow: each stage's upstream comes after it
    dag = build_dag(tmp_path, stages)
    assert dag.order() == [f"s{i}" for i in range(5000)]
    assert dag.ancestors("s4999") == {f"s{i}" for i in range(4999)}
    assert dag.descendants("s0") == {f"s{i}" for i in range(1, 5000)}


def test_a_cycle_through_a_long_chain_is_named_in_the_direction_data_flows(tmp_path: Path):
    with pytest.raises(PipelineError) as caught:
        build_dag(tmp_path, chain(3000, closed=True))
    cycle = " -> ".join(f"s{i}" for i in [*range(3000), 0])
    assert caught.value.message == f"himo.yaml:1: stage 's0': dependency cycle: {cycle}"


@pytest.mark.parametrize("keep_going", [True, False])
def test_the_scheduler_runs_a_generated_pipeline_in_order_and_skips_below_failures(
        tmp_path: Path, keep_going: bool):
    dag = build_dag(tmp_path, generated(7, 300))
    names = dag.order()
    failing = set(names[5::37])
    ran: list[str] = []
    skipped: list[str] = []

    def step(name: str) -> bool:
        ran.append(name)
        return name not in failing

    run_in_order(dag, names, step, 1, keep_going, skipped.append, lambda: None)
    doomed = dag.descendants(*failing)
    if keep_going:
        assert ran == [n for n in names if n not in doomed]  # one job: in order, the order kept
        assert sorted(skipped) == sorted(doomed - set(ran))
    else:
        first = names.index(names[5])
        assert ran == names[:first + 1]
        assert sorted(skipped) == sorted(names[first + 1:])
