"""`himo demo`: the README's main command builds and runs a real scikit-learn project."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import git


def test_demo_builds_runs_changes_and_pushes(tmp_path: Path):
    dest = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "himo", "demo", str(dest)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    stages = yaml.safe_load((dest / "himo.yaml").read_text())["stages"]
    assert list(stages) == ["prepare", "featurize", "train", "evaluate", "predict"]
    lock = yaml.safe_load((dest / "himo.lock").read_text())["stages"]
    assert lock["train"]["params"]["params.yaml"]["train.C"] == 0.01
    assert lock["train"]["outs"][0]["path"] == "models/model.pkl"
    metrics = json.loads((dest / "metrics.json").read_text())
    assert 0.5 < metrics["accuracy"] <= 1
    assert len((dest / "predictions.csv").read_text().splitlines()) == 201
    # the second run re-ran only what reads train.C
    assert "prepare    up to date" in proc.stdout and "featurize  up to date" in proc.stdout
    assert "train      ran (param train.C changed (1.0 -> 0.01))" in proc.stdout
    log = git(dest, "log", "--format=%s").splitlines()
    assert log == ["Add a storage remote", "Try train.C = 0.01", "Run the pipeline",
                   "Demo project: code, params, pipeline; data tracked by himo"]
    remote_objects = [p for p in (dest / ".demo-remote").rglob("*") if p.is_file()]
    assert len(remote_objects) >= 10
    status = subprocess.run([sys.executable, "-m", "himo", "status", "--json"], cwd=dest,
                            capture_output=True, text=True)
    assert json.loads(status.stdout)["stages"] == {}


def test_demo_refuses_a_non_empty_folder(tmp_path: Path):
    (tmp_path / "keep.txt").write_text("mine")
    proc = subprocess.run([sys.executable, "-m", "himo", "demo", str(tmp_path)], capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: {tmp_path}: exists and is not empty\n")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
