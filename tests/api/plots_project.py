"""A project whose stage writes plots: a cached CSV, an uncached JSON committed to git, and a folder
with a CSV and a PNG, and a top-level named plot of that CSV, as dvc.yaml writes them; run at lr
0.1 and committed, then at lr 0.5 and committed."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import Himo, git, write

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
PIPELINE = """\
stages:
  train:
    cmd: python3 train.py
    deps: [train.py, params.yaml]
    plots:
      - logs/loss.csv: {x: step, y: loss, title: Loss}
      - eval/importance.json: {cache: false, template: bar_horizontal_sorted, x: importance, y: feature}
      - eval/plots
plots:
  - ROC:
      template: simple
      x: fpr
      y:
        eval/plots/roc.csv: tpr
"""
TRAIN_PY = """\
import json, os, yaml
lr = yaml.safe_load(open("params.yaml"))["lr"]
for d in ("logs", "eval/plots"):
    os.makedirs(d, exist_ok=True)
open("logs/loss.csv", "w").write("step,loss\\n" + "".join(f"{i},{1 / (1 + lr * i):.4f}\\n" for i in range(5)))
importance = [{"feature": f, "importance": lr * n} for n, f in enumerate("abc")]
json.dump(importance, open("eval/importance.json", "w"))
open("eval/plots/roc.csv", "w").write(f"fpr,tpr\\n0,0\\n0.5,{lr}\\n1,1\\n")
open("eval/plots/pr.png", "wb").write(bytes.fromhex("PNG"))
""".replace("PNG", PNG.hex())




def make_plots_project(root: Path, template: Path) -> Path:
    """The project at `root`, from `template` (a folder after `git init` and `himo init`)."""
    shutil.copytree(template, root, symlinks=True)
    himo = Himo(root)
    write(root / "himo.yaml", PIPELINE)
    write(root / "train.py", TRAIN_PY)
    for lr in (0.1, 0.5):
        write(root / "params.yaml", f"lr: {lr}\n")
        himo("repro")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"lr {lr}")
    return root
