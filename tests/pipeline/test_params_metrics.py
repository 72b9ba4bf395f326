"""`himo params diff`, `himo metrics show`, `himo metrics diff`: real git commits, the real CLI.

The stages are never run here: params and metrics commands only read himo.yaml and the files, so
the fixture writes the metrics files a run would have written, and commits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Himo, git, write

PIPELINE = """\
stages:
  train:
    cmd: python train.py
    params: [train.lr, train.depth]
    metrics:
      - metrics.json: {cache: false}
  report:
    cmd: python report.py
    wdir: eval
    params:
      - config.json: [threads]
    metrics:
      - scores.yaml: {cache: false}
      - summary.toml: {cache: false}
"""


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture
def project(repo: Path) -> Path:
    """Committed: lr 0.1 and its metrics. Workspace: lr 0.2 and new metrics (as after a repro)."""
    write(repo / "himo.yaml", PIPELINE)
    write(repo / "params.yaml", "train:\n  lr: 0.1\n  depth: 3\n  unused: x\n")
    write(repo / "eval/config.json", '{"threads": 4, "verbose": false}')
    write(repo / "metrics.json", '{"acc": 0.8, "loss": {"val": 0.3}}')
    write(repo / "eval/scores.yaml", "f1: 0.7\nlabel: base\n")
    write(repo / "eval/summary.toml", "rows = 100\n[timing]\nsecs = 1.5\n")
    commit(repo, "v1")
    write(repo / "params.yaml", "train:\n  lr: 0.2\n  depth: 3\n  unused: y\n")
    write(repo / "metrics.json", '{"acc": 0.85, "loss": {"val": 0.25}}')
    write(repo / "eval/scores.yaml", "f1: 0.75\nlabel: tuned\n")
    return repo


# params diff

def test_params_diff_head_against_workspace_shows_changed_used_keys(project: Path, himo: Himo):
    assert himo("params", "diff").stdout.splitlines() == [
        "Path         Param     HEAD  workspace",
        "params.yaml  train.lr  0.1   0.2",
    ]
    assert json.loads(himo("params", "diff", "--json").stdout) == {
        "params.yaml": {"train.lr": {"old": 0.1, "new": 0.2}}}


def test_params_diff_all_lists_every_key_of_the_used_files(project: Path, himo: Himo):
    assert himo("params", "diff", "--all").stdout.splitlines() == [
        "Path              Param         HEAD   workspace",
        "eval/config.json  threads       4      4",
        "eval/config.json  verbose       false  false",
        "params.yaml       train.depth   3      3",
        "params.yaml       train.lr      0.1    0.2",
        "params.yaml       train.unused  x      y",
    ]


def test_params_diff_between_two_commits(project: Path, himo: Himo):
    commit(project, "v2")
    assert json.loads(himo("params", "diff", "HEAD~1", "HEAD", "--json").stdout) == {
        "params.yaml": {"train.lr": {"old": 0.1, "new": 0.2}}}
    assert himo("params", "diff", "HEAD", "HEAD").stdout == "No changes.\n"


def test_params_sections_new_keys_and_params_yaml_by_default(repo: Path, himo: Himo):
    write(repo / "params.yaml", "train:\n  lr: 0.1\nseed: 1\n")
    commit(repo, "no stages: all of params.yaml is compared")
    write(repo / "params.yaml", "train:\n  lr: 0.1\n  epochs: 5\nseed: 2\n")
    assert json.loads(himo("params", "diff", "--json").stdout) == {"params.yaml": {
        "seed": {"old": 1, "new": 2}, "train.epochs": {"old": None, "new": 5}}}
    # a stage naming the section `train` uses every key under it, and only those
    write(repo / "himo.yaml", "stages:\n  s:\n    cmd: echo\n    params: [train]\n")
    commit(repo, "a stage that uses train")
    write(repo / "params.yaml", "train:\n  lr: 0.1\n  epochs: 6\nseed: 3\n")
    assert himo("params", "diff").stdout.splitlines() == [
        "Path         Param         HEAD  workspace",
        "params.yaml  train.epochs  5     6",
    ]


# metrics show

def test_metrics_show_flattens_json_yaml_and_toml(project: Path, himo: Himo):
    assert himo("metrics", "show").stdout.splitlines() == [
        "Path               Metric       Value",
        "eval/scores.yaml   f1           0.75",
        "eval/scores.yaml   label        tuned",
        "eval/summary.toml  rows         100",
        "eval/summary.toml  timing.secs  1.5",
        "metrics.json       acc          0.85",
        "metrics.json       loss.val     0.25",
    ]
    assert json.loads(himo("metrics", "show", "--json").stdout) == {
        "eval/scores.yaml": {"f1": 0.75, "label": "tuned"},
        "eval/summary.toml": {"rows": 100, "timing.secs": 1.5},
        "metrics.json": {"acc": 0.85, "loss.val": 0.25},
    }


def test_metrics_show_names_a_missing_metrics_file(project: Path, himo: Himo):
    (project / "metrics.json").unlink()
    proc = himo("metrics", "show")
    assert proc.stderr == "Warning: metrics.json: not found (run `himo repro` to make it)\n"
    assert "metrics.json" not in proc.stdout
    assert json.loads(himo("metrics", "show", "--json").stdout)["metrics.json"] is None


# metrics diff

def test_metrics_diff_head_against_workspace_with_change_column(project: Path, himo: Himo):
    assert himo("metrics", "diff").stdout.splitlines() == [
        "Path              Metric    HEAD  workspace  Change",
        "eval/scores.yaml  f1        0.7   0.75       0.05",
        "eval/scores.yaml  label     base  tuned      -",
        "metrics.json      acc       0.8   0.85       0.05",
        "metrics.json      loss.val  0.3   0.25       -0.05",
    ]
    assert json.loads(himo("metrics", "diff", "--json").stdout) == {
        "eval/scores.yaml": {"f1": {"old": 0.7, "new": 0.75, "diff": 0.05},
                             "label": {"old": "base", "new": "tuned", "diff": None}},
        "metrics.json": {"acc": {"old": 0.8, "new": 0.85, "diff": 0.05},
                         "loss.val": {"old": 0.3, "new": 0.25, "diff": -0.05}},
    }


def test_metrics_diff_all_between_commits(project: Path, himo: Himo):
    commit(project, "v2")
    doc = json.loads(himo("metrics", "diff", "HEAD~1", "HEAD", "--all", "--json").stdout)
    assert doc["eval/summary.toml"] == {"rows": {"old": 100, "new": 100, "diff": 0},
                                        "timing.secs": {"old": 1.5, "new": 1.5, "diff": 0.0}}
    assert doc["metrics.json"]["acc"] == {"old": 0.8, "new": 0.85, "diff": 0.05}


def test_metrics_file_missing_at_one_revision_shows_dash(project: Path, himo: Himo):
    write(project / "himo.yaml", PIPELINE + "  extra:\n    cmd: echo\n    metrics: [extra.json]\n")
    write(project / "extra.json", '{"n": 7}')
    commit(project, "v2: a stage with a new metrics file")
    (project / "metrics.json").unlink()
    # HEAD~1 does not declare extra.json (himo.yaml is read at each revision)
    assert json.loads(himo("metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)["extra.json"] == {
        "n": {"old": None, "new": 7, "diff": None}}
    assert himo("metrics", "diff", "HEAD").stdout.splitlines()[1:] == [
        "metrics.json  acc       0.85  -          -",
        "metrics.json  loss.val  0.25  -          -",
    ]


# errors: one line, the thing named, exit code 1

def test_unknown_revision_is_named(project: Path, himo: Himo):
    proc = himo("metrics", "diff", "nope", ok=False)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == ("Error: unknown git revision 'nope'\n"
                           "Hint: use a commit, branch or tag name, e.g. HEAD~1\n")
    proc = himo("params", "diff", "HEAD", "--oops", ok=False)
    assert proc.returncode == 2  # an option, not a revision


def test_a_repository_without_commits(repo: Path, himo: Himo):
    proc = himo("params", "diff", ok=False)
    assert proc.returncode == 1
    assert proc.stderr == ("Error: unknown git revision 'HEAD': the repository has no commits yet\n"
                           "Hint: commit first (git add -A && git commit), then compare\n")


def test_not_a_git_repository(make_repo, tmp_path: Path):
    root = make_repo("plain", scm=False)
    write(root / "himo.yaml", "stages: {}\n")
    proc = Himo(root)("metrics", "diff", ok=False)
    assert proc.returncode == 1
    assert proc.stderr == (f"Error: not a git repository: {root} (revisions such as 'HEAD' need git)\n"
                           "Hint: run `git init` and commit, then compare\n")


def test_unparsable_metrics_file_is_named(project: Path, himo: Himo):
    write(project / "metrics.json", "{not json")
    proc = himo("metrics", "show", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "Error: metrics.json: cannot parse: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "Hint: fix metrics.json",
    ]


def test_unparsable_file_at_a_revision_names_the_revision(project: Path, himo: Himo):
    write(project / "eval/summary.toml", "rows = = 1\n")
    commit(project, "v2: broken toml")
    proc = himo("metrics", "diff", "HEAD~1", "HEAD", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: eval/summary.toml: cannot parse: ")
    assert proc.stderr.splitlines()[0].endswith(" (at revision HEAD)")
    assert "Traceback" not in proc.stderr
