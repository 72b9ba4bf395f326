"""dvclive (the real one, from PyPI) logging inside a `himo repro` stage, in a git repository:
it saves no DVC experiment (no refs/exps), runs no `dvc init` (no .dvc/), writes no dvc.yaml; the
metrics and plots files it writes are the stage's outputs as himo.yaml declares them. In a DVC
project it sees DVC_ROOT and DVC_STAGE as under `dvc repro`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Himo, git, write

TRAIN = """\
import os, sys
from dvclive import Live
assert os.environ["DVC_STAGE"] == "train" and os.environ.get("DVC_ROOT") == (sys.argv[1] or None)
with Live("live") as live:
    live.log_param("epochs", 3)
    for epoch in range(3):
        live.log_metric("acc", (epoch + 1) / 10)
        live.next_step()
"""

PIPELINE = """\
stages:
  train:
    cmd: python3 train.py ${root}
    deps: [train.py]
    outs:
      - live/plots: {cache: false}
    metrics:
      - live/metrics.json: {cache: false}
plots:
  - live/plots/metrics/acc.tsv: {x: step, y: acc}
"""


def test_dvclive_in_a_stage_makes_no_dvc_project_and_no_experiment(repo: Path, himo: Himo):
    write(repo / "train.py", TRAIN)
    write(repo / "himo.yaml", PIPELINE.replace("${root}", "''"))  # no DVC_ROOT: it would make .dvc/tmp
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")  # dvclive saves experiments only on top of a commit
    himo("repro")
    assert not (repo / ".dvc").exists() and not (repo / ".dvcignore").exists()
    assert not (repo / "dvc.yaml").exists() and not (repo / "live" / "dvc.yaml").exists()
    assert git(repo, "for-each-ref", "refs/exps") == ""
    assert git(repo, "diff", "--cached", "--name-only") == ""  # nothing staged by `dvc init`
    assert json.loads(himo("metrics", "show", "--json").stdout) == {
        "live/metrics.json": {"acc": 0.3, "step": 2}}
    assert (repo / "live/plots/metrics/acc.tsv").read_text().splitlines()[0] == "step\tacc"
    assert himo("status").stdout == "Everything is up to date.\n"


@pytest.mark.slow  # dvclive imports all of DVC: ~10 s a stage
def test_in_a_dvc_project_dvclive_keeps_to_dvc_repro_behaviour(repo: Path, himo: Himo):
    """With DVC's files kept (a migrated project), dvclive sees its DVC repository as under
    `dvc repro`: no experiment is saved."""
    (repo / ".dvc").mkdir()
    write(repo / ".dvc" / "config", "")
    write(repo / "train.py", TRAIN)
    write(repo / "himo.yaml", PIPELINE.replace("${root}", str(repo)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    himo("repro")
    assert git(repo, "for-each-ref", "refs/exps") == ""
    assert json.loads((repo / "live/metrics.json").read_text())["acc"] == 0.3
