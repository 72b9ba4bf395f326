"""Issue 11's "done when": a DVC 3 project shaped like iterative/example-get-started, run by the real
DVC, taken over by `himo migrate dvc` with no re-run, then changed and changed back as DVC would.

The project: data.xml imported (`dvc import`) from a local git data registry, a tracked folder
(`dvc add data/stopwords`), params.yaml, prepare -> featurize -> train (a `-M` metrics file)
-> evaluate with a tiny model, dvclive logging the metrics and ROC plots of evaluate,
top-level metrics/plots/artifacts in dvc.yaml.
Here, under tests/ui, for the end: `himo plots show`'s page drawn in Chromium.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Himo
from tests.dvc import DvcRun, dvc, git

pytestmark = pytest.mark.slow  # real DVC, scikit-learn, dvclive: ~35 s on an idle 2-core machine

ROWS = "\n".join(f"{i}\t{'r ' * (i % 3)}word{i % 7} text {i % 5}\t{i % 2}" for i in range(120)) + "\n"

PREPARE = """\
import random, sys, os, yaml
p = yaml.safe_load(open("params.yaml"))["prepare"]
random.seed(p["seed"])
rows = open(sys.argv[1]).read().splitlines()
os.makedirs("data/prepared", exist_ok=True)
with open("data/prepared/train.tsv", "w") as tr, open("data/prepared/test.tsv", "w") as te:
    for row in rows:
        (te if random.random() < p["split"] else tr).write(row + "\\n")
"""
FEATURIZE = """\
import os, pickle, yaml
p = yaml.safe_load(open("params.yaml"))["featurize"]
stop = set(open("data/stopwords/en.txt").read().split())
os.makedirs("data/features", exist_ok=True)
for part in ("train", "test"):
    X, y = [], []
    for line in open(f"data/prepared/{part}.tsv"):
        _, text, label = line.rstrip("\\n").split("\\t")
        words = [w for w in text.split() if w not in stop]
        X.append([len(words), sum(len(w) for w in words) % p["max_features"], text.count("r")])
        y.append(int(label))
    pickle.dump((X, y), open(f"data/features/{part}.pkl", "wb"))
"""
# The model and its scores in plain Python: scikit-learn's import (1.4 s of CPU) in each of the
# test's three runs of train and of evaluate would be most of the test's CPU; it is about the
# pipeline, not the model. dvclive writes the metrics and the ROC plots, as in DVC's example.
TRAIN = """\
import json, pickle, random, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
X, y = pickle.load(open("data/features/train.pkl", "rb"))
rng = random.Random(p["seed"])
w = [0.0] * (len(X[0]) + 1)
for _ in range(p["n_est"]):  # a perceptron: n_est passes over the rows, in a seeded order
    for i in rng.sample(range(len(X)), len(X)):
        x = [*X[i], 1]
        if (sum(a * b for a, b in zip(w, x)) > 0) != bool(y[i]):
            w = [a + (1 if y[i] else -1) * b / p["min_split"] for a, b in zip(w, x)]
pickle.dump(w, open("model.pkl", "wb"))
json.dump({"passes": p["n_est"]}, open("train.json", "w"))
"""
EVALUATE = """\
import math, pickle
from dvclive import Live


def roc(y, scores):
    \"\"\"The ROC curve's (fpr, tpr) points, and the area under it.\"\"\"
    pos, neg = sum(y) or 1, (len(y) - sum(y)) or 1
    points, tp, fp = [(0.0, 0.0)], 0, 0
    for _, label in sorted(zip(scores, y), reverse=True):
        tp, fp = tp + label, fp + 1 - label
        points.append((fp / neg, tp / pos))
    return points, sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(points, points[1:]))


w = pickle.load(open("model.pkl", "rb"))
with Live("eval", dvcyaml=False) as live:
    for part in ("train", "test"):
        X, y = pickle.load(open(f"data/features/{part}.pkl", "rb"))
        scores = [1 / (1 + math.exp(-max(-50.0, min(50.0, sum(a * b for a, b in zip(w, [*x, 1]))))))
                  for x in X]
        points, area = roc(y, scores)
        hits = sum((s > 0.5) == bool(t) for s, t in zip(scores, y))
        live.summary[part] = {"roc_auc": area, "accuracy": hits / len(y)}
        live.log_plot(f"roc_{part}", [{"fpr": f, "tpr": t} for f, t in points], x="fpr", y="tpr")
"""
SCRIPTS = {"prepare": PREPARE, "featurize": FEATURIZE, "train": TRAIN, "evaluate": EVALUATE}
PARAMS = """\
prepare:
  split: 0.3
  seed: 20170428
featurize:
  max_features: 50
train:
  seed: 20170428
  n_est: 10
  min_split: 2
"""
PIPELINE = """\
stages:
  prepare:
    cmd: python3 src/prepare.py data/data.xml
    deps: [data/data.xml, src/prepare.py]
    params: [prepare.seed, prepare.split]
    outs: [data/prepared]
  featurize:
    cmd: python3 src/featurize.py
    deps: [data/prepared, data/stopwords, src/featurize.py]
    params: [featurize.max_features]
    outs: [data/features]
  train:
    cmd: python3 src/train.py
    deps: [data/features, src/train.py]
    params: [train.seed, train.n_est, train.min_split]
    outs: [model.pkl]
    metrics:
    - train.json:
        cache: false
  evaluate:
    cmd: python3 src/evaluate.py
    deps: [data/features, model.pkl, src/evaluate.py]
    outs: [eval]
metrics:
- eval/metrics.json
plots:
- ROC:
    template: simple
    x: fpr
    y:
      eval/plots/custom/roc_train.json: tpr
      eval/plots/custom/roc_test.json: tpr
artifacts:
  text-classification:
    path: model.pkl
    type: model
    desc: Detect whether the given question is about R
    labels: [nlp, classification]
"""


def make_registry(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    dvc(root, "init", "-q")
    (root / "data").mkdir()
    (root / "data" / "data.xml").write_text(ROWS)
    dvc(root, "add", "-q", "data/data.xml")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "registry")


def make_project(root: Path, registry: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    dvc(root, "init", "-q")
    git(root, "commit", "-qm", "dvc init")
    (root / "src").mkdir()
    for name, text in SCRIPTS.items():
        (root / "src" / f"{name}.py").write_text(text)
    (root / "params.yaml").write_text(PARAMS)
    (root / "dvc.yaml").write_text(PIPELINE)
    (root / "data" / "stopwords").mkdir(parents=True)
    (root / "data" / "stopwords" / "en.txt").write_text("text the a\n")
    dvc(root, "import", "-q", str(registry), "data/data.xml", "-o", "data/data.xml")
    dvc(root, "add", "-q", "data/stopwords")
    dvc(root, "repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "DVC ran it")


def ran(output: str) -> list[str]:
    """The stages a repro ran, DVC's or himo's ("Running stage 'x'")."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def test_a_dvc_project_taken_over_by_himo(tmp_path: Path, page: Page) -> None:
    registry, root = tmp_path / "registry", tmp_path / "project"
    registry.mkdir()
    root.mkdir()
    make_registry(registry)
    make_project(root, registry)
    dvc_metrics = json.loads((root / "eval" / "metrics.json").read_text())
    twin = shutil.copytree(root, tmp_path / "dvc-twin", symlinks=True)  # goes on with DVC

    himo = Himo(root)
    out = himo("migrate", "dvc").stdout
    assert "import data/data.xml.dvc -> data/data.xml.himo: converted" in out
    for stage in ("prepare", "featurize", "train", "evaluate"):
        assert f"lock {stage}: converted" in out
    assert ran(himo("repro").stdout) == []  # DVC ran it: himo runs nothing
    assert "data/data.xml is frozen: not updated" in himo("update").stdout  # DVC's `frozen: true` kept
    git(root, "add", "-A")
    git(root, "commit", "-qm", "himo migrate dvc")

    shown = json.loads(himo("metrics", "show", "--json").stdout)
    assert _values(shown, "eval/metrics.json") == _flat(dvc_metrics)
    across = json.loads(himo("metrics", "diff", "HEAD~1", "HEAD", "--all", "--json").stdout)
    assert {k: v["old"] for k, v in across["eval/metrics.json"].items()} == _flat(dvc_metrics)  # DVC's commit
    _artifact_and_import_lineage(himo, registry)

    for folder in (root, twin):
        (folder / "params.yaml").write_text(PARAMS.replace("n_est: 10", "n_est: 20"))
    with DvcRun(twin, "repro") as dvc_repro:  # DVC runs its twin meanwhile
        himo_ran = ran(himo("repro").stdout)
        assert himo_ran == ran(dvc_repro.output()) == ["train", "evaluate"]
    assert json.loads((root / "train.json").read_text()) == {"passes": 20}

    (root / "params.yaml").write_text(PARAMS)
    back = himo("repro").stdout
    assert "Restored stage 'train' from the run-cache" in back and ran(back) == []
    assert json.loads((root / "eval" / "metrics.json").read_text()) == dvc_metrics
    assert git(root, "status", "--porcelain") == ""  # train.json (-M, in git) restored too
    assert git(root, "for-each-ref", "refs/exps") == ""  # dvclive saved no DVC experiment

    himo("plots", "show", "-o", str(tmp_path / "plots"))
    page.goto((tmp_path / "plots" / "index.html").as_uri())  # the page fixture fails on any console error
    roc = page.locator('figure[data-plot-id="ROC"]')
    expect(roc.locator(".vega-plot svg.marks")).to_have_count(1)
    assert roc.locator("path, text").count() > 10  # axes, ticks and the two curves drawn
    expect(page.locator(".plot-error")).to_have_count(0)


def _artifact_and_import_lineage(himo: Himo, registry: Path) -> None:
    """dvc.yaml's `artifacts:` name is one himo knows; lineage reaches the registry's commit."""
    lineage = himo("lineage", "text-classification").stdout
    assert "model.pkl" in lineage and "made by stage 'train'" in lineage
    commit = git(registry, "rev-parse", "HEAD").strip()
    assert f"source:url={registry}" in lineage and f"source:commit={commit}" in lineage
    assert "model.pkl" in himo("where", "text-classification").stdout
    assert "as text-classification v1" in himo("release", "text-classification", "--env", "prod").stdout


def _flat(doc: dict[str, object], prefix: str = "") -> dict[str, object]:
    """{"test": {"auc": 1}} as {"test.auc": 1}, as `himo metrics show` keys them."""
    flat: dict[str, object] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _values(shown: object, file: str) -> object:
    """The values of `file` in `himo metrics show --json`, whatever the nesting by revision."""
    if isinstance(shown, dict):
        if file in shown:
            return shown[file]
        for value in shown.values():
            found = _values(value, file)
            if found is not None:
                return found
    if isinstance(shown, list):
        for item in shown:
            found = _values(item, file)
            if found is not None:
                return found
    return None
