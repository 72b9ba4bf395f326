"""`himo repro`: bring stage outputs up to date, running only what changed.

For each selected stage, in DAG order: compare deps, params, cmd and outs with himo.lock;
if stale, restore from the run-cache when this exact run happened before, else run it.
Outputs of a successful run enter the cache and himo.lock (atomically); a failed or
interrupted stage commits nothing and leaves its lock entry as it was.

Every stage that runs or is restored is an execution in the metadata store, recorded as it
starts and ends (inputs, outputs, params, code digests); up-to-date stages and --dry record nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from himo.api.recording import recording
from himo.errors import ConfigError, PipelineError, StageFailedError
from himo.meta.kinds import infer_kind, is_code
from himo.meta.recorder import Context, Recorder
from himo.meta.records import ArtifactRef
from himo.model import HashInfo
from himo.model.stage import DepState, LockEntry, Output, Stage
from himo.objects.manifest import load_manifest
from himo.objects.tree import place_path, tree_objects
from himo.pipeline.changes import Snapshot, reasons_to_run
from himo.pipeline.dag import Dag, build_dag
from himo.pipeline.executor import log_tail
from himo.pipeline.executors import LocalExecutor, StageExecutor, StageJob, copier
from himo.pipeline.loader import load_stages
from himo.pipeline.lockfile import read_lock, write_lock
from himo.pipeline.params import read_metrics
from himo.pipeline.runcache import RunCache, run_key
from himo.pipeline.scheduler import run_in_order
from himo.workspace.ignore import load_ignore
from himo.workspace.repo import Repo


@dataclass
class StageResult:
    name: str
    status: str  # "ran", "restored", "up to date", "would run", "failed", "skipped", "aborted"
    reasons: list[str] = field(default_factory=list)  # why it was stale
    seconds: float = 0.0  # wall time of the stage (commands and commit)
    log: str | None = None  # repository-relative log file, for stages that ran
    exit_code: int | None = None


@dataclass
class ReproOptions:
    force: bool = False  # run the selected stages even if up to date
    single_item: bool = False  # only the targets, not their upstream stages
    downstream: bool = False  # the targets and everything below them
    dry: bool = False  # say what would run; change nothing
    jobs: int = 1  # stages run at once
    keep_going: bool = False  # after a failure, still run stages that do not depend on it
    executor: str | None = None  # "local" or "dask"; None: config executor.default, else local
    scheduler: str | None = None  # Dask scheduler address; None: executor.dask.scheduler, else a LocalCluster


def load_dag(repo: Repo) -> Dag:
    return build_dag(repo.root, load_stages(repo.root))


def select(dag: Dag, targets: list[str], opts: ReproOptions) -> list[str]:
    """Names of the stages to consider, in DAG order."""
    unknown = [t for t in targets if t not in dag.stages and not any(
        n.startswith(t + "@") for n in dag.stages)]
    if unknown:
        known = ", ".join(dag.stages) or "none"
        raise PipelineError(f"no stage named {unknown[0]!r} in himo.yaml (stages: {known})",
                            "see `himo dag` for the stage names")
    roots = {n for n in dag.stages for t in targets if n == t or n.startswith(t + "@")} or set(dag.stages)
    chosen = set(roots)
    if opts.downstream:
        chosen |= dag.descendants(*roots)
    if not opts.single_item:
        chosen |= dag.ancestors(*chosen)
    return dag.order(chosen)


Params = dict[str, dict[str, Any]]  # params file -> key -> value
EXEC_STATUS = {"ran": "succeeded", "failed": "failed", "aborted": "aborted"}  # StageResult -> store


class Reproducer:
    def __init__(self, repo: Repo, opts: ReproOptions, echo: Callable[[str], None],
                 recorder: Recorder | None = None, executor: StageExecutor | None = None) -> None:
        self.repo = repo
        self.recorder = recorder or Recorder(None, Context(repo=""))  # None: record nothing
        self.opts = opts
        self.echo = echo
        self.dag = load_dag(repo)
        self.lock = read_lock(repo.root)
        self.snap = Snapshot(repo)
        self.runs = RunCache(repo.himo_dir / "runs")
        self.executor = executor or make_executor(repo, opts, echo)  # opts.executor, else the config's
        self.results: dict[str, StageResult] = {}
        self._mutex = threading.Lock()
        self.forced: set[str] = set()

    def run(self, names: list[str]) -> list[StageResult]:
        """Bring the stages `names` (from `select`) up to date, in DAG order."""
        self.forced = set(names) if self.opts.force else set()
        jobs = 1 if self.opts.dry else self.executor.slots(self.opts.jobs)
        try:
            run_in_order(self.dag, names, self._step, jobs, self.opts.keep_going, self._skip,
                         self.executor.stop)
        finally:
            self.executor.close()  # a Dask client and the cluster it started
        return [self.results[n] for n in names if n in self.results]

    def _skip(self, name: str) -> None:
        self.results[name] = StageResult(name, "skipped", ["an upstream stage failed"])

    def _step(self, name: str) -> bool:
        stage = self.dag.stages[name]
        started = time.monotonic()
        reasons = self._reasons(stage)
        if not reasons:
            self.results[name] = StageResult(name, "up to date")
            self.echo(f"Stage '{name}' is up to date")
            return True
        if self.opts.dry:
            self.results[name] = StageResult(name, "would run", reasons)
            self.echo(f"Would run stage '{name}': {'; '.join(reasons)}")
            for out in stage.outs:  # stages below see it as changed
                self.snap.pretend_changed(out.path)
            return True
        # Forced stages run (as DVC's repro -f): the run-cache would only restore what they made before.
        forced = stage.name in self.forced and not stage.frozen
        result = (None if forced else self._restore(stage, reasons)) or self._execute(stage, reasons)
        result.seconds = time.monotonic() - started
        self.results[name] = result
        return result.status in ("ran", "restored")

    def _reasons(self, stage: Stage) -> list[str]:
        if stage.name in self.forced and not stage.frozen:
            return ["forced"]
        return reasons_to_run(stage, self.lock.get(stage.name), self.snap)

    def _restore(self, stage: Stage, reasons: list[str]) -> StageResult | None:
        if stage.always_changed or not stage.outs:
            return None
        deps, params = self.snap.deps(stage), self.snap.params(stage)
        outs = self.runs.get(run_key(stage, deps, params))
        ingester = self.repo.ingester()
        if outs is None or not all(_cached(ingester, o) for o in outs) or _holds_ignored(self.repo, outs):
            return None
        exec_id = self._start_execution(stage, deps, params, reasons)
        try:
            uncached = {o.path for o in stage.outs if not o.cache}
            for out in outs:
                info = HashInfo(out.digest or "", out.size, out.nfiles)
                # An uncached output comes back as a private copy (it is not checked out, nor protected).
                placer = copier(self.repo) if out.path in uncached else ingester
                place_path(placer, self.repo.root / out.path, info)
                self.snap.forget(out.path)
            self._record(stage, deps, params, tuple(outs))
        except BaseException:
            self.recorder.end_execution(exec_id, "failed", self._inputs(deps))
            raise
        self.recorder.end_execution(exec_id, "cached", self._inputs(deps), self._outputs(stage, outs),
                                    **self._reported(stage, None))
        self.echo(f"Restored stage '{stage.name}' from the run-cache (same cmd, deps and params ran before)")
        return StageResult(stage.name, "restored", reasons)

    def _execute(self, stage: Stage, reasons: list[str]) -> StageResult:
        """Run the stage, each attempt recorded as an execution from its start to after its commit."""
        self.executor.prepare()
        self.echo(f"Running stage '{stage.name}': {'; '.join(reasons)}")
        deps, params = self.snap.deps(stage), self.snap.params(stage)
        attempts = Attempts(self, stage, deps, params, reasons)
        try:
            result, outs = self._run_and_commit(stage, deps, params, reasons, attempts)
        except BaseException:
            attempts.end("aborted" if self.executor.stopping else "failed", self._inputs(deps))
            raise
        attempts.end(EXEC_STATUS[result.status], self._inputs(deps), self._outputs(stage, outs),
                     result.exit_code, result.log, **self._reported(stage, result.log))
        return result

    def _reported(self, stage: Stage, log: str | None) -> dict[str, Any]:
        """What the stage reported, kept in the store so it answers without the files: the values
        of its metrics files and its log's last lines (small reads: metrics files are small, the
        log is read from its end)."""
        if self.recorder.folder is None:  # recording is off
            return {}
        metrics = {}
        for out in stage.outs:
            values = read_metrics(self.repo.root / out.path, out.path) if out.role == "metrics" else None
            if values is not None:
                metrics[out.path] = values
        return {"metrics": metrics, "log_tail": log_tail(self.repo.root / log) if log else None}

    def _run_and_commit(self, stage: Stage, deps: tuple[DepState, ...], params: Params,
                        reasons: list[str], attempts: Attempts) -> tuple[StageResult, tuple[DepState, ...]]:
        self._clear_outputs(stage)
        log = self._log_path(stage)
        prefix = f"[{stage.name}] " if self.opts.jobs > 1 or self.executor.name != "local" else ""
        outcome = self.executor.run(StageJob(stage, deps, params, log, prefix, attempts.started))
        for out in stage.outs:
            self.snap.forget(out.path)
        rel_log = self.repo.rel(log)
        if outcome.code != 0:
            status = "aborted" if self.executor.stopping else "failed"
            return StageResult(stage.name, status, reasons, log=rel_log, exit_code=outcome.code), ()
        if outcome.missing:
            self.echo(f"Stage '{stage.name}' did not create {', '.join(outcome.missing)}")
            return StageResult(stage.name, "failed", reasons, log=rel_log, exit_code=0), ()
        outs = outcome.outs
        self._record(stage, deps, params, outs)
        self.runs.put(run_key(stage, deps, params), stage, outs)
        return StageResult(stage.name, "ran", reasons, log=rel_log, exit_code=0), outs

    def _start_execution(self, stage: Stage, deps: tuple[DepState, ...], params: Params,
                         reasons: list[str], host: str | None = None) -> str:
        code = {d.path: d.digest for d in deps if d.digest and is_code(d.path)}  # pins uncommitted code
        return self.recorder.start_execution(stage.name, list(stage.cmd), params, reasons, code, host)

    def _inputs(self, deps: tuple[DepState, ...]) -> list[ArtifactRef]:
        return [_ref(d, self._dep_kind(d.path)) for d in deps if d.digest]

    def _outputs(self, stage: Stage, outs: Sequence[DepState]) -> list[ArtifactRef]:
        declared = {o.path: o for o in stage.outs}
        return [_ref(o, _out_kind(declared.get(o.path, Output(o.path)))) for o in outs if o.digest]

    def _dep_kind(self, path: str) -> str:
        """A dep written by a stage has that output's kind; any other dep is source data or code."""
        out_path = self.dag.output_holding(path)
        if out_path is None:
            return infer_kind(path, "dep", data=True)
        output = next(o for o in self.dag.stages[self.dag.producer[out_path]].outs if o.path == out_path)
        return _out_kind(output) if path == out_path else infer_kind(path, output.role)

    def _clear_outputs(self, stage: Stage) -> None:
        """Before the stage runs: delete its outputs, except persistent ones, which become
        private copies: the stage may write to them, never through a link into the cache."""
        import shutil

        for out in stage.outs:
            path = self.repo.root / out.path
            if not (path.exists() or path.is_symlink()):
                continue
            if out.persist:
                from himo.api.remove import make_private  # here: it imports .himoignore's and DVC's readers

                make_private(self.repo, path)
                self.snap.forget(out.path)
                continue
            try:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            except OSError as exc:  # e.g. a process still writing into it: not a bug of himo
                raise PipelineError(
                    f"stage '{stage.name}': cannot delete its output {out.path} before running it:"
                    f" {exc.strerror}", "is a process still writing into it? Stop it, then run"
                    " `himo repro` again") from exc
            self.snap.forget(out.path)

    def _record(self, stage: Stage, deps: tuple[DepState, ...], params, outs) -> None:  # type: ignore[no-untyped-def]
        with self._mutex:
            self.lock[stage.name] = LockEntry(stage.cmd, deps, params, outs)
            write_lock(self.repo.root, self.lock, list(self.dag.stages))

    def _log_path(self, stage: Stage):  # type: ignore[no-untyped-def]
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return self.repo.himo_dir / "logs" / stage.name.replace("/", "_") / f"{stamp}.log"


class Attempts:
    """A stage's executions in the store: one per attempt. An attempt that starts while another
    was running means that one was lost (its worker died): it ends `aborted`."""

    def __init__(self, reproducer: Reproducer, stage: Stage, deps: tuple[DepState, ...], params: Params,
                 reasons: list[str]) -> None:
        self.reproducer, self.stage, self.deps, self.params, self.reasons = (
            reproducer, stage, deps, params, reasons)
        self.seen: set[str] = set()
        self.exec_id: str | None = None
        self._mutex = threading.Lock()

    def started(self, attempt: str, host: str | None) -> None:
        with self._mutex:
            if attempt in self.seen:
                return
            self.seen.add(attempt)
            if self.exec_id is not None:
                inputs = self.reproducer._inputs(self.deps)
                self.reproducer.recorder.end_execution(self.exec_id, "aborted", inputs)
            self.exec_id = self.reproducer._start_execution(self.stage, self.deps, self.params, self.reasons,
                                                            host)

    def end(self, status: str, *args: Any, **extra: Any) -> None:
        with self._mutex:
            if self.exec_id is None:  # it failed before any attempt started (say, sending its deps)
                self.exec_id = self.reproducer._start_execution(self.stage, self.deps, self.params,
                                                                self.reasons)
            self.reproducer.recorder.end_execution(self.exec_id, status, *args, **extra)


def _out_kind(out: Output) -> str:
    return infer_kind(out.path, out.role, out.kind)


def _ref(state: DepState, kind: str) -> ArtifactRef:
    return ArtifactRef(path=state.path, digest=state.digest or "", size=state.size, nfiles=state.nfiles,
                       kind=kind)


def _cached(ingester, out: DepState) -> bool:  # type: ignore[no-untyped-def]
    info = HashInfo(out.digest or "", out.size, out.nfiles)
    return all(ingester.odb.exists(o) for o in tree_objects(ingester, info)) and (
        not info.isdir or ingester.odb.exists(info.digest))


def _holds_ignored(repo: Repo, outs: Sequence[DepState]) -> bool:
    """Whether an output folder of a run-cache entry holds a file .himoignore names: the entry
    was made before .himoignore named it (outputs are stored without such files), and placing
    it would leave the stage stale again, so it is run instead."""
    for out in outs:
        if out.nfiles is None or not out.digest:
            continue
        ignored = load_ignore(repo.root, repo.root / out.path)
        if ignored is not None and any(ignored(e.path, False) for e in
                                       load_manifest(repo.odb.read_bytes(out.digest), out.digest)):
            return True
    return False


def repro(repo: Repo, targets: list[str] | None = None, opts: ReproOptions | None = None,
          echo: Callable[[str], None] = lambda _: None, command: str = "repro",
          args: list[str] | None = None) -> list[StageResult]:
    """Run what is stale; raise StageFailedError after a failure (results are in `.results`).

    Recorded in the metadata store as a run of `command` ("repro", or "run" for `himo run`)
    with `args` (default: the targets and options), unless `opts.dry`.
    """
    opts = opts or ReproOptions()
    targets = list(targets or [])
    with repo.lock() if not opts.dry else contextlib.nullcontext():
        reproducer = Reproducer(repo, opts, echo)
        names = select(reproducer.dag, targets, opts)  # bad input is refused before a run is recorded
        if opts.dry:
            return _check(reproducer.run(names))
        with recording(repo, command, _args(targets, opts) if args is None else args) as recorder:
            reproducer.recorder = recorder
            return _check(reproducer.run(names))


def _local(repo: Repo, opts: ReproOptions, echo: Callable[[str], None]) -> StageExecutor:
    return LocalExecutor(repo, echo)


def _dask(repo: Repo, opts: ReproOptions, echo: Callable[[str], None]) -> StageExecutor:
    from himo.api.dask_executor import DaskExecutor

    return DaskExecutor(repo, echo, opts.scheduler or repo.config.get("executor.dask.scheduler"))


EXECUTORS: dict[str, Callable[[Repo, ReproOptions, Callable[[str], None]], StageExecutor]] = {
    "local": _local, "dask": _dask}


def make_executor(repo: Repo, opts: ReproOptions, echo: Callable[[str], None]) -> StageExecutor:
    """The executor `opts` asks for, else config `executor.default`, else local."""
    name = opts.executor or repo.config.get("executor.default") or "local"
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r} (executor.default)",
                          f"use one of {', '.join(EXECUTORS)}")
    if opts.dry:  # nothing runs: no cluster to start
        return LocalExecutor(repo, echo)
    return EXECUTORS[name](repo, opts, echo)


def _check(results: list[StageResult]) -> list[StageResult]:
    failed = [r for r in results if r.status in ("failed", "aborted")]
    if failed:
        first = failed[0]
        error = StageFailedError(
            f"stage '{first.name}' {first.status} (exit code {first.exit_code}); log: {first.log}",
            "fix the stage and run `himo repro` again; nothing from the failed stage entered himo.lock",
        )
        error.results = results  # type: ignore[attr-defined]
        raise error
    return results


def _args(targets: list[str], opts: ReproOptions) -> list[str]:
    """The command line that asks for this repro, as the run's args."""
    flags = [flag for flag, on in (("--force", opts.force), ("--single-item", opts.single_item),
                                   ("--downstream", opts.downstream), ("--keep-going", opts.keep_going))
             if on]
    executor = (["--executor", opts.executor] if opts.executor else []) + (
        ["--scheduler", opts.scheduler] if opts.scheduler else [])
    return flags + (["--jobs", str(opts.jobs)] if opts.jobs > 1 else []) + executor + targets
