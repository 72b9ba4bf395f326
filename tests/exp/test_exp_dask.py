"""A sweep of experiments whose stages run on a real Dask cluster (tests/dask_cluster.py: a
scheduler and two worker processes on loopback), against the same sweep run locally."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Himo
from tests.dask_cluster import Cluster
from tests.meta.test_recording import recorded
from tests.remotes.helpers import FolderStore

pytestmark = pytest.mark.xdist_group("dask")  # the cluster is started once, on one xdist worker

SWEEP = ("-S", "train.alpha=1,2,3", "-S", "train.depth=3,5", "-n", "sw")  # none is the baseline (1, 2)
NAMES = [f"sw-{i}" for i in range(1, 7)]


def results(himo: Himo) -> dict[str, dict[str, Any]]:
    """Each experiment as the store shows it, with its outputs from its record."""
    shown = json.loads(himo("exp", "show", "--json", "-A").stdout)
    rows = {r["name"]: r for r in shown if r["kind"] == "experiment"}
    for name, row in rows.items():
        record = json.loads((himo.cwd / ".himo" / "exps" / f"{name}.json").read_text())
        row["outputs"] = record["outputs"]
    keys = ("params", "metrics", "outputs", "status")
    return {name: {k: row[k] for k in keys} for name, row in rows.items()}


def test_a_sweep_on_two_dask_workers_equals_a_local_run(
        dask_cluster: Cluster, exp_repo: Path, tmp_path: Path) -> None:
    local = tmp_path / "local"
    shutil.copytree(exp_repo, local, symlinks=True)
    himo = Himo(exp_repo)
    FolderStore(tmp_path / "remote").configure(himo)
    himo("config", "executor.dask.scheduler", dask_cluster.address)

    himo("exp", "run", *SWEEP, "--queue", "--executor", "dask")
    out = himo("queue", "start", "-j", "2").stdout
    assert all(f"Experiment '{name}' succeeded" in out for name in NAMES), out
    on_dask = results(himo)
    assert sorted(on_dask) == NAMES
    points = {(r["params"]["train.alpha"], r["params"]["train.depth"]) for r in on_dask.values()}
    assert points == {(a, d) for a in (1, 2, 3) for d in (3, 5)}
    for row in on_dask.values():
        alpha, depth = row["params"]["train.alpha"], row["params"]["train.depth"]
        assert row["metrics"] == {"metrics.json:score": alpha * depth, "metrics.json:depth": depth}
    rec = recorded(exp_repo)
    exps = {r["id"] for r in rec.runs if r["command"] == "exp"}
    hosts = [e["host"] for e in rec.executions if e["run_id"] in exps and e["stage"] == "train"]
    assert len(hosts) == 6 and all("tcp://127.0.0.1:" in h for h in hosts), hosts  # ran on the workers
    assert himo("queue", "status").stdout.strip() == "The queue is empty."

    Himo(local)("exp", "run", *SWEEP, "--queue")
    Himo(local)("exp", "run", "--run-all", "-j", "2")
    assert results(Himo(local)) == on_dask
