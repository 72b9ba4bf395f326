"""DVC repositories made once per session with the real DVC (tests/dvc.py); tests copy them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dvc import dvc, git

PIPELINE = """\
# prepare, then train: the comments stay in himo.yaml
stages:
  prepare:
    cmd: cat data/raw/*.csv > prepared.txt && mkdir -p stats && echo '{"rows":3}' > stats/rows.json
    deps: [data/raw]
    outs: [prepared.txt, stats]
  train:
    cmd: python3 train.py
    deps: [prepared.txt, train.py]
    params: [train.lr]  # the learning rate
    outs: [model.txt]
    metrics:
    - metrics.json:
        cache: false
metrics: [stats/rows.json]  # inside the cached output stats
"""
TRAIN = """\
import yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
open("model.txt", "w").write(open("prepared.txt").read() + f"lr={lr}\\n")
open("metrics.json", "w").write('{"score": %s}' % (1 - lr))
"""
REMOTE = "[core]\n    remote = store\n['remote \"store\"']\n    url = ../../{store}\n"


@pytest.fixture(scope="session")
def dvc_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DVC project DVC ran up to date: a tracked folder and file, two stages (a metrics file in
    a cached output folder, one uncached), a folder remote."""
    root = tmp_path_factory.mktemp("dvc") / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    dvc(root, "init", "-q")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "a.csv").write_text("x,y\n1,2\n")
    (root / "data" / "raw" / "b.csv").write_text("3,4\n")
    (root / "single.bin").write_bytes(b"\0\1\2" * 100)
    (root / "params.yaml").write_text("train:\n  lr: 0.1\n")
    (root / "train.py").write_text(TRAIN)
    (root / "dvc.yaml").write_text(PIPELINE)
    (root / ".dvc" / "config").write_text(REMOTE.format(store="dvc-store"))
    dvc(root, "add", "-q", "data/raw", "single.bin")
    dvc(root, "repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "DVC project")
    return root


@pytest.fixture(scope="session")
def dvc_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DVC data registry: data.xml and a folder, pushed to its folder remote (../registry-store),
    its own cache emptied (so the bytes can only come from the remote)."""
    root = tmp_path_factory.mktemp("dvc-registry") / "registry"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    dvc(root, "init", "-q")
    (root / "data" / "images").mkdir(parents=True)
    (root / "data" / "data.xml").write_text("<posts><row Id='1'/></posts>\n")
    (root / "data" / "images" / "1.txt").write_text("one\n")
    (root / "data" / "images" / "2.txt").write_text("two\n")
    (root / ".dvc" / "config").write_text(REMOTE.format(store="registry-store"))
    dvc(root, "add", "-q", "data/data.xml", "data/images")
    dvc(root, "push", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "registry v1")
    for folder in (root / ".dvc" / "cache").iterdir():
        import shutil

        shutil.rmtree(folder)
    return root
