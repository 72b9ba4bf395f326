"""`himo dag`: the graph of a 3-stage pipeline with a fan-in, as text, JSON, Mermaid and dot."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Himo, write

FAN_IN = """\
stages:
  features:
    cmd: cp raw.txt features.txt
    deps: [raw.txt]
    outs: [features.txt]
  labels:
    cmd: echo 1 > labels.txt
    outs: [labels.txt]
  train:
    cmd: cat features.txt labels.txt > model.txt
    deps: [features.txt, labels.txt]
    outs: [model.txt]
"""


def test_dag_as_text_and_json(repo: Path, himo: Himo):
    write(repo / "raw.txt", "x\n")
    write(repo / "himo.yaml", FAN_IN)
    assert himo("dag").stdout == "* features  -> train\n* labels  -> train\n* train\n"
    assert json.loads(himo("dag", "--json").stdout) == {
        "nodes": [
            {"name": "features", "cmd": ["cp raw.txt features.txt"], "deps": ["raw.txt"],
             "outs": ["features.txt"]},
            {"name": "labels", "cmd": ["echo 1 > labels.txt"], "deps": [], "outs": ["labels.txt"]},
            {"name": "train", "cmd": ["cat features.txt labels.txt > model.txt"],
             "deps": ["features.txt", "labels.txt"], "outs": ["model.txt"]},
        ],
        "edges": [{"from": "features", "to": "train"}, {"from": "labels", "to": "train"}],
    }


def test_dag_as_mermaid_and_dot(repo: Path, himo: Himo):
    write(repo / "raw.txt", "x\n")
    write(repo / "himo.yaml", FAN_IN)
    assert himo("dag", "--mermaid").stdout == """\
flowchart TD
    s0["features"]
    s1["labels"]
    s2["train"]
    s0 --> s2
    s1 --> s2
"""
    assert himo("dag", "--dot").stdout == """\
digraph himo {
    rankdir=TB;
    "features";
    "labels";
    "train";
    "features" -> "train";
    "labels" -> "train";
}
"""


def test_dag_of_a_target_shows_it_and_what_it_needs(repo: Path, himo: Himo):
    write(repo / "raw.txt", "x\n")
    write(repo / "himo.yaml", FAN_IN)
    assert himo("dag", "labels").stdout == "* labels\n"
    assert himo("dag", "train", "--dot").stdout.count("->") == 2
    proc = himo("dag", "nope", ok=False)
    assert (proc.returncode, proc.stderr) == (
        1, "Error: no stage named 'nope' in himo.yaml (stages: features, labels, train)\n"
           "Hint: see `himo dag` for the stage names\n")


def test_dag_without_stages(repo: Path, himo: Himo):
    assert himo("dag").stdout == "No stages in himo.yaml.\n"
    assert json.loads(himo("dag", "--json").stdout) == {"nodes": [], "edges": []}
