"""`himo demo`: a small ML project in a new git repository, run end to end, changed and run
again, pushed, then the model released and the predictions delivered, so a user sees versioned
data, a pipeline, the lock file, params, metrics, a remote and releases at work. Everything
goes through himo's own API, as the commands would.

Steps (each printed through `echo`): git init + himo init; src/generate.py writes the data,
`himo add` tracks it; a folder remote; five stages written with `add_stage` (so himo.yaml is
exactly what `himo stage add` writes); commit; `repro`; commit himo.lock; change train.C;
`repro` again (prepare and featurize stay up to date); commit; metrics before and after; push;
`release` the model to production (with GTO git tags) and `export` the predictions to deliveries/;
the runs and the model's lineage from the metadata store.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from himo.api.add import add
from himo.api.config import add_remote
from himo.api.delivery import export_artifact
from himo.api.history import lineage, runs
from himo.api.init import init
from himo.api.release import release
from himo.api.repro import ReproOptions, StageResult, repro
from himo.api.scheduler import run_scheduler
from himo.api.stage import StageSpec, add_stage, command_line
from himo.api.transfer import push
from himo.demo import (
    CHANGE,
    FILES,
    METRICS,
    RAW_DATA,
    REMOTE,
    SCHEDULE,
    SCHEDULE_DAYS,
    SCHEDULE_NAME,
    STAGES,
    StageDef,
)
from himo.errors import HimoError, PathError
from himo.workspace.git import Git
from himo.workspace.repo import Repo

Echo = Callable[[str], None]
JOBS = 2  # evaluate and predict are independent: run them side by side
MODEL, PREDICTIONS, DELIVERIES = "models/model.pkl", "predictions.csv", "deliveries"
REQUIREMENTS = {"numpy": "numpy", "sklearn": "scikit-learn"}  # module -> distribution


@dataclass
class DemoResult:
    root: Path
    commits: list[str] = field(default_factory=list)  # subjects, oldest first
    first_run: list[StageResult] = field(default_factory=list)
    second_run: list[StageResult] = field(default_factory=list)
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    pushed: int = 0  # objects sent to the remote
    released: str = ""  # the model's version in production
    exported: str = ""  # where the predictions were delivered
    scheduled: list[dict[str, object]] = field(default_factory=list)  # the schedule's intervals run
    seconds: float = 0.0


def check_requirements() -> None:
    """HimoError naming the extra to install if numpy or scikit-learn is missing (not imported:
    importing scikit-learn costs seconds, and the stages import it in their own processes)."""
    missing = [dist for module, dist in REQUIREMENTS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise HimoError(
            f"himo demo needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed for {sys.executable}",
            "pip install 'himo[demo]' (with the Python that runs himo)",
        )


def check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PathError(f"{dest}: exists and is not an empty folder",
                        "give a new or empty folder: himo demo DIR (default ./himo-demo)")


def run_demo(dest: str | os.PathLike[str], echo: Echo = lambda _: None) -> DemoResult:
    """Build the demo project in `dest` (new or empty) and walk through it; see the module doc."""
    started = time.monotonic()
    check_requirements()
    path = Path(os.path.abspath(dest))
    check_destination(path)
    path.mkdir(parents=True, exist_ok=True)
    result = DemoResult(path.resolve())
    Walkthrough(result, echo).run()
    result.seconds = time.monotonic() - started
    _summary(result, echo)
    return result


class Walkthrough:
    def __init__(self, result: DemoResult, echo: Echo) -> None:
        self.result = result
        self.root = result.root
        self.echo = echo
        self.git = Git(self.root)

    def say(self, line: str = "") -> None:
        self.echo(f"   {line}" if line else "")

    def run(self) -> None:
        self.echo(f"Creating a himo demo project in {self.root}\n")
        repo = self.create()
        self.define_stages(repo)
        self.commit("Demo project: data generator, pipeline and params; raw data tracked by himo")

        opts = ReproOptions(jobs=JOBS)
        key, old, new = CHANGE
        self.echo(f"\n== 3. Run the pipeline: himo repro -j {JOBS}")
        self.result.first_run = repro(repo, opts=opts, echo=self.say)
        self.result.metrics_before = self.metrics()
        self.say(f"{METRICS}: {_inline(self.result.metrics_before)}")
        self.commit(f"Run the pipeline ({key} = {old})")

        self.echo(f"\n== 4. Change {key} from {old} to {new}, then run again: himo repro -j {JOBS}")
        self.change_param()
        self.result.second_run = repro(repo, opts=opts, echo=self.say)
        self.result.metrics_after = self.metrics()
        ran = [r.name for r in self.result.second_run if r.status == "ran"]
        kept = [r.name for r in self.result.second_run if r.status == "up to date"]
        self.say(f"re-ran: {', '.join(ran) or 'nothing'} (they read {key}, or what it changed)")
        self.say(f"up to date, not run: {', '.join(kept) or 'nothing'}")
        self.commit(f"Less regularization: {key} = {new}")

        self.echo("\n== 5. Metrics before and after (himo metrics diff HEAD~1 shows the same)")
        self.metrics_table(f"{key}={old}", f"{key}={new}")

        self.echo("\n== 6. Send data, models and outputs to the remote: himo push")
        sent = push(repo)
        self.result.pushed = sent.transferred
        self.say(f"{sent.transferred} objects pushed to {REMOTE}/ (remote 'storage')")

        self.echo(f"\n== 7. Release the model, deliver the predictions: himo release {MODEL} "
                  f"--env production --tag; himo export {PREDICTIONS} {DELIVERIES}")
        row = release(repo, str(self.root / MODEL), "production", note="demo: train.C = 1.0", tag=True)
        self.result.released = row.version
        self.say(f"{MODEL} live in production as {row.version}; git tags {', '.join(row.tags)}")
        delivered = export_artifact(repo, str(self.root / PREDICTIONS), str(self.root / DELIVERIES))
        self.result.exported = delivered.url
        self.say(f"{PREDICTIONS} copied to {os.path.relpath(delivered.url, self.root)} (recorded)")

        self.echo(f"\n== 8. What ran, and what made the model (the metadata store): himo runs; "
                  f"himo lineage {MODEL}")
        self.history(repo)

        self.echo(f"\n== 9. Predict every morning: a schedule in himo.yaml, and `himo scheduler --once --now "
                  f"DAY` for {SCHEDULE_DAYS} days")
        self.schedule(repo)

    def schedule(self, repo: Repo) -> None:
        """Add the daily predict schedule, then replay its last days (the one before: data late)."""
        with open(self.root / "himo.yaml", "a", encoding="utf-8") as f:
            f.write(SCHEDULE)
        self.say(f"himo.yaml: schedules: {SCHEDULE_NAME}: cron 0 6 * * *, targets [predict], retries 1")
        self.commit(f"Schedule {SCHEDULE_NAME}")
        today = datetime.now(UTC).replace(hour=7, minute=0, second=0, microsecond=0)
        days = [today - timedelta(days=n) for n in range(SCHEDULE_DAYS - 1, -1, -1)]
        os.environ["HIMO_DEMO_LATE"] = (days[1] - timedelta(days=1)).strftime("%Y-%m-%d")
        try:
            for now in days:
                self.say(f"$ himo scheduler --once --now {now:%Y-%m-%dT%H:%M}")
                for outcome in run_scheduler(repo, once=True, now=now):
                    self.result.scheduled.append(outcome.to_dict())
                    tries = "" if outcome.attempts == 1 else (
                        f" after {outcome.attempts} attempts (the first: data not there yet,"
                        " retried 1 s later)")
                    self.say(f"{SCHEDULE_NAME} for {outcome.logical_date:%Y-%m-%d}: {outcome.state}{tries}")
        finally:
            os.environ.pop("HIMO_DEMO_LATE", None)

    def history(self, repo: Repo) -> None:
        for run in reversed(runs(repo, limit=10)):  # oldest first, as the story went
            if run.command != "repro":
                continue
            self.say(f"{run.started_at:%H:%M:%S} repro {run.status} in {run.seconds or 0:.1f} s, "
                     f"git {run.git_commit[:8]}{' (dirty)' if run.dirty else ''}")
            for e in run.executions:
                changed = ", ".join(f"{c.key} {c.before}->{c.after}" for c in e.changes
                                    if c.change == "changed")
                self.say(f"   {e.stage:<10} {e.status:<10} {e.seconds or 0:5.1f} s  {changed}".rstrip())
        graph = lineage(repo, str(self.root / MODEL), downstream=False, depth=1).graph
        made = [graph.executions[e.execution] for e in graph.edges if e.direction == "OUTPUT"
                and e.artifact == graph.root]
        if made:
            reads = sorted(f"{graph.artifacts[e.artifact].kind} {e.path}" for e in graph.edges
                           if e.direction == "INPUT" and e.execution == made[0].id)
            marks = "; ".join(f"{m.env} {m.version}" for m in graph.releases.get(graph.root, []))
            self.say(f"{MODEL} {graph.root[:12]}: made by stage '{made[0].stage}' at git "
                     f"{made[0].git_commit[:8]} from {', '.join(reads)}; released: {marks or 'no'}")

    def create(self) -> Repo:
        self.echo("== 1. A git repository with code, params and data")
        self.git.run("init", "-q")
        self.say("$ git init && himo init")
        self._local_git_identity()
        for rel, text in FILES.items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_text(text, encoding="utf-8")
        (self.root / ".gitignore").write_text(f"/{REMOTE}/\n/{DELIVERIES}/\n__pycache__/\n", encoding="utf-8")
        (self.root / "data").mkdir(exist_ok=True)
        repo = init(self.root)
        self.say(f"wrote {', '.join(FILES)}")
        self.say("$ python src/generate.py")
        self._python("src/generate.py")
        self.say(f"$ himo add {' '.join(RAW_DATA)}")
        for added in add(repo, [str(self.root / p) for p in RAW_DATA]):
            info = added.hash_info
            self.say(f"{added.pointer}: {info.size:,} bytes, blake3 {info.digest[:12]}")
        self.say(f"$ himo remote add -d storage {REMOTE}")
        add_remote(repo, "storage", os.path.relpath(self.root / REMOTE), default=True)
        return repo

    def define_stages(self, repo: Repo) -> None:
        self.echo(f"\n== 2. Five stages in himo.yaml (python = {sys.executable})")
        for stage in STAGES:
            spec = _spec(stage)
            for out in spec.outs:  # `himo stage add -o models/x` needs models/ to exist (for now)
                (self.root / out).parent.mkdir(parents=True, exist_ok=True)
            self.say(_stage_add_line(spec).replace(shlex.quote(sys.executable), "python"))
            add_stage(repo, spec)

    def change_param(self) -> None:
        key, old, new = CHANGE
        section, name = key.split(".")
        path = self.root / "params.yaml"
        text = path.read_text(encoding="utf-8")
        changed, count = re.subn(rf"(?m)^(  {re.escape(name)}: ){re.escape(old)}\b", rf"\g<1>{new}", text)
        if count != 1:
            raise HimoError(f"params.yaml: no line '{name}: {old}' under {section}:",
                            "this is a bug in himo demo's template")
        path.write_text(changed, encoding="utf-8")
        self.say(f"params.yaml: {section}: {name}: {old} -> {new}")

    def metrics(self) -> dict[str, float]:
        return json.loads((self.root / METRICS).read_text(encoding="utf-8"))

    def metrics_table(self, before: str, after: str) -> None:
        old, new = self.result.metrics_before, self.result.metrics_after
        self.say(f"{'Metric':<10} {before:>12} {after:>12} {'Change':>8}")
        for key in [*old, *(k for k in new if k not in old)]:
            a, b = old.get(key), new.get(key)
            delta = f"{b - a:+.4f}" if isinstance(a, int | float) and isinstance(b, int | float) else "-"
            self.say(f"{key:<10} {a!s:>12} {b!s:>12} {delta:>8}")

    def commit(self, message: str) -> None:
        self.git.run("add", "-A")
        self.git.run("commit", "-q", "-m", message)
        short = self.git.run("rev-parse", "--short", "HEAD").decode().strip()
        self.say(f"$ git commit -m {shlex.quote(message)}   -> {short}")
        self.result.commits.append(message)

    def _local_git_identity(self) -> None:
        """Commits must work on a machine where git knows no user: set one in this repository."""
        self.git.run("config", "commit.gpgsign", "false")  # no passphrase prompt in a demo
        for key, value in (("user.name", "himo demo"), ("user.email", "demo@himo.invalid")):
            try:
                self.git.run("config", key)
            except HimoError:  # git config exits 1 when the key is unset
                self.git.run("config", key, value)

    def _python(self, script: str) -> None:
        proc = subprocess.run([sys.executable, script], cwd=self.root, capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            self.say(line)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
            raise HimoError(f"{script} failed: {lines[-1]}",
                            f"run `{sys.executable} {script}` in {self.root} to see the whole error")


def _spec(stage: StageDef) -> StageSpec:
    return StageSpec(
        name=stage.name, cmd=[sys.executable, stage.script], desc=stage.desc, deps=list(stage.deps),
        params=[",".join(stage.params)] if stage.params else [], outs=list(stage.outs),
        metrics_no_cache=list(stage.metrics_no_cache),
    )


def _stage_add_line(spec: StageSpec) -> str:
    """The `himo stage add` command that writes the same stage."""
    args = ["himo", "stage", "add", "-n", spec.name]
    args += [a for p in spec.params for a in ("-p", p)]
    args += [a for d in spec.deps for a in ("-d", d)]
    args += [a for o in spec.outs for a in ("-o", o)]
    args += [a for m in spec.metrics_no_cache for a in ("-M", m)]
    return f"$ {shlex.join(args)} {command_line(spec.cmd)}"


def _inline(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v}" for k, v in metrics.items())


NEXT_STEPS = [
    ("himo dag", "the pipeline graph"),
    ("himo status", "data and stages: all up to date"),
    ("himo params diff HEAD~1", "parameters of the first run against now"),
    ("himo metrics diff HEAD~1", "and what the change did to the metrics"),
    ("himo repro", "nothing to do; edit params.yaml or src/*.py first"),
    ("git checkout HEAD~1 -- params.yaml && himo repro",
     f"{CHANGE[0]} back to {CHANGE[1]}: the model comes from the run-cache, not re-trained"),
    ("git log --stat", "code, params, pointers and himo.lock, versioned together"),
    ("himo runs", "when each stage ran, how long, which params changed"),
    (f"himo lineage {PREDICTIONS}", "which data, model and code made the predictions"),
    ("himo releases", "which model is live in production, since when, made by which run"),
    (f"himo where {PREDICTIONS}", "every place the predictions are: cache, remote, delivery"),
    (f"himo schedule show {SCHEDULE_NAME}", "the daily predictions: each day, its attempts and runs"),
    ("himo ui --open", "the dashboard: runs, pipeline, lineage graph, releases, metrics, schedules"),
]


def _summary(result: DemoResult, echo: Echo) -> None:
    stages = ", ".join(s.name for s in STAGES)
    echo(f"\nDone in {result.seconds:.1f} s. In {result.root}:")
    echo(f"   {len(result.commits)} git commits: the project, the first run, the parameter change, "
         "the schedule")
    echo(f"   {', '.join(RAW_DATA)}: tracked by himo (*.himo pointers in git, bytes in .himo/cache)")
    echo(f"   himo.yaml: {len(STAGES)} stages ({stages}); himo.lock: what each read and wrote")
    echo(f"   {REMOTE}/: a folder remote with {result.pushed} objects (himo pull fetches them)")
    echo(f"   {MODEL}: released to production as {result.released}; {PREDICTIONS} delivered to "
         f"{DELIVERIES}/")
    echo("\nTry next:")
    echo(f"   cd {shlex.quote(str(result.root))}")
    width = max(len(cmd) for cmd, _ in NEXT_STEPS)
    for cmd, why in NEXT_STEPS:
        echo(f"   {cmd:<{width}}   # {why}")
