"""A small real project for the dashboard's tests: three stages (prepare -> train -> evaluate)
run by `himo repro` with lr 0.1, then with lr 5 (train fails: too large), then with lr 0.3; each
model released to production after its run was committed (v1 then v2, which retires v1), the
second to staging too. Last, params.yaml is edited without a run: train is stale.

The team project (make_team_project, for the runs table, compare, artifacts and rollbacks) goes
on: lr 0.1 again (train and evaluate restored from the run-cache: status cached), production
rolled back to v1's model (v3), evaluate alone (its script changed), and on a branch `sweep` a
foreach stage of 12 items (sweep@1 .. sweep@12)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

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


# A sweep written the DVC way: one foreach stage over a mapping of params.yaml, each member reading
# its own entry (`sweep.${key}`), writing its own model and metrics file; prepare upstream.
SWEEP_PIPELINE = """\
stages:
  prepare:
    cmd: python3 prepare.py
    deps: [prepare.py]
    params: [prepare.rows]
    outs: [data.csv]
  train:
    foreach: ${sweep}
    do:
      cmd: python3 train.py ${key} ${item.lr} ${item.depth}
      deps: [train.py, data.csv]
      params:
        - sweep.${key}
        - train.epochs
      outs:
        - models/${key}.txt
      metrics:
        - metrics/${key}.json
"""
SWEEP_SCRIPTS = {
    "prepare.py": "open('data.csv', 'w').write('x\\n1\\n2\\n')\n",
    "train.py": "import json, os, sys\nkey, lr, depth = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])\n"
                "os.makedirs('models', exist_ok=True)\nos.makedirs('metrics', exist_ok=True)\n"
                "open(f'models/{key}.txt', 'w').write(f'{lr} {depth}\\n')\n"
                "scores = {'accuracy': round(0.9 - abs(lr - 0.03) - 0.01 * depth, 4),"
                " 'loss': round(lr * 2 + depth / 10, 4)}\n"
                "json.dump(scores, open(f'metrics/{key}.json', 'w'))\n",
}
SWEEP_MEMBERS = {"lr1e-3": (0.001, 2), "lr1e-2": (0.01, 2), "lr3e-2": (0.03, 3), "lr1e-1": (0.1, 4)}


def _sweep_params(members: dict[str, tuple[float, int]]) -> str:
    entries = "".join(f"  {key}: {{lr: {lr}, depth: {depth}}}\n" for key, (lr, depth) in members.items())
    return f"prepare:\n  rows: 2\ntrain:\n  epochs: 3\nsweep:\n{entries}"


def make_sweep_project(root: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A project whose `himo repro` runs prepare and the 4 members of the foreach stage `train`
    (train@lr1e-3 .. train@lr1e-1, each its lr and depth); then a second repro after lr1e-1's lr
    went 0.1 -> 0.2 (that member alone runs). Also what each run's members used and wrote, read
    from params.yaml and the metrics files as they were (not through himo): [{member: {"lr",
    "depth", "epochs", "rows", "accuracy", "loss"}}] per run, in order."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    himo = Himo(root)
    himo("init")
    write(root / "himo.yaml", SWEEP_PIPELINE)
    for name, text in SWEEP_SCRIPTS.items():
        write(root / name, text)
    runs = []
    for members in (SWEEP_MEMBERS, SWEEP_MEMBERS | {"lr1e-1": (0.2, 4)}):
        write(root / "params.yaml", _sweep_params(members))
        himo("repro")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "sweep")
        ran = members if not runs else {"lr1e-1": members["lr1e-1"]}
        runs.append({key: {"lr": lr, "depth": depth, "epochs": 3, "rows": 2}
                     | json.loads((root / "metrics" / f"{key}.json").read_text())
                     for key, (lr, depth) in ran.items()})
    return root, runs
