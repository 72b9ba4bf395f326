"""A small pipeline for experiments: prep (data -> prep.txt), train (params -> model + metrics)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Himo, git, write

TRAIN = """\
import json, os, sys, time, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
gate = os.environ.get("EXP_GATE")  # a folder: tests hold or meet stages there
if gate and p["alpha"] == p.get("hold"):
    open(os.path.join(gate, "held"), "w").close()
    while not os.path.exists(os.path.join(gate, "go")):
        time.sleep(0.05)
if gate and p.get("meet"):
    open(os.path.join(gate, f"at-{p['alpha']}"), "w").close()
    while len([n for n in os.listdir(gate) if n.startswith("at-")]) < p["meet"]:
        time.sleep(0.05)
os.makedirs("model", exist_ok=True)
open("model/weights.txt", "w").write(f"{p['alpha']} {p['depth']}\\n")
json.dump({"score": p["alpha"] * p["depth"], "depth": p["depth"]}, open("metrics.json", "w"))
"""

PIPELINE = """\
stages:
  prep:
    cmd: wc -l data.txt > prep.txt
    deps: [data.txt]
    outs: [prep.txt]
  train:
    cmd: python3 train.py
    deps: [prep.txt, train.py]
    params: [train]
    outs: [model]
    metrics: [metrics.json]
"""

PARAMS = "# the model's knobs\ntrain:\n  alpha: 1  # learning rate\n  depth: 2\n  hold: null\n  meet: 0\n"


@pytest.fixture(scope="session")
def _exp_template(tmp_path_factory: pytest.TempPathFactory, _templates: dict[bool, Path]) -> Path:
    """Made once: a committed repository whose pipeline ran once (himo.lock committed)."""
    root = tmp_path_factory.mktemp("exp-template") / "repo"
    shutil.copytree(_templates[True], root, symlinks=True)
    write(root / "data.txt", "".join(f"{i}\n" for i in range(50)))
    write(root / "train.py", TRAIN)
    write(root / "himo.yaml", PIPELINE)
    write(root / "params.yaml", PARAMS)
    himo = Himo(root)
    himo("add", "data.txt")
    himo("repro")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pipeline")
    return root


@pytest.fixture
def exp_repo(_exp_template: Path, tmp_path: Path) -> Path:
    """A copy of the template for one test."""
    root = tmp_path / "repo"
    shutil.copytree(_exp_template, root, symlinks=True)
    git(root, "status")  # settles the index's stat data, so snapshots compare its bytes
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Digest of every file of the user's, of git's index and HEAD, and `git status`."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] not in (".himo", ".git") and path.is_file():
            found[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    for rel in (".git/index", ".git/HEAD", ".git/config", ".himo/config", ".himo/lock"):
        if (root / rel).exists():
            found[rel] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    # GIT_OPTIONAL_LOCKS=0: the snapshot's own `git status` must not refresh (rewrite) the index it
    # compares, which it does now and then for entries as new as the index ("racily clean").
    found["git status"] = subprocess.run(
        ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=all"], cwd=root, check=True,
        capture_output=True, text=True, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout
    found["git refs"] = git(root, "for-each-ref")
    return found
