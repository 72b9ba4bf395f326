"""A real dask.distributed cluster on loopback, started once per test session (and xdist worker):
a scheduler and two worker processes (each under a nanny, each with its own scratch folder,
$HIMO_SCRATCH). Tests using it are marked `xdist_group("dask")`, so that one xdist worker runs them
all and the cluster starts once; it stops as that worker moves on to a test outside the group (an
idle cluster burns a tenth of a core with its heartbeats: 3.4 s of CPU every 30 s), and starts
again if a later test asks for it. Workers share nothing with a test's repository but git and the
remote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

import himo

SRC = str(Path(himo.__file__).resolve().parents[1])  # the himo under test, for the workers
WAIT = 60  # seconds a rendezvous or a start may take at most (a loaded machine), never expected


@dataclass
class Cluster:
    address: str
    base: Path  # holds the workers' scratch folders

    def client(self) -> Any:
        from distributed import Client

        return Client(self.address, timeout=WAIT, set_as_default=False)


GROUP = "dask"  # the xdist_group of the tests using the cluster


@pytest.fixture(scope="session")
def _dask_clusters(tmp_path_factory: pytest.TempPathFactory, _environment: None,
                   pytestconfig: pytest.Config) -> Iterator[Clusters]:
    clusters = Clusters(tmp_path_factory)
    pytestconfig.stash[RUNNING] = clusters
    yield clusters
    clusters.stop()


@pytest.fixture
def dask_cluster(_dask_clusters: Clusters) -> Cluster:
    """The session's cluster, started if it is not running."""
    return _dask_clusters.get()


def stop_when_the_group_ends(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last test of the `dask` group in a row (pytest_runtest_teardown, tests/conftest.py)."""
    clusters = item.config.stash.get(RUNNING, None)
    if clusters is not None and _group(item) == GROUP and (nextitem is None or _group(nextitem) != GROUP):
        clusters.stop()


def _group(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    return str(marker.args[0]) if marker and marker.args else None


class Clusters:
    """Starts the cluster on demand; stops it (the workers first: a worker whose scheduler is gone
    waits for it before it leaves)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.running: Cluster | None = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log: IO[bytes] | None = None

    def get(self) -> Cluster:
        if self.running is None:
            self.running = self._start()
        return self.running

    def _start(self) -> Cluster:
        base = self.tmp_path_factory.mktemp("dask")
        env = os.environ | {"PYTHONPATH": SRC, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3"}
        spec = base / "scheduler.json"
        self.log = log = open(base / "cluster.log", "wb")  # noqa: SIM115 - open while the cluster lives
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(spec)], env=env, stdout=log, stderr=log)]
        try:
            self.procs += [subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(spec),
                 "--nthreads", "1", "--no-dashboard", "--name", f"w{i}",
                 "--local-directory", str(base / f"w{i}")],
                env=env | {"HIMO_SCRATCH": str(base / f"scratch{i}")}, stdout=log, stderr=log)
                for i in (1, 2)]
            cluster = Cluster(_address(spec), base)
            with cluster.client() as client:
                client.wait_for_workers(2, timeout=WAIT)
        except BaseException:
            self.stop()
            raise
        return cluster

    def stop(self) -> None:
        for group in (self.procs[1:], self.procs[:1]):
            for proc in group:
                proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []
        self.running = None
        if self.log is not None:
            self.log.close()
            self.log = None


RUNNING = pytest.StashKey[Clusters]()


def _address(spec: Path) -> str:
    """The address the scheduler writes to `spec` once it listens (read when whole: it is written
    in place, a reader may see it empty)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            return str(json.loads(spec.read_text())["address"])
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(0.05)
    pytest.fail(f"the Dask scheduler wrote no address to {spec} within {WAIT} s (see cluster.log)")
