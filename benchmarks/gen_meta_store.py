#!/usr/bin/env python3
"""Fill a metadata store with the history of a busy ML team: N executions (default 1,000,000).

    python benchmarks/gen_meta_store.py sqlite:////tmp/meta.db
    python benchmarks/gen_meta_store.py postgresql+psycopg://postgres@127.0.0.1:5432/bench -n 10000

What it writes (deterministic for a --seed), over --days days (default: about two years at 1M):
- several repositories (projects), each with the pipeline ingest -> clean -> featurize ->
  train@CONFIG (foreach) -> evaluate@CONFIG, and predict;
- each day per project: a scheduled `add` of the day's raw drop, a scheduled `repro` whose
  ingest reads that drop and the previous day's snapshot (so snapshots form a chain as many
  hops deep as there are days), a `push` (locations), CI runs restored from the run-cache
  (status cached), scheduled `predict` runs all reading the deployed model (fan-out; the model
  is replaced weekly), and manual experiments on branches: param changes, hyper-parameter
  sweeps (parallel foreach branches of train/evaluate), failures, Ctrl-C (aborted), dirty code;
- fan-in (train reads features + code + params; evaluate reads the model + the test split + code)
  and fan-out (a day's features read by every experiment of that day).

The schema is created by himo itself (Store(url).open()), into an empty store. Loading is bulk:
secondary indexes (and on PostgreSQL constraints) are dropped first and rebuilt at the end;
SQLite takes SQLAlchemy Core executemany batches with bulk PRAGMAs, PostgreSQL takes COPY.
ANALYZE runs last, then the per-day summary of executions (himo.meta.days) is counted once.
Run it with the dev venv's Python (it imports himo).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from himo.meta.schema import Base
from himo.meta.store import Store

HIMO_VERSION = "0.1.0"
DEFAULT_EXECUTIONS = 1_000_000
PER_DAY_AT_FULL = 1_370  # executions a day at 1M over two years
MIN_DAYS = 14  # the snapshot chain is as many hops deep as there are days
BATCH = 50_000  # rows per executemany / buffered before a flush
CONFIGS = ("small", "medium", "large")  # train@ / evaluate@ foreach branches of the daily run
USERS = ("alice", "bob", "chen", "dana", "emeka", "farah", "goran", "hana", "ivan", "jules")
CODE = {  # stage -> its code file
    "ingest": "src/ingest.py", "clean": "src/clean.py", "featurize": "src/features.py",
    "train": "src/train.py", "evaluate": "src/evaluate.py", "predict": "src/predict.py",
}
TABLES = ("run", "execution", "artifact", "path", "event", "location")  # in foreign key order
COLUMNS = {
    "run": ("id", "command", "args", "trigger", "user", "host", "repo", "git_commit", "branch", "dirty",
            "himo_version", "status", "queued_at", "started_at", "ended_at"),
    "execution": ("id", "run_id", "stage", "cmd", "status", "started_at", "ended_at", "exit_code", "params",
                  "reasons", "git_commit", "branch", "dirty", "code_digests", "host", "user", "himo_version",
                  "log"),
    "artifact": ("id", "digest", "kind", "size", "nfiles", "first_seen"),
    "path": ("id", "artifact_id", "repo", "path", "commit", "first_seen"),
    "event": ("id", "execution_id", "artifact_id", "direction", "path"),
    "location": ("id", "artifact_id", "kind", "url", "first_at", "last_at", "who", "run_id"),
}
JSON_COLUMNS = {"args", "params", "reasons", "code_digests"}


# ---------------------------------------------------------------- the rows


@dataclass
class Rows:
    """Rows waiting to be written, per table, as tuples in COLUMNS order; ids handed out here."""

    tables: dict[str, list[tuple]] = field(default_factory=lambda: {t: [] for t in TABLES})
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))

    def add(self, table: str, *values: object) -> int:
        """Append a row whose integer id (first column) is handed out here; return the id."""
        self.counts[table] += 1
        self.tables[table].append((self.counts[table], *values))
        return self.counts[table]

    def add_keyed(self, table: str, *values: object) -> None:
        """Append a row whose first column (a UUID) the caller chose."""
        self.counts[table] += 1
        self.tables[table].append(values)

    def pending(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def take(self) -> dict[str, list[tuple]]:
        taken, self.tables = self.tables, {t: [] for t in TABLES}
        return taken


@dataclass
class Art:
    id: int
    digest: str
    path: str


@dataclass
class Step:
    """One execution to write: its stage, inputs and outputs (outputs are new artifacts unless given)."""

    stage: str
    cmd: str
    inputs: list[Art]
    outputs: list[tuple[str, str, int, int | None]] | list[Art]  # (path, kind, size, nfiles) or existing
    params: dict = field(default_factory=dict)
    minutes: float = 1.0
    status: str = "succeeded"


@dataclass
class Project:
    repo: str
    commit: str = ""
    code: dict[str, Art] = field(default_factory=dict)  # code path -> current version
    snapshot: Art | None = None  # the latest daily snapshot: the head of the chain
    clean: Art | None = None
    test: Art | None = None
    features: Art | None = None
    models: dict[str, Art] = field(default_factory=dict)  # config -> latest daily model
    deployed: Art | None = None  # read by every predict until the next deploy
    done: dict[tuple, list[Art]] = field(default_factory=dict)  # (stage, params) -> outputs: run-cache


# ---------------------------------------------------------------- the history


class RunWriter:
    """One run being written: its executions one after the other (or in parallel lanes);
    a failed or aborted execution ends the run, and so does a full store (aborted)."""

    def __init__(self, history: History, project: Project, command: str, args: list[str], trigger: str,
                 user: str, host: str, branch: str, when: datetime, dirty: bool = False) -> None:
        self.h, self.project = history, project
        self.values = (command, args, trigger, user, host, branch, dirty)
        self.id, self.started, self.at, self.ended = history.uuid(), when, when, when
        self.status = "succeeded"
        self.edits: dict[str, Art] = {}  # code path -> its uncommitted version in this run (dirty)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        command, args, trigger, user, host, branch, dirty = self.values
        queued = None if trigger == "manual" else self.started - timedelta(seconds=self.h.rng.randint(1, 90))
        self.h.rows.add_keyed("run", self.id, command, args, trigger, user, host, self.project.repo,
                              self.project.commit, branch, dirty, HIMO_VERSION, self.status, queued,
                              self.started, self.ended)

    def step(self, stage: str, cmd: str, inputs: Sequence[Art], outputs: Sequence[tuple | Art],
             params: dict | None = None, minutes: float = 1.0, status: str = "succeeded",
             at: datetime | None = None) -> list[Art] | None:
        """One execution, starting `at` (default: when the previous one ended). Its outputs:
        new artifacts (path, kind, size, nfiles) or, for a cached one, the existing ones given."""
        if self.status != "succeeded":
            return None
        if self.h.full():
            self.status = "aborted"  # the store is full: this run was cut short
            return None
        start = at or self.at
        end = start + timedelta(minutes=minutes * self.h.rng.uniform(0.6, 1.4))
        outs = self.h.execution(self, stage, cmd, list(inputs), outputs, params or {}, status, start, end)
        self.at, self.ended = end, max(self.ended, end)
        if status in ("failed", "aborted"):
            self.status = status
            return None
        return outs


class History:
    """The team's history, day by day, written into Rows."""

    def __init__(self, executions: int, days: int, seed: int, end: datetime) -> None:
        self.target, self.days = executions, days
        self.rng = random.Random(seed)
        self.start = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.rows = Rows()
        self.last_commit: dict[int, str] = {}  # artifact id -> commit of its latest Path row
        names = ("churn", "fraud", "recsys", "forecast")[:4 if executions >= 200_000 else 2]
        self.projects = [Project(f"git@github.com:acme/{name}.git") for name in names]
        slots = days * len(self.projects)
        self.predict_per_day = max(1, round(0.2 * executions / slots))  # a fifth of all executions
        self.ci_per_day = 2 if slots * 30 < executions else 0

    # -- identities and sizes

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def size(self, magnitude: int) -> int:
        return self.rng.randint(10 ** magnitude // 2, 10 ** magnitude * 5)

    @property
    def executions(self) -> int:
        return self.rows.counts["execution"]

    def full(self) -> bool:
        return self.executions >= self.target

    # -- rows

    def artifact(self, path: str, kind: str, size: int, nfiles: int | None, when: datetime) -> Art:
        digest = self.hex(256)
        return Art(self.rows.add("artifact", digest, kind, size, nfiles, when), digest, path)

    def path_row(self, project: Project, art: Art, when: datetime) -> None:
        """One Path row per (artifact, path, commit), as the recorder leaves them."""
        if self.last_commit.get(art.id) != project.commit:
            self.last_commit[art.id] = project.commit
            self.rows.add("path", art.id, project.repo, art.path, project.commit, when)

    def execution(self, run: RunWriter, stage: str, cmd: str, inputs: list[Art],
                  outputs: Sequence[tuple | Art], params: dict, status: str, start: datetime,
                  end: datetime) -> list[Art]:
        project, exec_id = run.project, self.uuid()
        _, _, _, user, host, branch, dirty = run.values
        code = {a.path: a.digest for a in inputs if a.path.startswith("src/")}
        exit_code = {"succeeded": 0, "failed": 1, "aborted": -2, "cached": None}[status]
        log = None if status == "cached" else \
            f".himo/logs/{stage.replace('@', '_')}/{start:%Y%m%dT%H%M%S}.log"
        reasons = ["restored from the run-cache"] if status == "cached" else \
            [f"dep '{inputs[0].path}' changed"] if inputs else ["new output"]
        self.rows.add_keyed("execution", exec_id, run.id, stage, cmd, status, start, end, exit_code, params,
                            reasons, project.commit, branch, dirty, code, host, user, HIMO_VERSION, log)
        for art in inputs:
            self.rows.add("event", exec_id, art.id, "INPUT", art.path)
            self.path_row(project, art, end)
        if status not in ("succeeded", "cached"):
            return []
        made = [o if isinstance(o, Art) else self.artifact(*o, end) for o in outputs]
        for art in made:
            self.rows.add("event", exec_id, art.id, "OUTPUT", art.path)
            self.path_row(project, art, end)
        return made

    def location(self, run: RunWriter, art: Art, url: str, when: datetime) -> None:
        self.rows.add("location", art.id, "remote", url, when, when, run.values[3], run.id)

    # -- the days

    def generate(self) -> Iterator[Rows]:
        """Day by day until the target count; yields the rows whenever a batch is ready."""
        slots = self.days * len(self.projects)
        for day in range(self.days):
            date = self.start + timedelta(days=day)
            for n, project in enumerate(self.projects):
                slot = day * len(self.projects) + n + 1
                self.project_day(project, day, date, self.target * slot / slots if slot < slots else None)
                if self.rows.pending() >= BATCH:
                    yield self.rows
            if self.full():
                break
        yield self.rows

    def project_day(self, project: Project, day: int, date: datetime, budget: float | None) -> None:
        """The day's scheduled runs, then experiments until `budget` executions (None: until full)."""
        self.new_commit(project, date)
        self.daily(project, day, date + timedelta(hours=2, minutes=self.rng.randint(0, 20)))
        for _ in range(self.ci_per_day):
            self.ci(project, date + timedelta(hours=self.rng.uniform(9, 18)))
        for n in range(self.predict_per_day):
            self.predict(project, date + timedelta(minutes=(n + 0.5) * 1440 / self.predict_per_day))
        while not self.full() and (budget is None or self.executions < budget):
            self.experiment(project, date + timedelta(hours=self.rng.uniform(8, 21)))

    def new_commit(self, project: Project, date: datetime) -> None:
        """Most days main moves on; each code file changes with it now and then."""
        if project.commit and self.rng.random() < 0.4:
            return
        project.commit = self.hex(160)
        for path in CODE.values():
            if path not in project.code or self.rng.random() < 0.15:
                project.code[path] = self.artifact(path, "code", self.rng.randint(800, 9000), None, date)

    def code(self, run: RunWriter, stage: str, dirty: bool) -> Art:
        """The stage's code file: the committed version, or the run's uncommitted edit of it."""
        path = CODE[stage]
        if not dirty:
            return run.project.code[path]
        if path not in run.edits:
            run.edits[path] = self.artifact(path, "code", self.rng.randint(800, 9000), None, run.started)
        return run.edits[path]

    def daily(self, project: Project, day: int, when: datetime) -> None:
        """Scheduled: add the day's raw drop; repro the pipeline on a new snapshot, derived from
        the previous day's (the chain); push; deploy a new model weekly."""
        stamp = f"{when:%Y-%m-%d}"
        raw = f"data/raw/{stamp}.csv"
        with RunWriter(self, project, "add", [raw], "schedule", "etl-bot", "etl-01", "main", when) as run:
            drop = run.step("add", f"himo add {raw}", [], [(raw, "dataset", self.size(6), None)], minutes=0.3)
        if not drop:
            return
        previous = [project.snapshot] if project.snapshot else []
        with RunWriter(self, project, "repro", [], "schedule", "etl-bot", "etl-01", "main", run.ended) as run:
            snap = run.step("ingest", f"python src/ingest.py {raw}",
                            [*drop, *previous, project.code["src/ingest.py"]],
                            [(f"data/snapshots/{stamp}.parquet", "dataset", self.size(8), None)], minutes=4)
            if snap:
                project.snapshot = snap[0]
                self.pipeline(run, project.snapshot, CONFIGS, daily=True)
        if run.status == "succeeded":
            self.push(project, run.ended + timedelta(minutes=2))
            if project.deployed is None or day % 7 == 0:
                project.deployed = project.models["medium"]

    def pipeline(self, run: RunWriter, snapshot: Art, configs: Sequence[str], daily: bool = False,
                 window: int = 14, dirty: bool = False) -> None:
        """clean -> featurize -> train@C -> evaluate@C for each config C."""
        project = run.project
        clean = run.step("clean", "python src/clean.py", [snapshot, self.code(run, "clean", dirty)],
                         [("data/clean.parquet", "dataset", self.size(8), None),
                          ("data/test.parquet", "dataset", self.size(7), None)], minutes=3)
        if not clean:
            return
        features = run.step("featurize", "python src/features.py",
                            [clean[0], self.code(run, "featurize", dirty)],
                            [("data/features", "features", self.size(8), 64)],
                            {"featurize": {"window": window}}, minutes=6)
        if not features:
            return
        if daily:
            project.clean, project.test, project.features = clean[0], clean[1], features[0]
        self.branches(run, features[0], clean[1], configs, dirty, daily=daily)

    def branches(self, run: RunWriter, features: Art, test: Art, configs: Sequence[str], dirty: bool,
                 daily: bool = False, jobs: int = 1) -> None:
        """train@C then evaluate@C per config; with jobs > 1 the branches run in parallel lanes."""
        project, start = run.project, run.at
        for n, config in enumerate(configs):
            params = {"train": {"config": config, "lr": self.rng.choice((0.1, 0.03, 0.01, 0.003)),
                                "depth": self.rng.randint(3, 12)}}
            at = start + timedelta(minutes=25 * (n // jobs)) if jobs > 1 else None
            status = self.outcome(0.05)
            model = run.step(f"train@{config}", f"python src/train.py --config {config}",
                             [features, self.code(run, "train", dirty)],
                             [(f"models/{config}.pkl", "model", self.size(7), None)], params, 20, status, at)
            if not model:
                return
            metrics = run.step(f"evaluate@{config}", f"python src/evaluate.py models/{config}.pkl",
                               [model[0], test, self.code(run, "evaluate", dirty)],
                               [(f"metrics/{config}.json", "metrics", self.size(3), None)], minutes=2)
            if not metrics:
                return
            project.done[(config, features.id)] = [model[0], metrics[0]]
            if daily:
                project.models[config] = model[0]

    def outcome(self, failing: float) -> str:
        draw = self.rng.random()
        return "failed" if draw < failing else "aborted" if draw < failing + 0.01 else "succeeded"

    def push(self, project: Project, when: datetime) -> None:
        url = f"s3://acme-ml/{project.repo.split('/')[-1].removesuffix('.git')}"
        bot = ("schedule", "etl-bot", "etl-01", "main", when)
        with RunWriter(self, project, "push", ["-r", "s3"], *bot) as run:
            arts = [project.snapshot, project.features, *project.models.values()]
            for art in arts:
                if art is not None:
                    self.location(run, art, url, when)
            run.ended = when + timedelta(seconds=self.rng.randint(5, 120))

    def ci(self, project: Project, when: datetime) -> None:
        """CI on a pull request: every stage restored from the run-cache (status cached)."""
        if project.features is None:
            return
        runner = f"ci-runner-{self.rng.randint(1, 4)}"
        branch = f"pr-{self.rng.randint(1, 9999)}"
        with RunWriter(self, project, "repro", [], "ci", "ci", runner, branch, when) as run:
            run.step("clean", "python src/clean.py", [project.snapshot, project.code["src/clean.py"]],
                     [project.clean, project.test], minutes=0.05, status="cached")
            run.step("featurize", "python src/features.py", [project.clean, project.code["src/features.py"]],
                     [project.features], {"featurize": {"window": 14}}, 0.05, "cached")
            for config, model in project.models.items():
                run.step(f"train@{config}", f"python src/train.py --config {config}",
                         [project.features, project.code["src/train.py"]], [model],
                         {"train": {"config": config}}, 0.05, "cached")

    def predict(self, project: Project, when: datetime) -> None:
        """Scheduled batch scoring: the deployed model (fan-out) on the latest incoming batch."""
        if project.deployed is None:
            return
        stamp = f"{when:%Y-%m-%dT%H%M}"
        batch = self.artifact(f"data/incoming/{stamp}.csv", "dataset", self.size(6), None, when)
        bot = ("schedule", "serve-bot", "batch-01", "main", when)
        with RunWriter(self, project, "repro", ["predict"], *bot) as run:
            run.step("predict", "python src/predict.py",
                     [batch, project.deployed, project.code["src/predict.py"]],
                     [(f"predictions/{stamp}.parquet", "predictions", self.size(6), None)], minutes=1.5,
                     status=self.outcome(0.01))

    def experiment(self, project: Project, when: datetime) -> None:
        """A team member's repro on a branch: a train tweak, a feature change, a sweep or a rerun."""
        if project.features is None:
            return self.predict(project, when)  # nothing to experiment on yet
        user = self.rng.choice(USERS)
        dirty = self.rng.random() < 0.25
        branch = f"exp/{user}-{self.rng.randint(1, 300)}"
        draw = self.rng.random()
        kind = "tweak" if draw < 0.55 else "features" if draw < 0.75 else "sweep" if draw < 0.9 else "rerun"
        args = ["train"] if kind in ("tweak", "sweep") else []
        host = f"{user}-laptop"
        with RunWriter(self, project, "repro", args, "manual", user, host, branch, when, dirty) as run:
            if kind == "tweak":
                configs = self.rng.sample(CONFIGS, self.rng.randint(1, 3))
                self.branches(run, project.features, project.test, configs, dirty)
            elif kind == "features":
                self.pipeline(run, project.snapshot, CONFIGS, window=self.rng.choice((3, 7, 21, 28, 56)),
                              dirty=dirty)
            elif kind == "sweep":
                configs = [f"sweep-{n}" for n in range(self.rng.randint(8, 30))]
                self.branches(run, project.features, project.test, configs, dirty, jobs=4)
            else:
                self.rerun(run, project)

    def rerun(self, run: RunWriter, project: Project) -> None:
        """An earlier experiment again: its stages restored from the run-cache."""
        key = self.rng.choice(list(project.done)) if project.done else None
        if key is None:
            return
        config, features_id = key
        model, metrics = project.done[key]
        features = Art(features_id, "", "data/features")
        run.step(f"train@{config}", f"python src/train.py --config {config}",
                 [features, project.code["src/train.py"]], [model], {"train": {"config": config}},
                 0.05, "cached")
        run.step(f"evaluate@{config}", f"python src/evaluate.py models/{config}.pkl",
                 [model, project.test, project.code["src/evaluate.py"]], [metrics], minutes=0.05,
                 status="cached")


# ---------------------------------------------------------------- loading


class Loader:
    """Bulk writes into an empty store whose schema himo made."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prepare(self) -> None: ...

    def write(self, tables: dict[str, list[tuple]]) -> None: ...

    def finish(self) -> None: ...


class SqliteLoader(Loader):
    """SQLAlchemy Core executemany batches; no journal, no fsync, secondary indexes built at the end."""

    def prepare(self) -> None:
        self.conn = self.engine.connect()
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY",
                       "foreign_keys=OFF", "locking_mode=EXCLUSIVE"):
            self.conn.exec_driver_sql(f"PRAGMA {pragma}")
        self.conn.commit()
        with self.conn.begin():
            for index in secondary_indexes():
                index.drop(self.conn)

    def write(self, tables: dict[str, list[tuple]]) -> None:
        with self.conn.begin():
            for name in TABLES:
                table, columns = Base.metadata.tables[name], COLUMNS[name]
                for start in range(0, len(tables[name]), BATCH):
                    batch = tables[name][start:start + BATCH]
                    self.conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in batch])

    def finish(self) -> None:
        with self.conn.begin():
            for index in secondary_indexes():
                index.create(self.conn)
        self.conn.exec_driver_sql("ANALYZE")
        self.conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # as himo keeps its stores
        self.conn.commit()
        self.conn.close()


class PostgresLoader(Loader):
    """COPY; indexes and unique/foreign key constraints dropped first, rebuilt (and checked) at the end."""

    def prepare(self) -> None:
        import psycopg

        self.conn = psycopg.connect(self.engine.url.set(drivername="postgresql").render_as_string(False))
        tables = list(TABLES)
        self.constraints = self.conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('u', 'f')", [tables]).fetchall()
        self.indexes = self.conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))", [tables]).fetchall()
        for table, name, _, _ in sorted(self.constraints, key=lambda c: c[3] != "f"):  # foreign keys first
            self.conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, _ in self.indexes:
            self.conn.execute(f'DROP INDEX "{name}"')
        self.conn.execute("SET synchronous_commit = off")
        self.conn.commit()

    def write(self, tables: dict[str, list[tuple]]) -> None:
        with self.conn.cursor() as cursor:
            for name in TABLES:
                columns = ", ".join(f'"{c}"' for c in COLUMNS[name])
                json_at = [i for i, c in enumerate(COLUMNS[name]) if c in JSON_COLUMNS]
                with cursor.copy(f'COPY "{name}" ({columns}) FROM STDIN') as copy:
                    for row in tables[name]:
                        if json_at:
                            row = list(row)
                            for i in json_at:
                                row[i] = json.dumps(row[i])
                        copy.write_row(row)
        self.conn.commit()

    def finish(self) -> None:
        self.conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in self.indexes:
            self.conn.execute(definition)
        for table, name, definition, _ in sorted(self.constraints, key=lambda c: c[3] == "f"):  # unique first
            self.conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        for table in ("artifact", "path", "event", "location"):  # the next id himo hands out
            self.conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                              f'COALESCE((SELECT max(id) FROM "{table}"), 0) + 1, false)')
        self.conn.commit()
        self.conn.autocommit = True
        self.conn.execute("VACUUM ANALYZE")
        self.conn.close()


def summarize(url: str) -> None:
    """Count the loaded executions into the per-day summary the runs page's grid reads (himo keeps
    it on each write; a bulk load fills it once, as the migration that made it does)."""
    from himo.meta import days  # here: bench_ui.py imports this module to time older himos too

    store = Store(url).open()
    try:
        with store.session(write=True) as session:
            days.rebuild(session)
            session.execute(sa.text("ANALYZE execution_day"))
    finally:
        store.close()


def secondary_indexes() -> list[sa.Index]:
    return [index for name in TABLES for index in Base.metadata.tables[name].indexes]


# ---------------------------------------------------------------- entry points


@dataclass
class Summary:
    url: str
    counts: dict[str, int]
    seconds: float
    days: int

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def text(self) -> str:
        counts = ", ".join(f"{n:,} {table}" for table, n in self.counts.items())
        return (f"{self.rows:,} rows ({counts}) over {self.days} days in {self.seconds:.1f} s: "
                f"{self.rows / self.seconds:,.0f} rows/s")


def default_days(executions: int) -> int:
    return max(MIN_DAYS, min(730, round(executions / PER_DAY_AT_FULL)))


def generate(url: str, executions: int = DEFAULT_EXECUTIONS, days: int | None = None, seed: int = 4,
             end: datetime | None = None, progress: bool = False) -> Summary:
    """Fill the empty store at `url` (schema made by himo) and return what was written."""
    store = Store(url).open()
    try:
        with store.session() as session:
            if session.scalar(sa.select(sa.func.count()).select_from(Base.metadata.tables["execution"])):
                raise SystemExit(f"{store.name}: the store is not empty; give a new database or file")
        days = days or default_days(executions)
        end = end or datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        history = History(executions, days, seed, end)
        sqlite = store.url.get_backend_name() == "sqlite"
        store.close()  # the loader's own connection is the only one while it writes
        engine = sa.create_engine(store.url)
        loader = SqliteLoader(engine) if sqlite else PostgresLoader(engine)
        started = time.perf_counter()
        loader.prepare()
        for rows in history.generate():
            loader.write(rows.take())
            if progress:
                elapsed = time.perf_counter() - started
                print(f"  {history.executions:,} executions, {elapsed:.0f} s", file=sys.stderr, flush=True)
        if progress:
            print("  indexes, constraints, ANALYZE ...", file=sys.stderr, flush=True)
        loader.finish()
        engine.dispose()
        summarize(url)
        return Summary(store.name, dict(history.rows.counts), time.perf_counter() - started, days)
    finally:
        store.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="store URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (empty)")
    parser.add_argument("-n", "--executions", type=int, default=DEFAULT_EXECUTIONS)
    parser.add_argument("--days", type=int, help=f"days of history (default: executions / {PER_DAY_AT_FULL}, "
                        f"{MIN_DAYS} to 730)")
    parser.add_argument("--seed", type=int, default=4)
    opts = parser.parse_args(argv)
    if opts.executions < 100 or (opts.days is not None and opts.days < 2):
        parser.error("give at least 100 executions and 2 days")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    summary = generate(opts.url, opts.executions, opts.days, opts.seed, progress=True)
    print(summary.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
