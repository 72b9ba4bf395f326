"""The project `himo demo` writes: files by repository-relative path, and its stages.

Only numpy, scikit-learn and PyYAML (a himo dependency) are used by the project's scripts, which
run with the interpreter that runs himo. `prepare` needs only numpy: every Python process that
imports scikit-learn pays about 2 s on a small machine, and the demo should be quick.
"""

from __future__ import annotations

from dataclasses import dataclass

GENERATOR = '''\
"""Synthetic tabular data: 2,000 labelled rows to learn from (data/raw.csv) and 200 new,
unlabelled rows to predict (data/new.csv). Seeded, so every run writes the same bytes."""
import numpy as np

rng = np.random.default_rng(7)


def table(rows):
    x = rng.normal(size=(rows, 6))
    # the label depends on a product and a square (f3 to f5 are noise): a linear model needs
    # featurize's polynomial features, and strong regularization (a small train.C) hurts it
    logits = 3.0 * x[:, 0] * x[:, 1] - 2.0 * x[:, 2] ** 2 + 2.0
    return x, (logits + 0.5 * rng.normal(size=rows) > 0).astype(int)


x, y = table(2000)
new, _ = table(200)
header = "f0,f1,f2,f3,f4,f5"
np.savetxt("data/raw.csv", np.column_stack([x, y]), delimiter=",", header=header + ",label",
           comments="", fmt=["%.6f"] * 6 + ["%d"])
np.savetxt("data/new.csv", new, delimiter=",", header=header, comments="", fmt="%.6f")
print(f"wrote data/raw.csv ({len(x)} rows) and data/new.csv ({len(new)} rows)")
'''

PARAMS = """\
# Parameters of the stages. himo.lock records the values each stage ran with;
# `himo repro` re-runs exactly the stages whose parameters changed.
prepare:
  test_size: 0.25
  seed: 42
featurize:
  degree: 2
train:
  C: 0.01         # inverse regularization strength of the logistic regression
  max_iter: 1000
predict:
  date: ""        # the day the predictions are for: the daily schedule sets it to its logical date
"""

# The parameter the demo changes between its two runs: (dotted key, old value, new value).
CHANGE = ("train.C", "0.01", "1.0")

PREPARE = '''\
"""Stage prepare: shuffle data/raw.csv and split it into data/prepared/{train,test}.csv."""
import os

import numpy as np
import yaml

with open("params.yaml") as f:
    params = yaml.safe_load(f)["prepare"]
with open("data/raw.csv") as f:
    header = f.readline().strip()
data = np.loadtxt("data/raw.csv", delimiter=",", skiprows=1)
order = np.random.default_rng(params["seed"]).permutation(len(data))
n_test = round(len(data) * params["test_size"])
os.makedirs("data/prepared", exist_ok=True)
fmt = ["%.6f"] * (data.shape[1] - 1) + ["%d"]
for name, rows in (("test", order[:n_test]), ("train", order[n_test:])):
    np.savetxt(f"data/prepared/{name}.csv", data[rows], delimiter=",", header=header, comments="", fmt=fmt)
print(f"{len(data) - n_test} rows to train on, {n_test} to test with")
'''

FEATURIZE = '''\
"""Stage featurize: scale the columns and add polynomial features, fitted on the training set.
Writes data/features/{train,test}.npz and the fitted transformer, models/featurizer.pkl."""
import os
import pickle

import numpy as np
import yaml
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

with open("params.yaml") as f:
    params = yaml.safe_load(f)["featurize"]
train = np.loadtxt("data/prepared/train.csv", delimiter=",", skiprows=1)
test = np.loadtxt("data/prepared/test.csv", delimiter=",", skiprows=1)
featurizer = make_pipeline(StandardScaler(), PolynomialFeatures(degree=params["degree"]))
x_train = featurizer.fit_transform(train[:, :-1])
os.makedirs("data/features", exist_ok=True)
np.savez("data/features/train.npz", x=x_train, y=train[:, -1])
np.savez("data/features/test.npz", x=featurizer.transform(test[:, :-1]), y=test[:, -1])
os.makedirs("models", exist_ok=True)
with open("models/featurizer.pkl", "wb") as f:
    pickle.dump(featurizer, f)
print(f"{train.shape[1] - 1} columns -> {x_train.shape[1]} features")
'''

TRAIN = '''\
"""Stage train: fit a logistic regression on the features; write models/model.pkl."""
import pickle

import numpy as np
import yaml
from sklearn.linear_model import LogisticRegression

with open("params.yaml") as f:
    params = yaml.safe_load(f)["train"]
train = np.load("data/features/train.npz")
model = LogisticRegression(C=params["C"], max_iter=params["max_iter"])
model.fit(train["x"], train["y"])
with open("models/model.pkl", "wb") as f:
    pickle.dump(model, f)
print(f"trained a logistic regression with C={params['C']}")
'''

EVALUATE = '''\
"""Stage evaluate: score models/model.pkl on the test features; write metrics.json."""
import json
import pickle

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

test = np.load("data/features/test.npz")
with open("models/model.pkl", "rb") as f:
    model = pickle.load(f)
predicted = model.predict(test["x"])
metrics = {
    "accuracy": round(float(accuracy_score(test["y"], predicted)), 4),
    "f1": round(float(f1_score(test["y"], predicted)), 4),
    "roc_auc": round(float(roc_auc_score(test["y"], model.predict_proba(test["x"])[:, 1])), 4),
}
with open("metrics.json", "w") as f:
    json.dump(metrics, f, indent=2)
    f.write("\\n")
print(metrics)
'''

PREDICT = '''\
"""Stage predict: predict data/new.csv with the fitted featurizer and model; write predictions.csv."""
import os
import pickle
import sys

import numpy as np

# Run by the schedule predict-daily, this predicts for its logical date. In the demo the new
# data of one day arrives late (HIMO_DEMO_LATE): that day's first attempt fails, its retry works.
day = os.environ.get("HIMO_LOGICAL_DATE", "")[:10]
if day and day == os.environ.get("HIMO_DEMO_LATE") and os.environ.get("HIMO_SCHEDULE_ATTEMPT") == "1":
    sys.exit(f"the new rows for {day} have not arrived yet")

new = np.loadtxt("data/new.csv", delimiter=",", skiprows=1)
with open("models/featurizer.pkl", "rb") as f:
    featurizer = pickle.load(f)
with open("models/model.pkl", "rb") as f:
    model = pickle.load(f)
probability = model.predict_proba(featurizer.transform(new))[:, 1]
rows = np.column_stack([np.arange(len(new)), probability, probability >= 0.5])
np.savetxt("predictions.csv", rows, delimiter=",", header="id,probability,label", comments="",
           fmt=["%d", "%.6f", "%d"])
print(f"predicted {len(new)} new rows: {int(rows[:, 2].sum())} positive")
'''

README = """\
# A himo demo project

Made by `himo demo`: synthetic data (`src/generate.py`, tracked by himo as `data/*.himo`) and a
scikit-learn pipeline in `himo.yaml`: prepare -> featurize -> train -> evaluate (`metrics.json`)
and predict (`predictions.csv`, for the new rows in `data/new.csv`). `params.yaml` holds the
parameters, `himo.lock` what each stage last read and wrote.

    himo dag                    # the graph
    himo status                 # what is stale, and why
    himo repro                  # run what changed (edit params.yaml or src/*.py first)
    himo params diff HEAD~1     # parameters: the first run against now
    himo metrics diff HEAD~1    # metrics: the same
    himo push / himo pull       # data, models and outputs to and from the remote

The remote, `.himo-remote`, is a folder standing in for shared storage (S3, GCS, a server).
"""

FILES = {
    "README.md": README,
    "params.yaml": PARAMS,
    "src/generate.py": GENERATOR,
    "src/prepare.py": PREPARE,
    "src/featurize.py": FEATURIZE,
    "src/train.py": TRAIN,
    "src/evaluate.py": EVALUATE,
    "src/predict.py": PREDICT,
}

RAW_DATA = ("data/raw.csv", "data/new.csv")  # written by src/generate.py, tracked with `himo add`
REMOTE = ".himo-remote"  # the demo's remote: a folder inside the project, ignored by git
METRICS = "metrics.json"


@dataclass(frozen=True)
class StageDef:
    """A stage as `himo stage add` flags; `script` runs with the Python that runs himo."""

    name: str
    desc: str
    script: str
    deps: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics_no_cache: tuple[str, ...] = ()


STAGES = (
    StageDef("prepare", "Split the raw data into train and test sets", "src/prepare.py",
             deps=("src/prepare.py", "data/raw.csv"), params=("prepare.test_size", "prepare.seed"),
             outs=("data/prepared",)),
    StageDef("featurize", "Scale and expand the features; keep the fitted transformer",
             "src/featurize.py", deps=("src/featurize.py", "data/prepared"), params=("featurize.degree",),
             outs=("data/features", "models/featurizer.pkl")),
    StageDef("train", "Fit a logistic regression", "src/train.py",
             deps=("src/train.py", "data/features"), params=("train.C", "train.max_iter"),
             outs=("models/model.pkl",)),
    StageDef("evaluate", "Score the model on the test set", "src/evaluate.py",
             deps=("src/evaluate.py", "data/features", "models/model.pkl"), metrics_no_cache=(METRICS,)),
    StageDef("predict", "Predict the new rows with the trained model", "src/predict.py",
             deps=("src/predict.py", "data/new.csv", "models/featurizer.pkl", "models/model.pkl"),
             params=("predict.date",), outs=("predictions.csv",)),
)

# A daily schedule of the predict stage (himo.yaml's `schedules:`), and the days the demo replays.
SCHEDULE_NAME = "predict-daily"
SCHEDULE = f"""
schedules:
  {SCHEDULE_NAME}:
    cron: "0 6 * * *"          # every day at 06:00 UTC; the run covers the day before
    targets: [predict]
    retries: 1
    retry_delay: 1s
    params: {{predict.date: "${{schedule.date}}"}}
"""
SCHEDULE_DAYS = 3
