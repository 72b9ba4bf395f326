"""`himo params diff`, `himo metrics show`, `himo metrics diff` between git revisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Himo, git, write

PIPELINE = """\
stages:
  train:
    cmd: cp result.json metrics.json
    deps: [result.json]
    params: [train.lr, train.depth]
    metrics:
      - metrics.json: {cache: false}
  other:
    cmd: cp config.json out.json
    deps: [config.json]
    params:
      - config.json: [threads]
    outs: [out.json]
"""


@pytest.fixture
def project(repo: Path, himo: Himo) -> Path:
    write(repo / "params.yaml", "train:\n  lr: 0.1\n  depth: 3\n  unused: x\n")
    write(repo / "config.json", '{"threads": 4}')
    write(repo / "result.json", '{"acc": 0.8, "loss": {"val": 0.3}}')
    write(repo / "himo.yaml", PIPELINE)
    himo("repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    write(repo / "params.yaml", "train:\n  lr: 0.2\n  depth: 3\n  unused: y\n")
    write(repo / "result.json", '{"acc": 0.85, "loss": {"val": 0.25}}')
    himo("repro")
    return repo


def test_params_diff_head_against_workspace(project: Path, himo: Himo):
    out = himo("params", "diff").stdout.splitlines()
    assert out == ["Path         Key       HEAD  workspace", "params.yaml  train.lr  0.1   0.2"]
    doc = json.loads(himo("params", "diff", "--json").stdout)
    assert doc == {"params.yaml": {"train.lr": {"old": 0.1, "new": 0.2}}}


def test_params_diff_all_lists_only_used_keys_of_every_file(project: Path, himo: Himo):
    doc = json.loads(himo("params", "diff", "--all", "--json").stdout)
    assert doc == {
        "config.json": {"threads": {"old": 4, "new": 4}},
        "params.yaml": {"train.depth": {"old": 3, "new": 3}, "train.lr": {"old": 0.1, "new": 0.2}},
    }


def test_params_diff_between_two_commits(project: Path, himo: Himo):
    git(project, "commit", "-qam", "v2")
    doc = json.loads(himo("params", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert doc == {"params.yaml": {"train.lr": {"old": 0.1, "new": 0.2}}}
    assert himo("params", "diff", "HEAD", "HEAD").stdout == "No changes.\n"


def test_metrics_show_flattens_keys(project: Path, himo: Himo):
    assert himo("metrics", "show").stdout.splitlines() == [
        "Path          Metric    Value", "metrics.json  acc       0.85", "metrics.json  loss.val  0.25"]
    assert json.loads(himo("metrics", "show", "--json").stdout) == {
        "metrics.json": {"acc": 0.85, "loss.val": 0.25}}


def test_metrics_diff_with_change_column(project: Path, himo: Himo):
    doc = json.loads(himo("metrics", "diff", "--json").stdout)
    assert doc == {"metrics.json": {"acc": {"old": 0.8, "new": 0.85, "diff": 0.05},
                                    "loss.val": {"old": 0.3, "new": 0.25, "diff": -0.05}}}
    assert "metrics.json  acc       0.8   0.85       0.05" in himo("metrics", "diff").stdout


def test_metrics_file_missing_at_one_revision_shows_dash(project: Path, himo: Himo):
    (project / "metrics.json").unlink()
    out = himo("metrics", "diff").stdout
    assert "metrics.json  acc       0.8   -          -" in out
    assert json.loads(himo("metrics", "diff", "--json").stdout)["metrics.json"]["acc"] == {
        "old": 0.8, "new": None, "diff": None}


def test_unknown_revision_is_a_clear_error(project: Path, himo: Himo):
    proc = himo("metrics", "diff", "nope", ok=False)
    assert proc.returncode == 1
    assert proc.stderr == ("Error: unknown git revision 'nope'\n"
                           "Hint: use a commit, branch or tag name, e.g. HEAD~1\n")


def test_unparsable_metrics_file_names_it(project: Path, himo: Himo):
    write(project / "metrics.json", "{not json")
    proc = himo("metrics", "show", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: metrics.json: cannot parse:")
    assert "Traceback" not in proc.stderr


def test_without_git_revisions_are_refused(make_repo, tmp_path: Path):
    root = make_repo("plain", scm=False)
    himo = Himo(root)
    write(root / "himo.yaml", "stages: {}\n")
    proc = himo("params", "diff", ok=False)
    assert proc.returncode == 1
    assert "comparing revisions needs a git repository" in proc.stderr
