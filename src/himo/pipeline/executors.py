"""Executors: what runs a ready stage and hands back its committed outputs.

The DAG walk (`pipeline.scheduler`), himo.lock, the run-cache and the metadata records stay above,
in `api.repro`, whichever executor runs the stage: `repro` hands each stale stage, with the deps
and params it saw, to an executor's `run`, and gets back the exit code and the outputs, already in
the cache and in the workspace. `LocalExecutor` runs the commands here, in the workspace;
`himo.api.dask_executor.DaskExecutor` runs them on a Dask cluster's workers.

An executor calls `job.started(attempt, host)` when an attempt of the stage starts (a stage lost
with its worker starts again elsewhere: each attempt is an execution in the store).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from himo.model.stage import DepState, Stage
from himo.objects.ingest import Ingester
from himo.objects.links import Linker
from himo.objects.tree import store_path
from himo.pipeline.executor import Executor
from himo.workspace.gitignore import ignore_target
from himo.workspace.ignore import ignored_in
from himo.workspace.repo import Repo

Params = dict[str, dict[str, Any]]  # params file -> key -> value
Started = Callable[[str, "str | None"], None]  # (attempt id, host or None for this machine)
HOST = socket.gethostname()


@dataclass
class StageJob:
    """A stage ready to run: its upstream stages succeeded and its outputs were cleared."""

    stage: Stage
    deps: tuple[DepState, ...]  # as repro hashed them: what the stage must read
    params: Params  # the params values it must see
    log: Path  # where its log goes, in the workspace's .himo/logs
    prefix: str  # put before each echoed line ("[name] " when stages run side by side)
    started: Started  # called as each attempt starts


@dataclass
class StageOutcome:
    code: int  # the first non-zero exit code of its commands, or 0
    outs: tuple[DepState, ...] = ()  # committed outputs (in the cache and the workspace), if code == 0
    missing: list[str] = field(default_factory=list)  # declared outputs the commands did not create


class StageExecutor(Protocol):
    name: str
    stopping: bool  # stop() was called: a stage that ends now was aborted, not failed

    def slots(self, jobs: int) -> int:
        """How many stages the walk may hand over at once, given `-j`."""

    def prepare(self) -> None:
        """Before the first stage: connect, check what the executor needs (may raise HimoError)."""

    def run(self, job: StageJob) -> StageOutcome: ...

    def stop(self) -> None:
        """Ctrl-C: end every running stage; nothing of them is committed."""

    def close(self) -> None: ...


class LocalExecutor:
    """Today's `repro`: each stage's commands run here, in the workspace (`-j` of them at once)."""

    name = "local"

    def __init__(self, repo: Repo, echo: Callable[[str], None]) -> None:
        self.repo = repo
        self.commands = Executor(repo.root, echo)

    @property
    def stopping(self) -> bool:
        return self.commands.stopping

    def slots(self, jobs: int) -> int:
        return jobs

    def prepare(self) -> None:
        pass

    def run(self, job: StageJob) -> StageOutcome:
        job.started("local", None)
        code = self.commands.run(job.stage, job.log, job.prefix)
        if code != 0:
            return StageOutcome(code)
        missing = [o.path for o in job.stage.outs if not (self.repo.root / o.path).exists()]
        if missing:
            return StageOutcome(0, missing=missing)
        return StageOutcome(0, commit_outputs(self.repo, job.stage))

    def stop(self) -> None:
        self.commands.stop()

    def close(self) -> None:
        pass


def copier(repo: Repo) -> Ingester:
    """Stores and places by copying, whatever cache.type says: for uncached outputs, whose bytes
    the cache keeps for the run-cache only, the workspace file staying the stage's own, and for
    files a stage may write into (a dep on a Dask worker)."""
    return Ingester(repo.odb, repo.state, Linker(("copy",)), repo.jobs)


def commit_outputs(repo: Repo, stage: Stage) -> tuple[DepState, ...]:
    """Store the stage's outputs in the cache, cached ones git-ignored, uncached ones copied (the
    cache keeps their bytes for the run-cache only); their states, in declaration order."""
    ingester = repo.ingester()
    states = []
    for out in stage.outs:
        path = repo.root / out.path
        info = store_path(ingester if out.cache else copier(repo), path, ignored_in(repo.root, path))
        if out.cache:
            ignore_target(path)
        states.append(DepState(out.path, info.digest, info.size, info.nfiles))
    return tuple(states)
