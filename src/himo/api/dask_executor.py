"""`himo repro --executor dask`: each stale stage a task on a Dask cluster (dask.distributed).

repro's walk hands a stage over once its upstream stages succeeded (so each task starts when its
upstream tasks are done), on as many threads as stages may run at once; this executor submits it
and waits. Client and workers share nothing but git and the default remote:

- before the first stage: connect (a scheduler's address, or a LocalCluster of `LOCAL_WORKERS`
  processes), then a preflight on every worker: can it reach the remote? One clear error if not;
- before each stage: its deps go to the remote (what is not in the cache yet, such as code, is
  copied in first) unless known to be there;
- on a worker (`api.stage_task`): the commit in a scratch folder, deps fetched by digest, commands,
  outputs pushed; it hands back their digests and its log;
- back here: outputs fetched from the remote (verified) and checked out; repro writes himo.lock
  and records the execution with the worker as its host.

A worker that dies mid-stage: the scheduler runs the task again elsewhere (up to its
`allowed-failures`); each attempt announces itself (an event on TOPIC), so the store shows the
lost one aborted and the retry. Ctrl-C cancels the futures and stops the commands on the workers.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from himo.api.stage_task import StageTask, TaskResult, check_remote, run_stage
from himo.api.transfer import fetch_objects, get_remote, push_objects
from himo.errors import ConfigError, ExecutorError, HimoError, ScmError
from himo.model import HashInfo
from himo.model.stage import DepState, Stage
from himo.objects.tree import place_path, store_path, tree_objects
from himo.pipeline.executor import Executor
from himo.pipeline.executors import StageJob, StageOutcome, copier
from himo.pipeline.loader import PIPELINE_FILE
from himo.remotes.local import LocalRemote
from himo.workspace.config import CREDENTIAL_KEYS
from himo.workspace.gitignore import ignore_target
from himo.workspace.ignore import ignored_in
from himo.workspace.repo import Repo

TOPIC = "himo-attempt"  # workers announce each attempt of a stage on this event topic
LOCAL_WORKERS = 2  # processes of the LocalCluster started when no scheduler is given
log = logging.getLogger(__name__)
CONNECT_SECONDS = 5.0
CLOSE_SECONDS = 10.0  # closing the client or the local cluster, at most
DONE: dict[str, Any] = {}  # put in a task's event queue when its future is done
UNBOUNDED = 256  # stages handed over at once without -j: the cluster decides what runs
INSTALL = "install it with `pip install 'himo[dask]'` (on the workers too)"


class DaskExecutor:
    name = "dask"

    def __init__(self, repo: Repo, echo: Callable[[str], None], address: str | None = None,
                 workers: int = LOCAL_WORKERS) -> None:
        self.repo, self.echo, self.address, self.workers = repo, echo, address, workers
        self.stopping = False
        self.client: Any = None
        self.cluster: Any = None
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self._events: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._futures: dict[str, Any] = {}
        self._on_remote: set[str] = set()  # digests known to be on the remote

    def slots(self, jobs: int) -> int:
        return jobs if jobs > 1 else UNBOUNDED

    def prepare(self) -> None:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self.client is not None:
                return
            try:
                self._connect()
                self._preflight()
            except BaseException as exc:
                self._failure = exc
                raise

    def _connect(self) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ExecutorError("--executor dask needs dask.distributed, which is not installed",
                                INSTALL) from exc
        if self.address is None:
            self.echo(f"Starting a local Dask cluster of {self.workers} worker processes")
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
        else:
            self.client = _client(Client, self.address)
        self.client.subscribe_topic(TOPIC, self._on_event)

    def _preflight(self) -> None:
        """Every worker can reach the remote; the client knows what to ship with each task."""
        try:
            self.store = get_remote(self.repo)
        except ConfigError as error:
            raise ExecutorError(f"--executor dask needs a default remote: {error.message}",
                                "workers fetch deps and push outputs through it; set one with"
                                " `himo remote add -d NAME URL`") from error
        configured = self.repo.config.remote(self.store.name)
        options = {k: v for k, v in configured.items() if k not in CREDENTIAL_KEYS}
        if isinstance(self.store, LocalRemote):  # workers may need a path, not the config's relative one
            os.makedirs(self.store.root, exist_ok=True)
            options["url"] = self.store.root
        self.remote = {**options, "name": self.store.name}
        try:
            self.client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError as exc:
            raise ExecutorError(f"the Dask scheduler at {self.address} has no workers",
                                "start some: `dask worker ADDRESS`") from exc
        for worker, problem in sorted(self.client.run(check_remote, self.remote).items()):
            if problem:
                raise ExecutorError(f"Dask worker {worker} cannot reach the remote: {problem}",
                                    "give every worker access to the remote (network, credentials in its"
                                    " environment), or use a remote they all reach")
        self.git_urls, self.commit, self.subdir = _git_source(self.repo)

    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        message = event[1]
        events = self._events.get(message.get("token", ""))
        if events is not None:
            events.put(message)

    def run(self, job: StageJob) -> StageOutcome:
        if self.stopping:  # Ctrl-C came while the cluster started
            return StageOutcome(130)
        token = uuid.uuid4().hex
        inputs = self._inputs(job)
        self._send(inputs)
        task = StageTask(token, job.stage, self.git_urls, self.commit, self.subdir, self._files(job.stage),
                         inputs, self.remote, job.prefix)
        self._events[token] = events = queue.Queue()
        try:
            future = self.client.submit(run_on_worker, task, key=f"himo-{job.stage.name}-{token[:8]}",
                                        pure=False)
            self._futures[token] = future
            result = self._wait(future, events, job)
        finally:
            self._futures.pop(token, None)
            self._events.pop(token, None)
        if result is None:
            return StageOutcome(130)
        job.started(result.attempt, result.host)
        self._report(job, result)
        if result.code == 0 and not result.missing:
            self._check_out(job.stage, result.outs)
        return StageOutcome(result.code, result.outs, result.missing)

    def _wait(self, future: Any, events: queue.Queue[dict[str, Any]], job: StageJob) -> TaskResult | None:
        """The task's result (None if cancelled by stop()), telling `job` of each attempt meanwhile.
        (Not `future.result(timeout=...)`: distributed's sync() loses results when many threads
        call it at once.)"""
        from distributed import KilledWorker

        future.add_done_callback(lambda _: events.put(DONE))
        while True:
            try:
                message = events.get(timeout=0.5)
            except queue.Empty:
                if future.done() or self.stopping:  # stopping: even if the cancel got lost
                    break
                continue
            if message is DONE:
                break
            job.started(message["attempt"], message["host"])
        if self.stopping or future.cancelled():
            # Ctrl-C: nothing of this stage is committed, so its result is not needed; and
            # result() is a sync() call racing stop()'s cancel and run (one such hang in CI).
            return None
        try:
            return future.result()
        except CancelledError:
            return None
        except KilledWorker as exc:
            raise ExecutorError(f"stage '{job.stage.name}' was lost with each worker that ran it: {exc}",
                                "the workers died while running it (memory? see their logs); run"
                                " `himo repro` again") from exc

    def _report(self, job: StageJob, result: TaskResult) -> None:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        job.log.write_bytes(result.log)
        for line in result.log.decode(errors="replace").splitlines():
            self.echo(job.prefix + line)

    def _inputs(self, job: StageJob) -> tuple[DepState, ...]:
        """What the worker must fetch: the deps that exist, and persistent outputs as they are."""
        persist = [self._state(o.path) for o in job.stage.outs if o.persist]
        return tuple(d for d in (*job.deps, *persist) if d.digest)

    def _state(self, path: str) -> DepState:
        full = self.repo.root / path
        if not full.exists():
            return DepState(path, None)
        info = store_path(copier(self.repo), full, ignored_in(self.repo.root, full))
        return DepState(path, info.digest, info.size, info.nfiles)

    def _send(self, inputs: tuple[DepState, ...]) -> None:
        """Make sure the remote has every input (copying into the cache what is not there yet,
        such as code or a params file that no stage writes)."""
        todo = {d.path: _info(d) for d in inputs if d.digest not in self._on_remote}
        if not todo:
            return
        copies = copier(self.repo)
        for path, info in todo.items():
            if not all(self.repo.odb.exists(o) for o in tree_objects(copies, info)):
                full = self.repo.root / path
                stored = store_path(copies, full, ignored_in(self.repo.root, full))
                if stored.digest != info.digest:
                    raise ExecutorError(f"{path} changed while `himo repro` ran",
                                        "let it be while repro runs, then run it again")
        push_objects(self.repo, self.store, todo)
        self._on_remote.update(info.digest for info in todo.values())

    def _check_out(self, stage: Stage, outs: tuple[DepState, ...]) -> None:
        infos = {o.path: _info(o) for o in outs}
        fetch_objects(self.repo, self.store, infos)
        self._on_remote.update(info.digest for info in infos.values())
        declared = {o.path: o for o in stage.outs}
        for path, info in infos.items():
            cached = declared[path].cache
            place_path(self.repo.ingester() if cached else copier(self.repo), self.repo.root / path, info)
            if cached:
                ignore_target(self.repo.root / path)

    def _files(self, stage: Stage) -> dict[str, bytes]:
        """himo.yaml and the stage's params files as they are here (uncommitted changes included)."""
        names = {PIPELINE_FILE, *(ref.file for ref in stage.params)}
        return {name: (self.repo.root / name).read_bytes() for name in sorted(names)
                if (self.repo.root / name).is_file()}

    def stop(self) -> None:
        self.stopping = True
        if self.client is None:
            return
        tokens, futures, client = list(self._futures), list(self._futures.values()), self.client

        def cancel_and_stop() -> None:
            try:
                client.cancel(futures)
                client.run(stop_on_worker, tokens, on_error="ignore")
            except Exception:  # best effort: cancelled futures never reach himo.lock anyway
                log.debug("stopping the Dask tasks failed", exc_info=True)

        # Bounded: client.run waits for every worker the scheduler knows, a dead one included
        # until the scheduler notices (a Ctrl-C in CI waited ~50 s here, then in close()).
        stopping = threading.Thread(target=cancel_and_stop, daemon=True)
        stopping.start()
        stopping.join(CLOSE_SECONDS)

    def close(self) -> None:
        """Best effort, bounded: after a Ctrl-C, distributed's Client.close() once waited forever
        (in CI); the scheduler forgets a client whose connection drops when himo exits anyway."""
        for opened in (self.client, self.cluster):
            if opened is not None:
                try:
                    opened.close(timeout=CLOSE_SECONDS)
                except Exception:  # a timeout, a connection already gone: nothing left to undo
                    log.debug("closing %r failed", opened, exc_info=True)
        self.client = self.cluster = None


def _client(client_class: Any, address: str) -> Any:
    """A client of the scheduler at `address`; one line if it cannot be reached."""
    hint = "check the address (executor.dask.scheduler or --scheduler), or omit it for a local cluster"
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 8786), timeout=CONNECT_SECONDS):
            pass
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {reason}", hint) from exc
    try:
        return client_class(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot connect to the Dask scheduler at {address}: {exc}", hint) from exc


def _git_source(repo: Repo) -> tuple[list[str], str | None, str]:
    """Where workers get the commit: (URLs to try, HEAD or None, the himo root below the git root)."""
    git = repo.git
    if git is None or not git.has_commits():
        return [], None, ""
    urls = [str(git.root)]
    try:
        urls.append(git.run("remote", "get-url", "origin").decode().strip())
    except ScmError:
        pass
    return urls, git.resolve("HEAD"), repo.root.relative_to(git.root).as_posix().strip(".")


def _info(state: DepState) -> HashInfo:
    return HashInfo(state.digest or "", state.size, state.nfiles)


RUNNING: dict[str, Executor] = {}  # on a worker: the command runner of each running task, by token


def run_on_worker(task: StageTask) -> TaskResult:
    """The Dask task: announce the attempt, run the stage in the worker's scratch root
    ($HIMO_SCRATCH, else `himo/` in the worker's local directory)."""
    from distributed import get_worker

    worker = get_worker()
    attempt = uuid.uuid4().hex
    host = f"{socket.gethostname()} ({worker.address})"
    worker.log_event(TOPIC, {"token": task.token, "attempt": attempt, "host": host})
    scratch = Path(os.environ.get("HIMO_SCRATCH") or Path(worker.local_directory) / "himo")

    def running(commands: Executor | None) -> None:
        if commands is None:
            RUNNING.pop(task.token, None)
        else:
            RUNNING[task.token] = commands

    try:
        return run_stage(task, scratch, attempt, host, running)
    except HimoError:
        raise
    except OSError as exc:  # the worker's own disk: say which worker
        raise ExecutorError(f"Dask worker {worker.address}: {exc}", "check its scratch folder") from exc


def stop_on_worker(tokens: list[str]) -> None:
    """Ctrl-C on the client: stop these tasks' commands (in the background: this runs on the
    worker's event loop, and stopping waits for the commands to end)."""
    for token in tokens:
        commands = RUNNING.get(token)
        if commands is not None:
            threading.Thread(target=commands.stop, daemon=True).start()
