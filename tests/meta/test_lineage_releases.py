"""`himo lineage` knows releases: a model's lineage lists them, and the lineage of predictions says
whether the model that made them was the release of its name live at the time (issue 5); on SQLite
and PostgreSQL stores."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Himo, git, write

PIPELINE = """\
stages:
  train:
    cmd: python3 -c "import yaml; print(yaml.safe_load(open('params.yaml'))['lr'])" > models/model.pkl
    deps: [data.csv]
    params: [lr]
    outs: [models/model.pkl]
  predict:
    cmd: cat models/model.pkl batch.csv > predictions.csv
    deps: [models/model.pkl, batch.csv]
    outs: [predictions.csv]
"""


def test_lineage_of_predictions_says_whether_their_model_was_the_released_one(repo: Path, himo: Himo,
                                                                             meta_url: str) -> None:
    himo("config", "--local", "meta.url", meta_url)
    write(repo / "data.csv", "x\n1\n")
    write(repo / "batch.csv", "x\n5\n")
    write(repo / "params.yaml", "lr: 0.1\n")
    write(repo / "himo.yaml", PIPELINE)
    (repo / "models").mkdir()
    himo("add", "data.csv", "batch.csv")
    himo("repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    himo("release", "models/model.pkl", "--env", "production")
    text = himo("lineage", "predictions.csv", "--upstream").stdout
    assert "nothing was released in production as 'model' at the time" in text  # predicted before

    write(repo / "batch.csv", "x\n6\n")  # today's batch, predicted by the released model
    himo("commit", "batch.csv")
    himo("repro")
    text = himo("lineage", "predictions.csv", "--upstream").stdout
    assert "was the production release of 'model' (v1) at the time" in text.splitlines()[2]  # in the answer
    model_line = next(line for line in text.splitlines() if "model models/model.pkl" in line
                      and "made by" not in line and "released:" in line)
    assert "[released: model v1 in production " in model_line and "-> now]" in model_line

    write(repo / "params.yaml", "lr: 0.2\n")  # a new model, not released: its predictions say so
    himo("repro")
    text = himo("lineage", "predictions.csv", "--upstream").stdout
    assert "was NOT the production release of 'model' at the time (that was v1, " in text

    graph = json.loads(himo("lineage", "predictions.csv", "--upstream", "--json").stdout)["graph"]
    (check,) = graph["models_at_run"]
    assert (check["name"], check["env"], check["live_version"], check["was_live"]) == (
        "model", "production", "v1", False)

    git(repo, "commit", "-qam", "v2")
    himo("release", "models/model.pkl", "--env", "production")
    text = himo("lineage", "models/model.pkl", "--downstream").stdout
    assert "[released: model v2 in production " in text.splitlines()[0] + text
    marks = json.loads(himo("lineage", "models/model.pkl", "--json").stdout)["graph"]["releases"]
    assert [(m["name"], m["env"], m["version"]) for m in next(iter(marks.values()))] == [
        ("model", "production", "v2")]
