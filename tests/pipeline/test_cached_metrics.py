"""Metrics and params in cached outputs, read at git revisions through himo.lock (as DVC does), and
the run-cache of stages with uncached outputs (`cache: false`, `-M`): real stages, real git commits,
every cache.type."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Himo, git, write

TRAIN = """\
import json, os, yaml
lr = yaml.safe_load(open("params.yaml"))["lr"]
os.makedirs("eval", exist_ok=True)
json.dump({"acc": round(1 - lr, 3), "n": 10}, open("eval/metrics.json", "w"))
json.dump({"loss": lr * 2}, open("score.json", "w"))
open("model.bin", "w").write(f"model {lr}")
open("runs.log", "a").write("train\\n")
"""

PIPELINE = """\
metrics:
  - eval/metrics.json     # inside the cached output `eval`
stages:
  train:
    cmd: python3 train.py
    deps: [train.py]
    params: [lr]
    outs: [eval, model.bin]
    metrics:
      - score.json: {cache: false}
"""


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def runs(repo: Path) -> int:
    log = repo / "runs.log"
    count = len(log.read_text().split()) if log.exists() else 0
    log.unlink(missing_ok=True)
    return count


@pytest.fixture
def two_commits(request: pytest.FixtureRequest, repo: Path, himo: Himo) -> Path:
    """HEAD~1: lr 0.1 and its outputs; HEAD: lr 0.3. score.json is git-ignored: only the cache
    (for the run-cache) holds its earlier versions."""
    himo("config", "cache.type", request.param)  # given by the test, via `indirect`
    write(repo / "train.py", TRAIN)
    write(repo / "himo.yaml", PIPELINE)
    write(repo / ".gitignore", "runs.log\nscore.json\n")
    for lr in (0.1, 0.3):
        write(repo / "params.yaml", f"lr: {lr}\n")
        himo("repro")
        commit(repo, f"lr {lr}")
    assert runs(repo) == 2
    return repo


@pytest.mark.parametrize("two_commits", ["symlink"], indirect=True)
def test_metrics_diff_between_commits_reads_cached_outputs(two_commits: Path, himo: Himo):
    assert json.loads(himo("metrics", "diff", "HEAD~1", "HEAD", "--json").stdout) == {
        "eval/metrics.json": {"acc": {"old": 0.9, "new": 0.7, "diff": -0.2}},
        "score.json": {"loss": {"old": 0.2, "new": 0.6, "diff": 0.4}},
    }
    shown = json.loads(himo("metrics", "show", "-r", "HEAD~1", "--json").stdout)
    assert shown == {"eval/metrics.json": {"acc": 0.9, "n": 10}, "score.json": {"loss": 0.2}}
    table = himo("metrics", "diff", "HEAD~1", "HEAD").stdout
    assert "No changes." not in table and "eval/metrics.json  acc     0.9     0.7   -0.2" in table


@pytest.mark.parametrize("two_commits", ["copy", "hardlink", "symlink"], indirect=True)
def test_going_back_to_earlier_params_restores_uncached_outputs(two_commits: Path, himo: Himo):
    repo = two_commits
    write(repo / "params.yaml", "lr: 0.1\n")
    out = himo("repro").stdout
    assert "Restored stage 'train' from the run-cache" in out
    assert runs(repo) == 0
    score = repo / "score.json"
    assert json.loads(score.read_text()) == {"loss": 0.2}
    # the uncached output is the stage's own file again: no link into the cache, writable
    assert not score.is_symlink() and os.stat(score).st_nlink == 1 and os.access(score, os.W_OK)
    assert himo("status").stdout == "Everything is up to date.\n"


@pytest.mark.parametrize("two_commits", ["hardlink"], indirect=True)
def test_gc_keeps_what_the_workspace_lock_needs_and_history_keeps_the_rest(two_commits: Path, himo: Himo):
    repo = two_commits
    himo("gc", "-w", "-f")  # HEAD's run (lr 0.3) is kept, uncached score.json too; lr 0.1's is gone
    write(repo / "params.yaml", "lr: 0.1\n")
    assert "Running stage 'train'" in himo("repro").stdout and runs(repo) == 1
    write(repo / "params.yaml", "lr: 0.3\n")
    assert "Restored stage 'train'" in himo("repro").stdout and runs(repo) == 0
    assert json.loads((repo / "score.json").read_text()) == {"loss": 0.6}
    # with every commit in scope, the runs recorded in history keep their bytes
    write(repo / "params.yaml", "lr: 0.1\n")
    himo("repro")
    commit(repo, "lr 0.1 again")
    runs(repo)
    himo("gc", "-A", "-f")
    write(repo / "params.yaml", "lr: 0.3\n")
    assert "Restored stage 'train'" in himo("repro").stdout and runs(repo) == 0


def test_params_diff_compares_every_key_of_top_level_params_files(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "params:\n  - extra.json\nstages:\n  s:\n    cmd: 'true'\n    params: [a]\n")
    write(repo / "params.yaml", "a: 1\nb: 1\n")
    write(repo / "extra.json", '{"k": 1}')
    commit(repo, "v1")
    write(repo / "params.yaml", "a: 1\nb: 2\n")
    write(repo / "extra.json", '{"k": 2}')
    assert json.loads(himo("params", "diff", "--json").stdout) == {"extra.json": {"k": {"old": 1, "new": 2}}}


def test_push_false_keeps_an_output_out_of_himo_push(repo: Path, himo: Himo, tmp_path: Path):
    from tests.remotes.helpers import FolderStore, digest_of

    store = FolderStore(tmp_path / "remote")
    himo("remote", "add", "-d", "store", str(store.root))
    write(repo / "himo.yaml", "stages:\n  s:\n    cmd: echo big > big.bin && echo small > small.bin\n"
                              "    outs:\n      - big.bin: {push: false}\n      - small.bin\n")
    himo("repro")
    himo("push")
    assert store.objects() == {digest_of(b"small\n")}
