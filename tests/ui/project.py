"""A small real project for the dashboard's tests: three stages (prepare -> train -> evaluate)
run by `himo repro` with lr 0.1, then with lr 5 (train fails: too large), then with lr 0.3; each
model released to production after its run was committed (v1 then v2, which retires v1), the
second to staging too. Last, params.yaml is edited without a run: train is stale.

The team project (make_team_project, for the runs table, compare, artifacts and rollbacks) goes
on: lr 0.1 again (train and evaluate restored from the run-cache: status cached), production
rolled back to v1's model (v3), evaluate alone (its script changed), and on a branch `sweep` a
foreach stage of 12 items (sweep@1 .. sweep@12)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import Himo, git, write

PIPELINE = """\
stages:
  prepare:
    cmd: python3 prepare.py
    deps: [prepare.py, data/raw.csv]
    outs: [data/prepared.csv]
  train:
    cmd: python3 train.py
    deps: [train.py, data/prepared.csv]
    params: [train.lr]
    outs: [models/model.pkl]
  evaluate:
    cmd: python3 evaluate.py
    deps: [evaluate.py, models/model.pkl]
    outs: [predictions.csv]
    metrics: [metrics.json]
"""
SWEEP = """\
  sweep:
    foreach: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    do:
      cmd: python3 sweep.py ${item}
      deps: [sweep.py]
      outs:
        - sweep/out-${item}.txt
"""
SCRIPTS = {
    "sweep.py": "import os, sys\nos.makedirs('sweep', exist_ok=True)\n"
                "open(f'sweep/out-{sys.argv[1]}.txt', 'w').write(sys.argv[1])\n",
    "prepare.py": "import os\nos.makedirs('data', exist_ok=True)\n"
                  "rows = open('data/raw.csv').read().splitlines()\n"
                  "open('data/prepared.csv', 'w').write('\\n'.join(sorted(rows)) + '\\n')\n"
                  "print('prepared', len(rows), 'rows')\n",
    "train.py": "import os, sys, yaml\nlr = yaml.safe_load(open('params.yaml'))['train']['lr']\n"
                "if lr > 1:\n    sys.exit(f'lr {lr} is too large')\n"
                "os.makedirs('models', exist_ok=True)\n"
                "open('models/model.pkl', 'w').write(f'model lr={lr}\\n')\nprint('trained with lr', lr)\n",
    "evaluate.py": "import json\nlr = float(open('models/model.pkl').read().split('=')[1])\n"
                   "scores = {'accuracy': round(0.5 + lr, 3), 'loss': round(1 - lr, 3)}\n"
                   "json.dump(scores, open('metrics.json', 'w'))\n"
                   "open('predictions.csv', 'w').write('id,p\\n1,0.7\\n')\nprint('evaluated')\n",
}


def make_project(root: Path, name: str = "") -> Path:
    """The project at `root`, after three `himo repro` (lr 0.1; lr 5, whose train fails; lr 0.3),
    the two that succeeded committed, three `himo release`s: production v1 (lr 0.1), production v2
    and staging v1 (lr 0.3) (of the model `name` if given), and an uncommitted lr 0.5."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    himo = Himo(root)
    himo("init")
    write(root / "data" / "raw.csv", "b,2\na,1\nc,3\n")
    write(root / "params.yaml", "train:\n  lr: 0.1\n")
    write(root / "himo.yaml", PIPELINE)
    for name, text in SCRIPTS.items():
        write(root / name, text)
    himo("add", "data/raw.csv")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    himo("repro")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first run")
    himo("release", "models/model.pkl", "--env", "production", "--note", "first model")
    time.sleep(2)  # v2 at least 2 s after v1: `at` = v1 (shown to the second, truncated) + 1 s is inside v1
    write(root / "params.yaml", "train:\n  lr: 5\n")
    assert himo("repro", ok=False).returncode != 0
    write(root / "params.yaml", "train:\n  lr: 0.3\n")
    himo("repro")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "lr 0.3")
    himo("release", "models/model.pkl", "--env", "production", "--note", "lr 0.3")
    himo("release", "models/model.pkl", "--env", "staging")
    write(root / "params.yaml", "train:\n  lr: 0.5\n")
    return root


def make_team_project(root: Path) -> Path:
    """make_project, then: a repro back at lr 0.1 (train and evaluate restored from the run-cache),
    `himo rollback` of production (v3: v1's model), a repro of evaluate alone (its script changed,
    so the lr it used is its model's, upstream), and on branch `sweep` a repro of the 12 foreach
    stages sweep@1..12; lr 0.5 uncommitted again."""
    make_project(root)
    himo = Himo(root)
    write(root / "params.yaml", "train:\n  lr: 0.1\n")
    himo("repro")  # train and evaluate restored from the run-cache
    git(root, "commit", "-q", "-am", "back to lr 0.1")
    himo("rollback", "--env", "production")
    write(root / "evaluate.py", SCRIPTS["evaluate.py"] + "# evaluated again\n")
    himo("repro")  # evaluate alone: the lr it used is its model's (train's, upstream)
    git(root, "commit", "-q", "-am", "evaluate again")
    git(root, "checkout", "-q", "-b", "sweep")
    write(root / "himo.yaml", PIPELINE + SWEEP)
    himo("repro")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "sweep")
    write(root / "params.yaml", "train:\n  lr: 0.5\n")
    return root
