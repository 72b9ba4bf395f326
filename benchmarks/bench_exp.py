#!/usr/bin/env python3
"""Time a sweep of 8 experiments of a 3-stage scikit-learn pipeline: himo vs DVC.

The same project in both tools: prep (make_classification -> data.csv), train (a
LogisticRegression with params train.C and train.max_iter -> model.pkl), evaluate (accuracy ->
metrics.json). Each sample starts from a fresh git repository whose pipeline ran once and was
committed, queues the sweep `-S train.C=0.01,0.1,1,10 -S train.max_iter=20,200` (untimed, with
`exp run --queue`), then times `exp run --run-all -j 2`, the command that runs the 8 experiments
two at a time. Afterwards it checks that 8 experiments were recorded (himo: `exp show --json`;
DVC: `exp show --json`). The tools run one after the other, never at once.

    bash benchmarks/setup_dvc.sh   # with HIMO_BENCH_DVC_SPEC=dvc==3.67.1
    python benchmarks/bench_exp.py --repeat 3

The python that runs the stages (scikit-learn) is this script's interpreter, for both tools.
Standard library only (the stages import scikit-learn).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
from pathlib import Path

from common import (
    DEFAULT_DVC_VENV,
    CommandError,
    Measure,
    log,
    make_tools,
    measure,
    print_rows,
    remove,
    run,
    start_facts,
    time_runs,
    write_result,
)

SWEEP = ["-S", "train.C=0.01,0.1,1,10", "-S", "train.max_iter=20,200"]
EXPERIMENTS = 8

PREP = """\
import numpy as np
from sklearn.datasets import make_classification
X, y = make_classification(n_samples=3000, n_features=20, random_state=0)
np.savetxt("data.csv", np.column_stack([X, y]), delimiter=",", fmt="%.6f")
"""
TRAIN = """\
import pickle, warnings, yaml
import numpy as np
from sklearn.linear_model import LogisticRegression
warnings.filterwarnings("ignore")
p = yaml.safe_load(open("params.yaml"))["train"]
data = np.loadtxt("data.csv", delimiter=",")
model = LogisticRegression(C=p["C"], max_iter=p["max_iter"]).fit(data[:, :-1], data[:, -1])
pickle.dump(model, open("model.pkl", "wb"))
"""
EVALUATE = """\
import json, pickle
import numpy as np
data = np.loadtxt("data.csv", delimiter=",")
model = pickle.load(open("model.pkl", "rb"))
json.dump({"accuracy": float(model.score(data[:, :-1], data[:, -1]))}, open("metrics.json", "w"))
"""


def pipeline(python: str) -> str:
    return f"""stages:
  prep:
    cmd: {python} prep.py
    deps: [prep.py]
    outs: [data.csv]
  train:
    cmd: {python} train.py
    deps: [data.csv, train.py]
    params: [train]
    outs: [model.pkl]
  evaluate:
    cmd: {python} evaluate.py
    deps: [data.csv, model.pkl, evaluate.py]
    metrics: [metrics.json]
"""


def make_project(root: Path, tool, python: str) -> Path:  # type: ignore[no-untyped-def]
    remove(root)
    tool.init_repo(root)
    for name, text in (("prep.py", PREP), ("train.py", TRAIN), ("evaluate.py", EVALUATE),
                       ("params.yaml", "train:\n  C: 1.0\n  max_iter: 100\n")):
        (root / name).write_text(text)
    (root / ("dvc.yaml" if tool.name == "dvc" else "himo.yaml")).write_text(pipeline(python))
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "pipeline"], root)
    tool.run(root, "repro", "-q")
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "ran"], root)
    return root


def recorded(tool, root: Path) -> int:  # type: ignore[no-untyped-def]
    rows = json.loads(tool.run(root, "exp", "show", "--json"))
    if tool.name == "himo":
        return sum(1 for r in rows if r["kind"] == "experiment" and r["status"] == "succeeded")
    return sum(len(r.get("experiments") or []) for r in rows)


def one_sweep(tool, work: Path, i: int, python: str) -> float:  # type: ignore[no-untyped-def]
    """One sample: a fresh project, the sweep queued (untimed), `exp run --run-all -j 2` timed."""
    root = make_project(work / f"{tool.name}-{i}", tool, python)
    tool.run(root, "exp", "run", "--queue", *SWEEP)
    [seconds] = time_runs(tool.cmd("exp", "run", "--run-all", "-j", "2"), 1, lambda _i: root, env=tool.env)
    found = recorded(tool, root)
    if found != EXPERIMENTS:
        raise CommandError(f"{tool.name}: {found} experiments recorded, not {EXPERIMENTS}")
    log(f"{tool.name} sample {i + 1}: {seconds:.2f} s")
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dvc", default=str(DEFAULT_DVC_VENV / "bin" / "dvc"))
    parser.add_argument("--himo", default="himo")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/himo-bench-exp"))
    parser.add_argument("--only", choices=["himo", "dvc"])
    opts = parser.parse_args(argv)
    started = start_facts()
    remove(opts.workdir)
    opts.workdir.mkdir(parents=True)
    tools = make_tools(opts, opts.workdir)
    dvc_bin = str(Path(opts.dvc).parent)  # DVC's queue workers run the `dvc` found on PATH: the venv's
    tools["dvc"] = dataclasses.replace(tools["dvc"], env={**tools["dvc"].env,
                                                          "PATH": f"{dvc_bin}:{os.environ['PATH']}"})
    names = [n for n in ("himo", "dvc") if opts.only in (None, n)]
    measures = {name: Measure() for name in names}
    for i in range(opts.repeat):  # interleaved: the machine's load changes, both tools see it
        for name in names:
            if measures[name].error is None:
                got = measure(lambda t=tools[name], i=i: [one_sweep(t, opts.workdir, i, sys.executable)])
                measures[name].samples += got.samples
                measures[name].error = got.error
    ratio = None
    if measures.get("dvc") and measures["dvc"].median and measures.get("himo") and measures["himo"].median:
        ratio = measures["dvc"].median / measures["himo"].median
    print_rows(["scenario", "DVC s", "himo s", "DVC/himo"],
               [["sweep of 8, --run-all -j 2", measures.get("dvc", Measure()).cell(),
                 measures.get("himo", Measure()).cell(), f"{ratio:.1f}x" if ratio else "-"]])
    row = {"scenario": "sweep of 8 experiments (3-stage scikit-learn), exp run --run-all -j 2",
           "dvc": measures["dvc"].as_json() if "dvc" in measures else None,
           "himo": measures["himo"].as_json() if "himo" in measures else None,
           "ratio_dvc_over_himo": ratio, "target_ratio": 2.0,
           "met": None if ratio is None else ratio >= 2.0}
    write_result("exp", opts.workdir, started, {"results": [row], "spread": {
        name: [min(m.samples), statistics.median(m.samples), max(m.samples)] if m.samples else None
        for name, m in measures.items()}}, opts.himo, opts.dvc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
