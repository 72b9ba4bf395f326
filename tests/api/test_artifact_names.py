"""The names of himo.yaml's `artifacts` (as in dvc.yaml) stand for their paths in `himo release`,
`himo where` and `himo lineage` (NAME, NAME@REV); a real path wins over a name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Himo, git, write

PIPELINE = """\
artifacts:
  churn-model:   # what DVC's example-get-started names its model
    path: models/model.pkl
    type: model
    labels: [tabular]
stages:
  train:
    cmd: mkdir -p models && cat params.yaml > models/model.pkl
    params: [lr]
    outs: [models/model.pkl]
"""


@pytest.fixture
def project(repo: Path, himo: Himo) -> Path:
    write(repo / "himo.yaml", PIPELINE)
    for lr in (1, 2):
        write(repo / "params.yaml", f"lr: {lr}\n")
        himo("repro")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"lr {lr}")
    return repo


def test_an_artifact_name_is_released_located_and_traced_as_its_path(project: Path, himo: Himo):
    row = json.loads(himo("release", "churn-model", "--env", "production", "--json").stdout)
    assert (row["path"], row["name"], row["version"]) == ("models/model.pkl", "churn-model", "v1")
    earlier = json.loads(himo("release", "churn-model@HEAD~1", "--env", "staging", "--json").stdout)
    assert earlier["digest"] != row["digest"] and earlier["name"] == "churn-model"

    where = json.loads(himo("where", "churn-model", "--json").stdout)
    assert (where["path"], where["digest"]) == ("models/model.pkl", row["digest"])
    graph = json.loads(himo("lineage", "churn-model", "--json").stdout)
    assert graph["digest"] == row["digest"]


def test_a_path_wins_over_a_name_and_an_unknown_name_is_an_untracked_path(project: Path, himo: Himo):
    write(project / "churn-model", "a file named like the artifact")
    proc = himo("where", "churn-model", ok=False)
    assert proc.returncode != 0 and "churn-model: not tracked" in proc.stderr
    proc = himo("release", "no-such-model", "--env", "production", ok=False)
    assert proc.stderr.startswith("Error: no-such-model: not tracked")
