"""A real dask.distributed cluster on loopback, started once per test session (and xdist worker):
a scheduler and two worker processes (each under a nanny, each with its own scratch folder,
$HIMO_SCRATCH). Tests using it are marked `xdist_group("dask")`, so that one xdist worker runs them
all and the cluster starts once. Workers share nothing with a test's repository but git and the
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
from typing import Any

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


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory, _environment: None) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("dask")
    env = os.environ | {"PYTHONPATH": SRC, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3"}
    spec = base / "scheduler.json"
    log = open(base / "cluster.log", "wb")  # noqa: SIM115 - open while the cluster lives
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(spec)],
                              env=env, stdout=log, stderr=log)]
    try:
        procs += [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(spec),
             "--nthreads", "1", "--no-dashboard", "--name", f"w{i}",
             "--local-directory", str(base / f"w{i}")],
            env=env | {"HIMO_SCRATCH": str(base / f"scratch{i}")}, stdout=log, stderr=log) for i in (1, 2)]
        cluster = Cluster(_address(spec), base)
        with cluster.client() as client:
            client.wait_for_workers(2, timeout=WAIT)
        yield cluster
    finally:  # the workers first: a worker whose scheduler is gone waits for it before it leaves
        for group in (procs[1:], procs[:1]):
            for proc in group:
                proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        log.close()


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
