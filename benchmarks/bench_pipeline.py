#!/usr/bin/env python3
"""Time `repro` of a 30-stage linear pipeline of tiny stages in himo and DVC side by side.

Stage sN runs `cp s{N-1}.txt sN.txt`; stage s15 also reads the param p.x and appends
params.yaml to its output, so that a new p.x re-runs s15..s30. The same stages are written
to dvc.yaml and himo.yaml. Each scenario runs both tools one after the other (never at the
same time), each in git repositories of its own under the work dir, and reports the median
wall time of --repeat runs and the ratio DVC time / himo time. For the full run it also
times the 30 commands run directly by one shell, and reports himo's overhead per executed
stage: (himo full run - shell loop) / 30.

himo runs with its bytecode cached under WORKDIR/pycache (PYTHONPYCACHEPREFIX), so that an
editable install under PYTHONDONTWRITEBYTECODE=1 does not compile its modules on every start,
which a pip-installed DVC never does; --no-pyc-cache runs it with the environment as it is.
One untimed repro per tool warms both up first.

Standard library only; the helpers it shares with bench_storage.py are in common.py.
See benchmarks/README.md for how to set up DVC and run it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import resource
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    DEFAULT_DVC_VENV,
    CommandError,
    Measure,
    Tool,
    log,
    machine_facts,
    make_tools,
    measure,
    print_rows,
    remove,
    start_facts,
    time_runs,
    write_result,
)

STAGES = 30
PARAM_STAGE = 15  # reads p.x: a param change re-runs this stage and every one after it
SEED_TEXT = "seed\n"
PIPELINE_FILE = {"dvc": "dvc.yaml", "himo": "himo.yaml"}


# ---------------------------------------------------------------- the pipeline


def command(n: int) -> str:
    """Stage n's shell command."""
    cmd = f"cp s{n - 1}.txt s{n}.txt"
    return cmd + f" && cat params.yaml >> s{n}.txt" if n == PARAM_STAGE else cmd


def pipeline_yaml() -> str:
    """The stages, in syntax that dvc.yaml and himo.yaml share."""
    lines = ["stages:"]
    for n in range(1, STAGES + 1):
        lines += [f"  s{n}:", f"    cmd: {command(n)}", f"    deps: [s{n - 1}.txt]"]
        if n == PARAM_STAGE:
            lines.append("    params: [p.x]")
        lines.append(f"    outs: [s{n}.txt]")
    return "\n".join(lines) + "\n"


def params_text(x: int) -> str:
    return f"p:\n  x: {x}\n"


def seed(path: Path) -> None:
    """The pipeline's inputs: s0.txt and params.yaml with p.x = 0."""
    (path / "s0.txt").write_text(SEED_TEXT)
    (path / "params.yaml").write_text(params_text(0))


def expect_last_output(path: Path, x: int) -> None:
    """s30.txt is what the whole chain gives for p.x = x (so every stage ran, in order)."""
    out = path / f"s{STAGES}.txt"
    text = out.read_text() if out.exists() else None
    if text != SEED_TEXT + params_text(x):
        raise CommandError(f"{out} holds {text!r} after the run, expected the output for p.x={x}")


def output_mtimes(repo: Path) -> dict[int, int]:
    """Stage number -> mtime of its output, to see which stages a repro ran."""
    try:
        return {n: (repo / f"s{n}.txt").stat().st_mtime_ns for n in range(1, STAGES + 1)}
    except FileNotFoundError as exc:
        raise CommandError(f"{exc.filename} is missing after the run") from None


def expect_reran(before: Mapping[int, int], repo: Path, wanted: Sequence[int]) -> None:
    """Exactly the stages `wanted` rewrote their output since `before` was taken."""
    after = output_mtimes(repo)
    ran = [n for n in after if after[n] != before[n]]
    if ran != list(wanted):
        raise CommandError(f"repro rewrote the outputs of {stage_list(ran)}, expected {stage_list(wanted)}")


def stage_list(numbers: Sequence[int]) -> str:
    """`s15..s30` for a run of stages, `s2, s7` otherwise, `no stage` for none."""
    numbers = list(numbers)
    if not numbers:
        return "no stage"
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"s{numbers[0]}..s{numbers[-1]}"
    return ", ".join(f"s{n}" for n in numbers)


# ---------------------------------------------------------------- the bench


@dataclass
class Bench:
    workdir: Path
    repeat: int
    repos: dict[str, Path] = field(default_factory=dict)  # tool -> repo where repro has run
    cpu: dict[str, list[float]] = field(default_factory=dict)  # scenario -> CPU s of each sample

    @property
    def run_dir(self) -> Path:
        return self.workdir / "run"

    def scratch(self, *parts: str) -> Path:
        """An empty dir run/<parts>, wiping what an earlier repeat left there."""
        path = self.run_dir.joinpath(*parts)
        remove(path)
        path.mkdir(parents=True)
        return path

    def pipeline_repo(self, scenario: str, tool: Tool, i: int) -> Path:
        """A fresh git + tool repo holding the pipeline and its inputs, nothing run yet."""
        repo = tool.init_repo(self.scratch(scenario, tool.name) / f"repo{i}")
        seed(repo)
        (repo / PIPELINE_FILE[tool.name]).write_text(pipeline_yaml())
        return repo

    def ran_repo(self, tool: Tool) -> Path:
        """The repo full_run left; built with an untimed repro if full_run did not run."""
        if tool.name not in self.repos:
            log(f"  {tool.name}: preparing a repo where repro has run ...")
            repo = self.pipeline_repo("ready", tool, 0)
            tool.run(repo, "repro", "-q")
            expect_last_output(repo, 0)
            self.repos[tool.name] = repo
        return self.repos[tool.name]


# ---------------------------------------------------------------- generated pipelines (himo only)

GEN_CHAIN = 10  # stages per chain: every GEN_CHAIN-th stage starts one, reading data.txt
GEN_PARAM_EVERY = 100  # every so many stages also read the param p.x
GEN_FOLDER = 1000  # outputs per folder under out/


def gen_output(n: int) -> str:
    return f"out/{n // GEN_FOLDER}/s{n}.txt"


def gen_dep(n: int) -> str:
    return "data.txt" if n % GEN_CHAIN == 0 else gen_output(n - 1)


def generated_yaml(count: int) -> str:
    """`count` stages in chains of GEN_CHAIN: stage n copies its chain's previous output."""
    lines = ["stages:"]
    for n in range(count):
        lines += [f"  s{n}:", f"    cmd: cp {gen_dep(n)} {gen_output(n)}", f"    deps: [{gen_dep(n)}]"]
        if n % GEN_PARAM_EVERY == 0:
            lines.append("    params: [p.x]")
        lines.append(f"    outs: [{gen_output(n)}]")
    return "\n".join(lines) + "\n"


def generated_lock(count: int, digest: str) -> str:
    """himo.lock as `repro` would write it once every stage has run: every dep and output holds
    SEED_TEXT, whose digest is `digest` (so that one cache object serves every output)."""
    size = len(SEED_TEXT)
    parts = ["schema: '1'\nstages:\n"]
    for n in range(count):
        parts.append(f"  s{n}:\n    cmd:\n    - cp {gen_dep(n)} {gen_output(n)}\n"
                     f"    deps:\n    - path: {gen_dep(n)}\n      digest: {digest}\n      size: {size}\n")
        if n % GEN_PARAM_EVERY == 0:
            parts.append("    params:\n      params.yaml:\n        p.x: 0\n")
        parts.append(f"    outs:\n    - path: {gen_output(n)}\n      digest: {digest}\n      size: {size}\n")
    return "".join(parts)


def generated_repo(bench: Bench, tool: Tool, count: int, ran: bool) -> Path:
    """A repo with `count` generated stages; `ran`: as if every stage had run (outputs in place,
    himo.lock written, the one object in the cache), else none has. data.txt is `himo add`ed:
    its pointer gives SEED_TEXT's digest and puts its object in the cache."""
    repo = tool.init_repo(bench.scratch(f"generated{count}", "ran" if ran else "new") / "repo")
    (repo / "data.txt").write_text(SEED_TEXT)
    (repo / "params.yaml").write_text(params_text(0))
    tool.run(repo, "add", "-q", "data.txt")
    (repo / "himo.yaml").write_text(generated_yaml(count))
    if ran:
        pointer = (repo / "data.txt.himo").read_text()
        digest = next(line.split(":", 1)[1].strip() for line in pointer.splitlines()
                      if line.startswith("digest:"))
        for folder in range((count - 1) // GEN_FOLDER + 1):
            (repo / "out" / str(folder)).mkdir(parents=True)
        for n in range(count):
            (repo / gen_output(n)).write_text(SEED_TEXT)
        (repo / "himo.lock").write_text(generated_lock(count, digest))
    return repo


def expect_status(repo: Path, tool: Tool, stale: int) -> None:
    """`status` names `stale` stages (every one, or none) and no data change."""
    lines = tool.run(repo, "status").splitlines()
    named = [line for line in lines if line.startswith("stage ")]
    if len(named) != stale or (stale == 0 and lines != ["Everything is up to date."]):
        raise CommandError(f"status named {len(named)} stale stages, expected {stale}: {lines[:3]}")


def generated_status(bench: Bench, tool: Tool, count: int, ran: bool) -> list[float]:
    """`status` of `count` generated stages: none has run (`ran` False) or all have. Besides
    the wall time, the CPU time of the command (user + system), which a shared machine's load
    changes less."""
    repo = generated_repo(bench, tool, count, ran)
    expect_status(repo, tool, 0 if ran else count)  # untimed: the stat cache is filled
    samples, cpu = [], bench.cpu.setdefault(f"gen{size_label(count)}_status{'' if ran else '_new'}", [])
    for _ in range(bench.repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples += tool.time(1, ["status"], lambda i: repo)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return samples


def generated_scenarios(sizes: Sequence[int]) -> list[Scenario]:
    """For each size: `status` before and after every stage ran, himo only."""
    return [Scenario(f"gen{size_label(size)}_status{suffix}",
                     functools.partial(generated_status, count=size, ran=ran), Target(), tools=("himo",))
            for size in sizes for suffix, ran in (("_new", False), ("", True))]


def size_label(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


# ---------------------------------------------------------------- scenarios


def full_run(bench: Bench, tool: Tool) -> list[float]:
    """First `repro` in a fresh repo (empty cache and run-cache): all 30 stages run."""
    made: list[Path] = []

    def prepare(i: int) -> Path:
        made.append(bench.pipeline_repo("full_run", tool, i))
        return made[-1]

    samples = tool.time(bench.repeat, ["repro", "-q"], prepare, lambda repo: expect_last_output(repo, 0))
    bench.repos[tool.name] = made[-1]  # noop and param_change go on in the last one
    return samples


def noop(bench: Bench, tool: Tool) -> list[float]:
    """`repro` with everything up to date: no stage may run."""
    repo = bench.ran_repo(tool)
    before = output_mtimes(repo)
    return tool.time(bench.repeat, ["repro", "-q"], lambda i: repo, lambda r: expect_reran(before, r, []))


def param_change(bench: Bench, tool: Tool) -> list[float]:
    """A new p.x each repeat, then `repro`: stages 15..30 run, 1..14 do not."""
    repo = bench.ran_repo(tool)
    befores: list[dict[int, int]] = []  # output mtimes before each repeat's repro

    def prepare(i: int) -> Path:
        (repo / "params.yaml").write_text(params_text(i + 1))
        befores.append(output_mtimes(repo))
        return repo

    def check(repo: Path) -> None:
        expect_reran(befores[-1], repo, range(PARAM_STAGE, STAGES + 1))
        expect_last_output(repo, len(befores))

    return tool.time(bench.repeat, ["repro", "-q"], prepare, check)


def shell_loop(bench: Bench) -> list[float]:
    """The 30 commands run directly, one after the other, by a single `sh`."""
    script = "\n".join(["set -e", *(command(n) for n in range(1, STAGES + 1))]) + "\n"

    def prepare(i: int) -> Path:
        path = bench.scratch("shell", f"dir{i}")
        seed(path)
        (path / "stages.sh").write_text(script)
        return path

    return time_runs(["sh", "stages.sh"], bench.repeat, prepare, lambda path: expect_last_output(path, 0))


@dataclass(frozen=True)
class Target:
    min_ratio: float | None = None  # DVC time / himo time at least this
    max_himo_s: float | None = None  # himo's median under this
    max_overhead_ms: float | None = None  # himo's overhead per executed stage under this

    def describe(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f">={self.min_ratio:g}x")
        if self.max_himo_s is not None:
            parts.append(f"<{self.max_himo_s:g} s")
        if self.max_overhead_ms is not None:
            parts.append(f"<{self.max_overhead_ms:g} ms/stage")
        return ", ".join(parts)


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Bench, Tool], list[float]]
    target: Target
    reference: Callable[[Bench], list[float]] | None = None  # the same work without a tool
    tools: tuple[str, ...] = ("dvc", "himo")  # the tools it times


SCENARIOS = [
    Scenario("full_run", full_run, Target(min_ratio=3, max_overhead_ms=30), shell_loop),
    Scenario("noop", noop, Target(min_ratio=5, max_himo_s=0.25)),
    Scenario("param_change", param_change, Target()),
]


# ---------------------------------------------------------------- results


@dataclass
class Result:
    scenario: Scenario
    dvc: Measure
    himo: Measure
    shell: Measure

    @property
    def ratio(self) -> float | None:
        dvc, himo = self.dvc.median, self.himo.median
        return dvc / himo if dvc is not None and himo else None

    @property
    def overhead_ms(self) -> float | None:
        """himo's time per executed stage beyond running the commands themselves."""
        himo, shell = self.himo.median, self.shell.median
        return None if himo is None or shell is None else (himo - shell) / STAGES * 1000

    def missed(self) -> list[str] | None:
        """The parts of the target himo missed; None when some number is not there."""
        target = self.scenario.target
        checks = [  # (limit, value, met, label)
            (target.min_ratio, self.ratio, lambda v, lim: v >= lim, f">={target.min_ratio}x"),
            (target.max_himo_s, self.himo.median, lambda v, lim: v < lim, f"<{target.max_himo_s} s"),
            (target.max_overhead_ms, self.overhead_ms, lambda v, lim: v < lim, "ms/stage"),
        ]
        checks = [check for check in checks if check[0] is not None]
        if any(value is None for _, value, _, _ in checks):
            return None
        return [label for limit, value, met, label in checks if not met(value, limit)]

    def verdict(self) -> str:
        missed = self.missed()
        if not self.scenario.target.describe() or missed is None:
            return ""
        return "ok" if not missed else f"MISSED ({', '.join(missed)})"

    def row(self) -> list[str]:
        ratio, overhead = self.ratio, self.overhead_ms
        return [
            self.scenario.name,
            self.dvc.cell(),
            self.himo.cell(),
            "-" if ratio is None else f"{ratio:.1f}x",
            self.shell.cell(),
            "-" if overhead is None else f"{overhead:.1f}",
            self.scenario.target.describe(),
            self.verdict(),
        ]

    def as_json(self) -> dict[str, object]:
        target = self.scenario.target
        return {
            "scenario": self.scenario.name,
            "dvc": self.dvc.as_json(),
            "himo": self.himo.as_json(),
            "shell_loop": self.shell.as_json(),
            "ratio_dvc_over_himo": self.ratio,
            "himo_overhead_ms_per_stage": self.overhead_ms,
            "target": {
                "min_ratio": target.min_ratio,
                "max_himo_s": target.max_himo_s,
                "max_overhead_ms_per_stage": target.max_overhead_ms,
            },
            "missed": self.missed(),
        }


def run_scenario(bench: Bench, scenario: Scenario, tools: Mapping[str, Tool]) -> Result:
    log(f"[{scenario.name}]")
    measures = {}
    for name, tool in tools.items():
        if name not in scenario.tools:
            measures[name] = Measure()
            continue
        measures[name] = measure(lambda tool=tool: scenario.run(bench, tool))
        log(f"  {name}: {measures[name].error or measures[name].cell()}")
    shell = Measure()
    if scenario.reference is not None:
        reference = scenario.reference
        shell = measure(lambda: reference(bench))
        log(f"  sh: {shell.error or shell.cell()}")
    return Result(scenario, measures["dvc"], measures["himo"], shell)


def print_table(results: Sequence[Result], cpu: Mapping[str, list[float]]) -> None:
    header = ["scenario", "dvc s", "himo s", "dvc/himo", "sh s", "himo ms/stage", "himo target", "verdict"]
    print_rows(header, [result.row() for result in results])
    for result in results:
        for name, m in (("dvc", result.dvc), ("himo", result.himo), ("sh", result.shell)):
            if m.error:
                print(f"{result.scenario.name} {name}: n/a: {m.error}")
    if shown := {name: samples for name, samples in cpu.items() if samples}:
        print()
        print_rows(["scenario", "himo CPU s (user + sys, median)"],
                   [[name, f"{statistics.median(samples):.3f}"] for name, samples in shown.items()])


def with_pyc_cache(tool: Tool, prefix: Path) -> Tool:
    """The tool with Python bytecode written to and read from prefix."""
    env = {k: v for k, v in tool.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return dataclasses.replace(tool, env=env | {"PYTHONPYCACHEPREFIX": str(prefix)})


def warm_up(bench: Bench, tools: Mapping[str, Tool]) -> None:
    """An untimed full run and no-op per tool: bytecode written, files in the page cache."""
    for tool in tools.values():
        try:
            repo = bench.pipeline_repo("warmup", tool, 0)
            tool.run(repo, "repro", "-q")
            tool.run(repo, "repro", "-q")
        except CommandError as exc:
            log(f"  {tool.name}: warm-up failed: {exc}")


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument("--only", help="comma-separated scenarios to run")
    parser.add_argument("--himo", default=str(Path(sys.executable).parent / "himo"))
    parser.add_argument("--dvc", default=str(DEFAULT_DVC_VENV / "bin" / "dvc"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/himo-bench-pipeline"))
    parser.add_argument("--json-out", type=Path, help="result file (default: results/BENCH-DATE.json)")
    parser.add_argument("--keep", action="store_true", help="keep the repos in WORKDIR/run")
    parser.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="run himo with the environment as it is (no PYTHONPYCACHEPREFIX)",
    )
    parser.add_argument(
        "--generated",
        metavar="N[,N...]",
        help="add `status` of N generated stages (himo only), e.g. 20000,40000,100000",
    )
    opts = parser.parse_args(argv)
    if opts.repeat < 1:
        parser.error("--repeat must be at least 1")
    sizes = [int(n) for n in opts.generated.split(",")] if opts.generated else []
    if any(n < 1 for n in sizes):
        parser.error("--generated sizes must be at least 1")
    known = SCENARIOS + generated_scenarios(sizes)
    opts.scenarios = known
    if opts.only:
        names = {name.strip() for name in opts.only.split(",") if name.strip()}
        unknown = names - {s.name for s in known}
        if unknown:
            valid = ", ".join(s.name for s in known)
            parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {valid}")
        opts.scenarios = [s for s in known if s.name in names]
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = start_facts()
    bench = Bench(opts.workdir.resolve(), opts.repeat)
    remove(bench.run_dir)
    bench.run_dir.mkdir(parents=True)
    tools = make_tools(opts, bench.run_dir)
    pyc = "as the environment has it"
    if not opts.no_pyc_cache:
        tools["himo"] = with_pyc_cache(tools["himo"], bench.workdir / "pycache")
        pyc = f"cached in {bench.workdir / 'pycache'}"
    facts = machine_facts(bench.workdir, tools)
    facts |= {
        "repeat": str(opts.repeat),
        "pipeline": f"{STAGES} stages `cp s<N-1>.txt s<N>.txt`, s{PARAM_STAGE} also reads p.x",
        "himo bytecode": pyc,
        "load average": load_average(),
    }
    for key, value in facts.items():
        print(f"{key + ':':15} {value}")
    print(flush=True)
    try:
        log("[warm-up]")
        warm_up(bench, tools)
        results = [run_scenario(bench, s, tools) for s in opts.scenarios]
    finally:
        if not opts.keep:
            remove(bench.run_dir)
    facts["load average at end"] = load_average()
    print()
    print_table(results, bench.cpu)
    print(f"\nload average at end: {facts['load average at end']}")
    doc = {"facts": facts, "results": [r.as_json() for r in results], "cpu_seconds": bench.cpu}
    write_result("pipeline", bench.workdir, started, doc, opts.himo, opts.dvc, opts.json_out)
    failed = any(m.error for r in results for m in (r.dvc, r.himo, r.shell))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
