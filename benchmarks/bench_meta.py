#!/usr/bin/env python3
"""Time the metadata store's queries and what recording costs, on SQLite and PostgreSQL.

For each backend, gen_meta_store.py fills a new store (SQLite: a file under the work dir;
PostgreSQL: a throwaway database, dropped at the end) with --executions executions, then:
- lineage: upstream lineage of the newest daily snapshot, 10 executions deep (a chain of
  snapshots, each derived from the previous day's), timed as the query inside the process
  (himo.meta.queries.lineage on an open store; target < 50 ms), through the Python API
  (himo.api.history.lineage: opens the store too), and as the `himo lineage` command;
- lineage fan-out: downstream lineage of the most-read deployed model (read by every
  scheduled predict), 10 deep; no target, for reference;
- runs: the newest 50 runs with their executions (queries.list_runs; target < 100 ms), the API
  and `himo runs --limit 50`;
- recording: `repro` of bench_pipeline.py's 30-stage pipeline, full run (fresh repo each time)
  and no-op, with recording off (HIMO_META_RECORD=0), on with the default background delivery,
  and on with inline delivery, all into that store (target: < 5 % over off). The modes
  alternate within each repeat, so a change in the machine's load hits them alike.
Medians of --repeat warm runs (one untimed run first). Run it with the dev venv's Python.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import gen_meta_store
import sqlalchemy as sa
from bench_pipeline import STAGES, expect_last_output, expect_reran, output_mtimes, pipeline_yaml, seed
from common import (
    CommandError,
    Measure,
    choices_list,
    fs_type,
    log,
    print_rows,
    remove,
    run,
    start_facts,
    write_result,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
DEPTH = 10
RUNS_LIMIT = 50
MODES = {  # recording mode -> environment
    "off": {"HIMO_META_RECORD": "0"},
    "background": {"HIMO_META_DELIVER": "background"},
    "inline": {"HIMO_META_DELIVER": "inline"},
}


# ---------------------------------------------------------------- stores


@contextmanager
def sqlite_store(workdir: Path, executions: int, reuse: bool,
                 label: str = "meta") -> Iterator[tuple[str, bool]]:
    """(url, made now): a store file per size in `workdir`, kept for the next run when `reuse`."""
    path = workdir / f"meta-{executions}.db"
    if path.exists() and not reuse:
        remove(path)
    yield f"sqlite:///{path}", not path.exists()


@contextmanager
def postgres_store(workdir: Path, executions: int, reuse: bool,
                   label: str = "meta") -> Iterator[tuple[str, bool]]:
    """(url, made now): a new database `himo_bench_LABEL_...`, dropped afterwards (kept, and reused,
    with --reuse). bench_ui.py uses these too, with its own label."""
    import psycopg

    prefix = f"himo_bench_{label}"
    name = f"{prefix}_{executions}" if reuse else f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        made = not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if made:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", made
    finally:
        if not reuse:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


STORES = {"sqlite": sqlite_store, "postgresql": postgres_store}


@dataclass(frozen=True)
class Targets:
    snapshot: str  # digest of the newest daily snapshot: the head of the chain
    model: str  # digest of the model read by the most predict executions


def find_targets(url: str) -> Targets:
    from himo.meta.store import Store

    store = Store(url).open()
    try:
        with store.session() as session:
            snapshot = session.execute(sa.text(
                "SELECT a.digest FROM artifact a JOIN path p ON p.artifact_id = a.id "
                "WHERE p.path LIKE 'data/snapshots/%' ORDER BY a.first_seen DESC LIMIT 1")).scalar_one()
            model = session.execute(sa.text(
                "SELECT a.digest FROM artifact a JOIN event e ON e.artifact_id = a.id "
                "WHERE a.kind = 'model' AND e.direction = 'INPUT' AND a.id IN (SELECT artifact_id FROM event "
                "WHERE direction = 'INPUT' ORDER BY id DESC LIMIT 1000) "
                "GROUP BY a.digest ORDER BY count(*) DESC LIMIT 1")).scalar_one()
    finally:
        store.close()
    return Targets(snapshot, model)


# ---------------------------------------------------------------- timing


def timed(repeat: int, call: Callable[[], object], check: Callable[[object], None]) -> list[float]:
    """Median-ready samples of call(), after one untimed (warming) call that check() accepts."""
    check(call())
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CommandError(message)


@dataclass
class Bench:
    workdir: Path
    repeat: int
    himo: str
    url: str = ""
    backend: str = ""  # the store under test: sqlite, postgresql
    targets: Targets | None = None
    env: dict[str, str] = field(default_factory=dict)

    def himo_env(self, **extra: str) -> dict[str, str]:
        """himo with bytecode cached (as bench_pipeline.py) and the store under test."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", *MODES["off"],
                                                                 *MODES["inline"])}
        return env | {"PYTHONPYCACHEPREFIX": str(self.workdir / "pycache"), "HIMO_META_URL": self.url} | extra

    def repo(self, *parts: str) -> Path:
        path = self.workdir.joinpath("run", *parts)
        remove(path)
        path.mkdir(parents=True)
        run(["git", "init", "-q"], path)
        run([self.himo, "init", "-q"], path, self.himo_env())
        return path

    def command(self, args: Sequence[str], cwd: Path, check: Callable[[str], None],
                program: str | None = None, cpu: bool = False) -> list[float]:
        """Wall seconds of each run; with `cpu`, its CPU seconds (user + sys) instead: on a loaded
        machine wall time mostly measures the wait for a core, CPU time what the command costs."""
        env = self.himo_env()
        check(run([program or self.himo, *args], cwd, env))
        samples = []
        for _ in range(self.repeat):
            start, used = time.perf_counter(), children_cpu()
            run([program or self.himo, *args], cwd, env)
            samples.append(children_cpu() - used if cpu else time.perf_counter() - start)
        return samples

    def python(self, args: Sequence[str], cwd: Path, cpu: bool = False) -> list[float]:
        """The interpreter himo runs on (the `himo` script's folder), same environment."""
        return self.command(args, cwd, lambda out: None, str(Path(self.himo).parent / "python"), cpu)


def children_cpu() -> float:
    """CPU seconds (user + sys) used so far by the ended child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- query scenarios


def lineage_checks(bench: Bench) -> tuple[Callable[[object], None], Callable[[str], None]]:
    def graph(result: object) -> None:
        graph = getattr(result, "graph", result)
        ingests = [e for e in graph.executions.values() if e.stage == "ingest"]
        expect(len(ingests) == DEPTH, f"lineage found {len(ingests)} ingest executions, expected {DEPTH}")

    def text(out: str) -> None:
        doc = json.loads(out)
        expect(bench.targets.snapshot in json.dumps(doc), "`himo lineage --json` does not name the target")

    return graph, text


def query_scenarios(bench: Bench, repo: Path) -> dict[str, Callable[[], list[float]]]:
    from himo.api import history
    from himo.meta import queries
    from himo.meta.statements import on
    from himo.meta.store import Store
    from himo.workspace.repo import Repo

    os.environ["HIMO_META_URL"] = bench.url
    api_repo = Repo.find(repo)
    store = Store(bench.url).open()
    snapshot, model = bench.targets.snapshot, bench.targets.model
    check_graph, check_text = lineage_checks(bench)

    def in_store(query: Callable[..., object], *args: object, **kwargs: object) -> Callable[[], object]:
        def call() -> object:
            with store.session() as session:
                return query(on(session), *args, **kwargs)
        return call

    def fan_out(result: object) -> None:
        expect(bool(result.omitted), "the model's downstream lineage omitted no reader: not a fan-out")

    def fifty(result: object) -> None:
        expect(len(result) == RUNS_LIMIT, f"the run list has {len(result)} runs, expected {RUNS_LIMIT}")

    def fifty_json(out: str) -> None:
        fifty(json.loads(out) if out.lstrip().startswith("[") else json.loads(out)["runs"])

    up = {"upstream": True, "downstream": False, "depth": DEPTH}
    lineage_args = ["lineage", snapshot, "--upstream", "--depth", str(DEPTH), "--json"]
    runs_args = ["runs", "--limit", str(RUNS_LIMIT), "--json"]
    return {
        "lineage_query": lambda: timed(bench.repeat, in_store(queries.lineage, snapshot, **up), check_graph),
        "lineage_api": lambda: timed(bench.repeat, lambda: history.lineage(api_repo, snapshot, **up),
                                     check_graph),
        "lineage_cmd": lambda: bench.command(lineage_args, repo, check_text),
        "lineage_cmd_cpu": lambda: bench.command(lineage_args, repo, check_text, cpu=True),
        "fanout_query": lambda: timed(bench.repeat, in_store(queries.lineage, model, upstream=False,
                                                             downstream=True, depth=DEPTH), fan_out),
        "runs_query": lambda: timed(bench.repeat, in_store(queries.list_runs, limit=RUNS_LIMIT), fifty),
        "runs_api": lambda: timed(bench.repeat, lambda: history.runs(api_repo, limit=RUNS_LIMIT), fifty),
        "runs_cmd": lambda: bench.command(runs_args, repo, fifty_json),
        "runs_cmd_cpu": lambda: bench.command(runs_args, repo, fifty_json, cpu=True),
        "version_cmd": lambda: bench.command(["--version"], repo, lambda out: None),
        "version_cmd_cpu": lambda: bench.command(["--version"], repo, lambda out: None, cpu=True),
        "sqlalchemy_import": lambda: bench.python(["-c", "import sqlalchemy.orm"], repo),
        "sqlalchemy_import_cpu": lambda: bench.python(["-c", "import sqlalchemy.orm"], repo, cpu=True),
        "floor_cpu": lambda: bench.python(["-c", NO_SQLALCHEMY], repo, cpu=True),
    }


# ---------------------------------------------------------------- recording scenarios


def wait_delivered(repo: Path, timeout: float = 60) -> None:
    """Until the background `himo meta sync` has emptied the journal (untimed)."""
    from himo.meta.journal import pending

    deadline = time.monotonic() + timeout
    while pending(repo / ".himo" / "journal"):
        if time.monotonic() > deadline:
            raise CommandError(f"{repo}: the journal was not delivered within {timeout:.0f} s")
        time.sleep(0.05)


def pipeline_repo(bench: Bench, scenario: str, mode: str, n: int) -> Path:
    """A fresh repo with the 30-stage pipeline; for the no-op, one repro already ran in it."""
    repo = bench.repo("recording", bench.backend, scenario, mode, f"repo{n}")
    seed(repo)
    (repo / "himo.yaml").write_text(pipeline_yaml())
    if scenario == "noop":
        run([bench.himo, "repro", "-q"], repo, bench.himo_env(**MODES[mode]))
        wait_delivered(repo)
    return repo


def recording_samples(bench: Bench, scenario: str) -> dict[str, list[float]]:
    """Per mode, `repro -q` samples; the modes take turns within each repeat."""
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    noop_repos = {}
    if scenario == "noop":
        noop_repos = {mode: pipeline_repo(bench, scenario, mode, 0) for mode in MODES}
    for i in range(-1, bench.repeat):  # -1: an untimed warm-up round
        for mode, extra in MODES.items():
            repo = noop_repos.get(mode) or pipeline_repo(bench, scenario, mode, i + 1)
            before = output_mtimes(repo) if scenario == "noop" else {}
            os.sync()
            start = time.perf_counter()
            run([bench.himo, "repro", "-q"], repo, bench.himo_env(**extra))
            elapsed = time.perf_counter() - start
            if scenario == "noop":
                expect_reran(before, repo, [])
            else:
                expect_last_output(repo, 0)
                wait_delivered(repo)  # a no-op run starts no delivery: it waits for the next one
            if i >= 0:
                samples[mode].append(elapsed)
            # Repos are kept until the run ends: on ext4 without a journal, creating files soon
            # after deleting many is slow for minutes (see bench_storage.py), which made samples
            # after a removal slower at random, whatever the mode.
    from himo.meta.journal import pending

    for mode, repo in noop_repos.items():  # the no-op runs waited in the journal: deliver them now
        run([bench.himo, "meta", "sync", "-q"], repo, bench.himo_env(**MODES[mode]))
        if mode != "off":
            expect(not pending(repo / ".himo" / "journal"), f"{repo}: no-op runs were not delivered")
    return samples


def expect_recorded(bench: Bench) -> None:
    """The recording modes did write runs into the store (so `off` is not timed against itself)."""
    from himo.meta.store import Store

    store = Store(bench.url).open()
    try:
        with store.session() as session:
            found = session.execute(sa.text("SELECT count(*) FROM execution WHERE stage = :s"),
                                    {"s": f"s{STAGES}"}).scalar()
    finally:
        store.close()
    expect(found > 0, f"no execution of stage s{STAGES} in the store: recording did not happen")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Row:
    backend: str
    name: str  # measurement
    measure: Measure
    target_s: float | None = None  # median under this
    baseline: Measure | None = None  # the overhead is median / baseline median - 1
    max_overhead: float | None = None  # ... under this

    @property
    def overhead(self) -> float | None:
        if self.baseline is None or self.measure.median is None or not self.baseline.median:
            return None
        return self.measure.median / self.baseline.median - 1

    def target(self) -> str:
        if self.target_s is not None:
            return f"< {self.target_s * 1000:g} ms"
        return f"< {self.max_overhead:.0%} over off" if self.max_overhead is not None else ""

    def met(self) -> str:
        if self.target_s is not None and self.measure.median is not None:
            return "yes" if self.measure.median < self.target_s else "NO"
        if self.max_overhead is not None and self.overhead is not None:
            return "yes" if self.overhead < self.max_overhead else "NO"
        return ""

    def cells(self) -> list[str]:
        median = self.measure.median
        text = "n/a" if self.measure.error else "-" if median is None else \
            f"{median:.1f} s" if median >= 10 else f"{median * 1000:.1f} ms"
        if self.overhead is not None:
            text += f" ({self.overhead:+.1%})"
        return [self.backend, self.name, text, self.target(), self.met()]

    def as_json(self) -> dict[str, object]:
        return {"backend": self.backend, "measurement": self.name, **self.measure.as_json(),
                "target_s": self.target_s, "overhead": self.overhead, "max_overhead": self.max_overhead,
                "met": self.met() or None}


# The modules `himo runs` imports, except SQLAlchemy and what needs it (himo.meta.store, queries, schema).
NO_SQLALCHEMY = ("import json, sqlite3, himo.cli.main, himo.cli.history, himo.api.history, himo.meta.reads, "
                 "himo.meta.results, himo.workspace.repo")

# scenario, label, target (s). A command's CPU time is at most its wall time on an idle machine:
# CPU over the target misses it whatever the load.
QUERY_ROWS = [
    ("lineage_query", f"lineage, {DEPTH}-hop chain: query", 0.050),
    ("lineage_api", f"lineage, {DEPTH}-hop chain: api.lineage (opens the store)", None),
    ("lineage_cmd", f"lineage, {DEPTH}-hop chain: `himo lineage` command", 0.250),
    ("lineage_cmd_cpu", f"lineage, {DEPTH}-hop chain: `himo lineage` command, CPU time (user + sys)", 0.250),
    ("fanout_query", f"lineage downstream of a deployed model, {DEPTH} deep: query", None),
    ("runs_query", f"runs --limit {RUNS_LIMIT}: query", 0.100),
    ("runs_api", f"runs --limit {RUNS_LIMIT}: api.runs (opens the store)", None),
    ("runs_cmd", f"runs --limit {RUNS_LIMIT}: `himo runs` command", 0.250),
    ("runs_cmd_cpu", f"runs --limit {RUNS_LIMIT}: `himo runs` command, CPU time (user + sys)", 0.250),
    ("version_cmd", "start-up alone: `himo --version` command", None),
    ("version_cmd_cpu", "start-up alone: `himo --version` command, CPU time (user + sys)", None),
    ("sqlalchemy_import", "what the commands import: `python -c 'import sqlalchemy.orm'`", None),
    ("sqlalchemy_import_cpu", "what the commands import: `python -c 'import sqlalchemy.orm'`, CPU", None),
    ("floor_cpu", "what `himo runs` imports but SQLAlchemy (a stdlib sqlite3 read path's floor), CPU", None),
]


def bench_backend(bench: Bench, backend: str, opts: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with STORES[backend](bench.workdir, opts.executions, opts.reuse) as (url, fresh):
        bench.url, bench.backend = url, backend
        if fresh:
            log(f"[{backend}] generating {opts.executions:,} executions ...")
            summary = gen_meta_store.generate(url, opts.executions, seed=opts.seed, progress=True)
            log(f"  {summary.text()}")
            rows.append(Row(backend, f"generate: {summary.rows / summary.seconds:,.0f} rows/s",
                            Measure(samples=[summary.seconds])))
        scenarios = {}
        if "queries" in opts.parts:  # (a reused store's newest events may be recording runs' only)
            bench.targets = find_targets(url)
            scenarios = query_scenarios(bench, bench.repo(backend, "query"))
        for key, label, target in QUERY_ROWS if scenarios else ():
            log(f"[{backend}] {label}")
            rows.append(Row(backend, label, measure(scenarios[key]), target))
            log(f"  {rows[-1].cells()[2]}")
        if "recording" in opts.parts:
            for scenario in ("noop", "full_run"):
                log(f"[{backend}] recording: {scenario}")
                rows += recording_rows(bench, backend, scenario)
            expect_recorded(bench)
    return rows


def recording_rows(bench: Bench, backend: str, scenario: str) -> list[Row]:
    label = "no-op repro" if scenario == "noop" else f"{STAGES}-stage full repro"
    try:
        samples = recording_samples(bench, scenario)
    except (CommandError, OSError) as exc:
        return [Row(backend, f"{label}, recording {mode}", Measure(error=str(exc))) for mode in MODES]
    off = Measure(samples=samples["off"])
    rows = [Row(backend, f"{label}, recording off", off)]
    for mode in ("background", "inline"):
        rows.append(Row(backend, f"{label}, recording on ({mode} delivery)", Measure(samples=samples[mode]),
                        baseline=off, max_overhead=0.05))
        log(f"  {mode}: {rows[-1].cells()[2]}")
    return rows


def measure(what: Callable[[], list[float]]) -> Measure:
    try:
        return Measure(samples=what())
    except (CommandError, OSError, ValueError, AttributeError) as exc:
        return Measure(error=f"{type(exc).__name__}: {exc}")


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


# ---------------------------------------------------------------- command line


def add_store_options(parser: argparse.ArgumentParser, repeat: int, workdir: str) -> None:
    """The options of the benchmarks that run on a generated store (this one and bench_ui)."""
    parser.add_argument("-n", "--executions", type=int, default=gen_meta_store.DEFAULT_EXECUTIONS)
    parser.add_argument("--repeat", type=int, default=repeat, help="timed runs per measurement (median)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--himo", default=str(Path(sys.executable).parent / "himo"))
    parser.add_argument("--workdir", type=Path, default=Path(workdir))
    parser.add_argument("--reuse", action="store_true",
                        help="keep the generated stores (SQLite file, PostgreSQL database) and reuse them")
    parser.add_argument("--json-out", type=Path, help="result file (default: results/BENCH-DATE.json)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_options(parser, repeat=5, workdir="/tmp/himo-bench-meta")
    parser.add_argument("--only", default="queries,recording", help="queries, recording or both")
    opts = parser.parse_args(argv)
    opts.backend_list = choices_list(parser, "--backends", opts.backends, list(STORES))
    opts.parts = set(choices_list(parser, "--only", opts.only, ["queries", "recording"]))
    if opts.repeat < 1:
        parser.error("--repeat must be at least 1")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = start_facts()
    workdir = opts.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(workdir, opts.repeat, opts.himo)
    facts = {"cores": str(os.cpu_count()), "filesystem": fs_type(workdir),
             "python": platform.python_version(),
             "himo": run([opts.himo, "--version"], workdir).strip(), "executions": f"{opts.executions:,}",
             "repeat": str(opts.repeat), "load average": load_average()}
    for key, value in facts.items():
        print(f"{key + ':':15} {value}")
    print(flush=True)
    rows: list[Row] = []
    try:
        for backend in opts.backend_list:
            rows += bench_backend(bench, backend, opts)
    finally:
        remove(workdir / "run")
    facts["load average at end"] = load_average()
    print()
    print_rows(["backend", "measurement", "median", "target", "met?"], [row.cells() for row in rows])
    for row in rows:
        if row.measure.error:
            print(f"{row.backend} {row.name}: n/a: {row.measure.error}")
    print(f"\nload average at end: {facts['load average at end']}")
    write_result("meta", workdir, started, {"facts": facts, "rows": [r.as_json() for r in rows]},
                 opts.himo, out=opts.json_out)
    return 1 if any(row.measure.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
