"""Project files written by `himo demo`, by repository-relative path."""

GENERATOR = '''"""Synthetic tabular data: 2,000 labelled rows to learn from, 200 new rows to predict."""
import numpy as np

rng = np.random.default_rng(7)


def table(rows):
    x = rng.normal(size=(rows, 6))
    logits = 1.5 * x[:, 0] - 2.0 * x[:, 1] + x[:, 2] * x[:, 3] + 0.5 * rng.normal(size=rows)
    return x, (logits > 0).astype(int)


x, y = table(2000)
header = "f0,f1,f2,f3,f4,f5"
np.savetxt("data/raw.csv", np.column_stack([x, y]), delimiter=",", header=header + ",label",
           comments="", fmt=["%.6f"] * 6 + ["%d"])
new, _ = table(200)
np.savetxt("data/new.csv", new, delimiter=",", header=header, comments="", fmt="%.6f")
'''

PARAMS = """\
prepare:
  test_size: 0.25
  seed: 42
featurize:
  degree: 2
train:
  C: 1.0
  max_iter: 500
"""

PIPELINE = """\
# The demo pipeline: each stage says what it reads (deps, params) and writes (outs, metrics).
# `himo repro` runs the stages whose inputs changed; `himo dag` draws the graph.
vars:
  - python: {python}   # the interpreter himo runs with (it has scikit-learn)

stages:
  prepare:
    desc: Split the raw data into train and test sets
    cmd: ${{python}} src/prepare.py
    deps: [src/prepare.py, data/raw.csv]
    params: [prepare.test_size, prepare.seed]
    outs:
      - data/prepared: {{kind: dataset}}

  featurize:
    desc: Scale and expand the features; keep the fitted transformer for predictions
    cmd: ${{python}} src/featurize.py
    deps: [src/featurize.py, data/prepared]
    params: [featurize.degree]
    outs:
      - data/features: {{kind: features}}
      - models/featurizer.pkl: {{kind: model}}

  train:
    desc: Fit a logistic regression
    cmd: ${{python}} src/train.py
    deps: [src/train.py, data/features]
    params: [train.C, train.max_iter]
    outs:
      - models/model.pkl: {{kind: model}}

  evaluate:
    desc: Score the model on the test set
    cmd: ${{python}} src/evaluate.py
    deps: [src/evaluate.py, data/features, models/model.pkl]
    metrics:
      - metrics.json: {{cache: false}}

  predict:
    desc: Predict the new rows with the trained model
    cmd: ${{python}} src/predict.py
    deps: [src/predict.py, data/new.csv, models/featurizer.pkl, models/model.pkl]
    outs:
      - predictions.csv: {{kind: predictions}}
"""

PREPARE = '''import os

import numpy as np
import yaml
from sklearn.model_selection import train_test_split

params = yaml.safe_load(open("params.yaml"))["prepare"]
data = np.loadtxt("data/raw.csv", delimiter=",", skiprows=1)
train, test = train_test_split(data, test_size=params["test_size"], random_state=params["seed"])
os.makedirs("data/prepared", exist_ok=True)
np.save("data/prepared/train.npy", train)
np.save("data/prepared/test.npy", test)
print(f"prepared {len(train)} train and {len(test)} test rows")
'''

FEATURIZE = '''import os
import pickle

import numpy as np
import yaml
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

params = yaml.safe_load(open("params.yaml"))["featurize"]
train = np.load("data/prepared/train.npy")
test = np.load("data/prepared/test.npy")
featurizer = make_pipeline(StandardScaler(), PolynomialFeatures(degree=params["degree"]))
x_train = featurizer.fit_transform(train[:, :-1])
x_test = featurizer.transform(test[:, :-1])
os.makedirs("data/features", exist_ok=True)
os.makedirs("models", exist_ok=True)
np.savez("data/features/train.npz", x=x_train, y=train[:, -1])
np.savez("data/features/test.npz", x=x_test, y=test[:, -1])
pickle.dump(featurizer, open("models/featurizer.pkl", "wb"))
print(f"{x_train.shape[1]} features")
'''

TRAIN = '''import pickle

import numpy as np
import yaml
from sklearn.linear_model import LogisticRegression

params = yaml.safe_load(open("params.yaml"))["train"]
train = np.load("data/features/train.npz")
model = LogisticRegression(C=params["C"], max_iter=params["max_iter"])
model.fit(train["x"], train["y"])
pickle.dump(model, open("models/model.pkl", "wb"))
print(f"trained with C={params['C']}")
'''

EVALUATE = '''import json
import pickle

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

test = np.load("data/features/test.npz")
model = pickle.load(open("models/model.pkl", "rb"))
predicted = model.predict(test["x"])
metrics = {"accuracy": round(accuracy_score(test["y"], predicted), 4),
           "f1": round(f1_score(test["y"], predicted), 4)}
json.dump(metrics, open("metrics.json", "w"), indent=2)
print(metrics)
'''

PREDICT = '''import pickle

import numpy as np

new = np.loadtxt("data/new.csv", delimiter=",", skiprows=1)
featurizer = pickle.load(open("models/featurizer.pkl", "rb"))
model = pickle.load(open("models/model.pkl", "rb"))
probability = model.predict_proba(featurizer.transform(new))[:, 1]
np.savetxt("predictions.csv", probability, header="probability", comments="", fmt="%.6f")
print(f"predicted {len(new)} rows")
'''

FILES = {
    "params.yaml": PARAMS,
    "src/generate.py": GENERATOR,
    "src/prepare.py": PREPARE,
    "src/featurize.py": FEATURIZE,
    "src/train.py": TRAIN,
    "src/evaluate.py": EVALUATE,
    "src/predict.py": PREDICT,
}
