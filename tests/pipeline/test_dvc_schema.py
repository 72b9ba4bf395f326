"""himo.yaml is a superset of DVC 3's dvc.yaml: every key of iterative/example-get-started's
dvc.yaml loads, means what it means in DVC, and a wrong type is one error naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from himo.errors import PipelineError
from himo.model.pipeline import ArtifactDef, PlotDef
from himo.pipeline.loader import parse_pipeline
from tests.conftest import Himo, write

# As iterative/example-get-started writes it (DVC 3), with every key DVC 3 accepts.
DVC_YAML = """\
vars:
  - seed: 20220118
params:
  - extra.yaml
metrics:
  - eval/metrics.json
plots:
  - ROC:
      template: simple
      x: fpr
      y:
        eval/plots/sklearn/roc/train.json: tpr
        eval/plots/sklearn/roc/test.json: tpr
  - Confusion-Matrix:
      template: confusion
      x: actual
      y:
        eval/plots/sklearn/cm/train.json: predicted
  - eval/importance.png
  - dvclive/plots/metrics:
      x: step
      y: [acc, loss]
      title: Training
      x_label: Step
      y_label: Value
artifacts:
  stackoverflow-dvc:
    path: model.pkl
    type: model
    desc: Detect whether the given stackoverflow question should have R language tag
    labels: [nlp, classification]
    meta: {framework: sklearn}
datasets:
  - name: dogs
    type: dvc
    url: https://github.com/iterative/example-get-started
    path: data
stages:
  prepare:
    vars:
      - split: 0.2
    cmd: python src/prepare.py data/data.xml ${split} ${seed}
    deps: [src/prepare.py, data/data.xml]
    outs:
      - data/prepared:
          desc: The split data
          type: dataset
          labels: [raw]
          meta: {rows: 10}
          remote: storage
          push: false
          persist: false
          cache: true
  evaluate:
    cmd: python src/evaluate.py model.pkl data/features
    deps: [src/evaluate.py, model.pkl]
    outs:
      - eval
    plots:
      - prc.json:
          x: recall
          y: precision
          template: linear
          title: PRC
          header: false
"""


ROC_TRAIN, ROC_TEST = "eval/plots/sklearn/roc/train.json", "eval/plots/sklearn/roc/test.json"


def test_every_key_of_a_dvc_3_pipeline_loads_with_its_meaning(tmp_path: Path):
    pipeline = parse_pipeline(tmp_path, DVC_YAML)
    assert [s.name for s in pipeline.stages] == ["prepare", "evaluate"]
    assert pipeline.stages[0].cmd == ("python src/prepare.py data/data.xml 0.2 20220118",)  # stage vars
    out = pipeline.stages[0].outs[0]
    assert (out.desc, out.type, out.labels, out.meta, out.remote, out.push) == (
        "The split data", "dataset", ("raw",), {"rows": 10}, "storage", False)
    assert pipeline.params == ("extra.yaml",)
    # eval/metrics.json lies inside the cached output `eval`: a file to read, not an output
    assert pipeline.metrics == ("eval/metrics.json",)
    assert [o.path for s in pipeline.stages for o in s.outs] == ["data/prepared", "eval", "prc.json"]
    assert pipeline.plots == (
        PlotDef("ROC", {ROC_TRAIN: ("tpr",), ROC_TEST: ("tpr",)}, {ROC_TRAIN: "fpr", ROC_TEST: "fpr"},
                template="simple", line=8),
        PlotDef("Confusion-Matrix", {"eval/plots/sklearn/cm/train.json": ("predicted",)},
                {"eval/plots/sklearn/cm/train.json": "actual"}, template="confusion", line=14),
        PlotDef("eval/importance.png", {"eval/importance.png": ()}, line=7),
        PlotDef("dvclive/plots/metrics", {"dvclive/plots/metrics": ("acc", "loss")},
                {"dvclive/plots/metrics": "step"}, title="Training", x_label="Step", y_label="Value",
                line=20),
        PlotDef("prc.json", {"prc.json": ("precision",)}, {"prc.json": "recall"}, template="linear",
                title="PRC", header=False, stage="evaluate", line=54),
    )
    assert pipeline.artifacts == (ArtifactDef(
        "stackoverflow-dvc", "model.pkl", "model",
        "Detect whether the given stackoverflow question should have R language tag",
        ("nlp", "classification"),
        {"framework": "sklearn"}, line=27),)
    assert pipeline.artifacts[0].meta == {"framework": "sklearn"}
    assert [(d.name, d.type, d.fields) for d in pipeline.datasets] == [
        ("dogs", "dvc", {"url": "https://github.com/iterative/example-get-started", "path": "data"})]


def test_top_level_sections_interpolate_like_stages(tmp_path: Path):
    text = ("vars:\n  - out: models\nartifacts:\n  m:\n    path: ${out}/m.pkl\n"
            "metrics: ['${out}/scores.json']\n")
    pipeline = parse_pipeline(tmp_path, text)
    assert pipeline.artifacts[0].path == "models/m.pkl"
    assert pipeline.metrics == ("models/scores.json",)


HOSTILE = {
    "artifacts-not-mapping": ("artifacts: [model.pkl]\n", "himo.yaml:1: 'artifacts' must be a mapping"),
    "artifact-no-path": ("artifacts:\n  m:\n    type: model\n",
                         "himo.yaml:2: artifacts: 'm': missing 'path'"),
    "artifact-path-number": ("artifacts:\n  m:\n    path: 3\n",
                             "himo.yaml:3: artifacts: 'm': 'path' must be a string, not a number"),
    "artifact-labels-string": ("artifacts:\n  m:\n    path: a\n    labels: nlp\n",
                               "himo.yaml:4: artifacts: 'm': 'labels' must be a list of strings"),
    "artifact-bad-name": ("artifacts:\n  My_Model:\n    path: a\n",
                          "himo.yaml:2: artifacts: invalid name 'My_Model'"),
    "artifact-unknown-key": ("artifacts:\n  m:\n    path: a\n    size: 3\n",
                             "himo.yaml:4: unknown key of artifact 'm' 'size'"),
    "artifact-outside": ("artifacts:\n  m:\n    path: ../x\n",
                         "himo.yaml:3: artifacts: 'm': path: '../x' is outside the repository"),
    "plots-not-list": ("plots: {a: b}\n", "himo.yaml:1: 'plots' must be a list, not a mapping"),
    "plot-props-list": ("plots:\n  - ROC: [x]\n",
                        "himo.yaml:1: plots: properties of 'ROC' must be a mapping"),
    "plot-y-number": ("plots:\n  - ROC:\n      y: {a.json: 3}\n",
                      "himo.yaml:2: plots: 'ROC': y: a.json must be a field name or a list of field names"),
    "plot-x-list": ("plots:\n  - a.json:\n      x: [a, b]\n",
                    "himo.yaml:2: plots: 'a.json': x must be a field name or a mapping 'file: field'"),
    "plot-template-number": ("plots:\n  - a.json:\n      template: 1\n",
                             "himo.yaml:3: plots: 'a.json': 'template' must be a string, not a number"),
    "plot-unknown-prop": ("plots:\n  - a.json:\n      colour: red\n",
                          "himo.yaml:3: unknown property of plot 'a.json' 'colour'"),
    "plot-file-outside": ("plots:\n  - R:\n      y: {/etc/passwd: a}\n",
                          "himo.yaml:2: plots: 'R': y: '/etc/passwd' is outside the repository"),
    "metrics-mapping-item": ("metrics:\n  - {a: b}\n",
                             "himo.yaml:1: metrics: each item is a file path, not a mapping"),
    "params-number": ("params: 3\n", "himo.yaml:1: 'params' must be a list, not a number"),
    "datasets-no-type": ("datasets:\n  - name: d\n", "himo.yaml:1: datasets: an item lacks 'type'"),
    "out-labels-string": ("stages:\n  s:\n    cmd: x\n    outs:\n      - o: {labels: a}\n",
                          "himo.yaml:5: stage 's': outs: 'o': 'labels' must be a list of strings"),
    "out-push-string": ("stages:\n  s:\n    cmd: x\n    outs:\n      - o: {push: 'no'}\n",
                        "himo.yaml:5: stage 's': outs: 'o': 'push' must be true or false"),
    "out-remote-list": ("stages:\n  s:\n    cmd: x\n    outs:\n      - o: {remote: [a]}\n",
                        "himo.yaml:5: stage 's': outs: 'o': 'remote' must be a string, not a list"),
    "stage-plot-y-list": ("stages:\n  s:\n    cmd: x\n    plots:\n      - p.csv: {y: [a]}\n",
                          "himo.yaml:5: stage 's': plots: 'p.csv': 'y' must be a string, not a list"),
}


@pytest.mark.parametrize("text,message", HOSTILE.values(), ids=HOSTILE.keys())
def test_wrong_types_are_one_error_naming_file_line_and_field(tmp_path: Path, text: str, message: str):
    with pytest.raises(PipelineError) as caught:
        parse_pipeline(tmp_path, text)
    assert caught.value.message.startswith(message)
    assert "\n" not in caught.value.message


def test_a_wrong_type_stops_every_command_with_one_line(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "stages: {}\nartifacts:\n  model:\n    path: [a]\n")
    proc = himo("status", ok=False)
    assert proc.returncode != 0
    assert proc.stderr == ("Error: himo.yaml:4: artifacts: 'model': 'path' must be a string, not a list\n"
                           "Hint: fix himo.yaml\n")
