"""`himo stage add` and `himo run`: a stage written from flags into himo.yaml, keeping what the
user wrote there (comments, order, flow style), and the issue's own `himo run` line."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import Himo, write

PIPELINE = """\
# Pipeline of the project.
# Keep stages in data-flow order.
vars:
  - greeting: hi   # inline vars
stages:
  # first, the data
  prepare:
    cmd: echo ${greeting} > a.txt  # writes a.txt
    outs:
      - a.txt
  train:
    desc: Fit the model
    cmd: cp a.txt model.txt
    deps: [a.txt]   # flow style stays
    outs:
      - model.txt
"""
END = "# end of file\n"
ADDED = ("Added stage 'NAME' to himo.yaml\n"
         "To track the changes with git, run:\n  git add himo.yaml .gitignore\n")


def test_stage_add_keeps_comments_order_and_style_and_writes_every_flag(repo: Path, himo: Himo):
    write(repo / "himo.yaml", PIPELINE + END)
    write(repo / "params.yaml", "lr: 0.1\n")
    write(repo / "conf.yaml", "a:\n  b: 1\nc: 2\n")
    proc = himo("stage", "add", "-n", "report", "-d", "model.txt", "-O", "report.txt", "-m", "metrics.json",
                "-M", "summary.json", "--plots", "plot.csv", "-p", "lr", "-p", "conf.yaml:a.b,c", "-w", ".",
                "--desc", "Write the report", "--always-changed", "wc", "-c", "model.txt", ">", "report.txt",
                "&&", "echo", "{}", ">", "metrics.json")  # as `dvc stage add`: `>` and `&&` for the shell
    assert proc.stdout == ADDED.replace("NAME", "report")
    assert (repo / "himo.yaml").read_text() == PIPELINE + """\
  report:
    cmd: wc -c model.txt > report.txt && echo {} > metrics.json
    desc: Write the report
    deps:
      - model.txt
    params:
      - lr
      - conf.yaml:
          - a.b
          - c
    outs:
      - report.txt:
          cache: false
    metrics:
      - metrics.json
      - summary.json:
          cache: false
    plots:
      - plot.csv
    always_changed: true
""" + END  # a closing comment stays at the end of the file
    assert (repo / ".gitignore").read_text() == "/metrics.json\n/plot.csv\n"  # cached outputs only


def test_stage_add_force_overwrites_in_place_and_refuses_without_it(repo: Path, himo: Himo):
    write(repo / "himo.yaml", PIPELINE)
    proc = himo("stage", "add", "-n", "prepare", "-o", "a.txt", "echo new > a.txt", ok=False)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == ("Error: stage 'prepare' already exists in himo.yaml\n"
                           "Hint: use -f to overwrite it, or choose another name with -n\n")
    assert (repo / "himo.yaml").read_text() == PIPELINE
    assert himo("stage", "add", "-f", "-n", "prepare", "-o", "a.txt", "echo new > a.txt").stdout == (
        ADDED.replace("NAME", "prepare"))
    text = (repo / "himo.yaml").read_text()
    assert text.startswith("# Pipeline of the project.\n# Keep stages in data-flow order.\n")
    assert list(yaml.safe_load(text)["stages"]) == ["prepare", "train"]  # same place
    assert yaml.safe_load(text)["stages"]["prepare"] == {"cmd": "echo new > a.txt", "outs": ["a.txt"]}
    assert text.endswith(PIPELINE[PIPELINE.index("  train:"):])
    himo("repro")
    assert (repo / "model.txt").read_text() == "new\n"


def test_stage_add_into_an_empty_or_comment_only_himo_yaml(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "# stages come here\n\n")
    himo("stage", "add", "-n", "a", "echo a")
    assert (repo / "himo.yaml").read_text() == "# stages come here\n\nstages:\n  a:\n    cmd: echo a\n"
    write(repo / "himo.yaml", "stages:\n")
    himo("stage", "add", "-n", "b", "echo", "two words")  # several arguments are quoted for the shell
    assert (repo / "himo.yaml").read_text() == "stages:\n  b:\n    cmd: echo 'two words'\n"


def test_the_run_line_of_the_issue_writes_runs_and_records_the_stage(repo: Path, himo: Himo):
    write(repo / "params.yaml", "prepare:\n  seed: 20\n  split: 0.2\n")
    write(repo / "data" / "data.xml", "<rows/>\n")
    write(repo / "src" / "prepare.py", """\
import os
import sys

os.makedirs("data/prepared", exist_ok=True)
with open("data/prepared/train.xml", "w") as f:
    f.write(open(sys.argv[1]).read())
print("prepared", sys.argv[1])
""")
    line = ("himo run -n prepare -p prepare.seed,prepare.split -d src/prepare.py -d data/data.xml"
            " -o data/prepared python src/prepare.py data/data.xml")
    proc = himo(*line.split()[1:])
    assert proc.stdout == (
        "Added stage 'prepare' to himo.yaml\n"
        "Running stage 'prepare': never ran\n$ python src/prepare.py data/data.xml\nprepared data/data.xml\n"
        "Pipeline is up to date (1 stage(s) run or restored).\n"
        "To track the changes with git, run:\n  git add himo.yaml himo.lock data/.gitignore\n")
    assert (repo / "himo.yaml").read_text() == """\
stages:
  prepare:
    cmd: python src/prepare.py data/data.xml
    deps:
      - src/prepare.py
      - data/data.xml
    params:
      - prepare.seed
      - prepare.split
    outs:
      - data/prepared
"""
    assert (repo / "data" / "prepared" / "train.xml").read_text() == "<rows/>\n"
    assert (repo / "data" / ".gitignore").read_text() == "/prepared\n"
    lock = yaml.safe_load((repo / "himo.lock").read_text())["stages"]["prepare"]
    assert lock["params"] == {"params.yaml": {"prepare.seed": 20, "prepare.split": 0.2}}
    assert [d["path"] for d in lock["deps"]] == ["src/prepare.py", "data/data.xml"]
    assert lock["outs"][0]["path"] == "data/prepared" and lock["outs"][0]["nfiles"] == 1
    assert himo("repro").stdout.startswith("Stage 'prepare' is up to date\n")


def test_stage_add_writes_in_the_file_own_indentation(repo: Path, himo: Himo):
    own_style = "stages:\n    a:\n        cmd: echo > a.txt\n        outs:\n        - a.txt\n"
    write(repo / "himo.yaml", own_style)
    himo("stage", "add", "-n", "b", "-d", "a.txt", "-o", "b.txt", "cp a.txt b.txt")
    assert (repo / "himo.yaml").read_text() == own_style + (
        "    b:\n        cmd: cp a.txt b.txt\n"
        "        deps:\n        - a.txt\n"
        "        outs:\n        - b.txt\n")


# dvc.yaml as iterative/example-get-started has it: items of `outs:` indented, those of the
# top-level `metrics:` and `plots:` not (one file, two styles).
DVC_STYLE = """\
stages:
  prepare:
    cmd: echo a > a.txt
    outs:
      - a.txt
  # the model
  train:
    cmd: cp a.txt model.txt   # copies
    deps:
      - a.txt
    outs:
      - model.txt
metrics:
- eval/metrics.json
plots:
- ROC:
    x: fpr
    y:
      eval/roc.json: tpr
"""


def test_stage_add_and_remove_change_only_their_stages_lines(repo: Path, himo: Himo):
    """The rest of the file stays byte for byte, in a file of mixed styles too (ruamel.yaml would
    rewrite the whole of it in one)."""
    write(repo / "himo.yaml", DVC_STYLE)
    himo("stage", "add", "-n", "report", "-d", "model.txt", "-o", "r.txt", "wc -c model.txt > r.txt")
    added = ("  report:\n    cmd: wc -c model.txt > r.txt\n    deps:\n      - model.txt\n"
             "    outs:\n      - r.txt\n")
    end_of_stages = DVC_STYLE.index("metrics:")
    assert (repo / "himo.yaml").read_text() == DVC_STYLE[:end_of_stages] + added + DVC_STYLE[end_of_stages:]
    himo("stage", "add", "-f", "-n", "prepare", "-o", "a.txt", "echo b > a.txt")
    replaced = "  prepare:\n    cmd: echo b > a.txt\n    outs:\n      - a.txt\n"
    assert (repo / "himo.yaml").read_text() == (
        "stages:\n" + replaced + DVC_STYLE[DVC_STYLE.index("  # the model"):end_of_stages] + added
        + DVC_STYLE[end_of_stages:])
    himo("stage", "remove", "train")
    assert (repo / "himo.yaml").read_text() == (
        "stages:\n" + replaced + "  # the model\n" + added + DVC_STYLE[end_of_stages:])
    himo("stage", "remove", "prepare", "report")
    assert (repo / "himo.yaml").read_text() == "stages: {}\n  # the model\n" + DVC_STYLE[end_of_stages:]
    assert yaml.safe_load((repo / "himo.yaml").read_text())["stages"] == {}
