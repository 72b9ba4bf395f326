"""`himo demo`: the README's main command builds and runs a real scikit-learn project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import Himo, git

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo")]  # one demo run per session (-n 2)
STAGES = ["prepare", "featurize", "train", "evaluate", "predict"]


def himo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`himo demo` as a process of its own (its environment is the point: no git identity);
    the checks of what it made run in-process (the `Himo` helper)."""
    return subprocess.run([sys.executable, "-m", "himo", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One real run, on a machine where git knows no user (the demo sets one in its repository)."""
    base = tmp_path_factory.mktemp("demo")
    (base / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    env.update(HOME=str(base / "home"), XDG_CONFIG_HOME=str(base / "home"), GIT_CONFIG_NOSYSTEM="1")
    proc = himo("demo", cwd=base, env=env)  # default DIR: ./himo-demo
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return base / "himo-demo", proc


def test_demo_defines_the_pipeline_with_himo(demo):
    dest, _ = demo
    stages = yaml.safe_load((dest / "himo.yaml").read_text())["stages"]
    assert list(stages) == STAGES
    assert stages["train"]["params"] == ["train.C", "train.max_iter"]
    assert stages["evaluate"]["metrics"] == [{"metrics.json": {"cache": False}}]
    python = stages["train"]["cmd"].split()[0]
    assert python in (sys.executable, f"'{sys.executable}'")  # the stages run with himo's Python
    assert (dest / "data/raw.csv.himo").is_file() and (dest / "data/new.csv.himo").is_file()


def test_demo_runs_every_stage_and_records_it(demo):
    dest, _ = demo
    lock = yaml.safe_load((dest / "himo.lock").read_text())["stages"]
    assert list(lock) == STAGES
    assert lock["train"]["params"]["params.yaml"]["train.C"] == 1.0
    assert [o["path"] for o in lock["train"]["outs"]] == ["models/model.pkl"]
    assert all(o["digest"] for entry in lock.values() for o in entry["outs"])
    assert (dest / "models/model.pkl").stat().st_size > 0
    predictions = (dest / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "id,probability,label" and len(predictions) == 201
    metrics = json.loads((dest / "metrics.json").read_text())
    assert 0 < metrics["accuracy"] <= 1 and 0 < metrics["f1"] <= 1


def test_the_second_run_re_runs_only_what_reads_the_changed_parameter(demo):
    dest, proc = demo
    assert "re-ran: train, evaluate, predict " in proc.stdout
    assert "up to date, not run: prepare, featurize\n" in proc.stdout
    assert "Running stage 'train': param train.C changed (0.01 -> 1.0)" in proc.stdout
    runs = {stage: len(list((dest / ".himo/logs" / stage).iterdir())) for stage in STAGES}
    # predict: twice by hand, then 4 attempts of its schedule (3 days, one retried)
    assert runs == {"prepare": 1, "featurize": 1, "train": 2, "evaluate": 2, "predict": 6}
    assert "accuracy" in proc.stdout.split("== 5.")[1]  # metrics before and after are shown


def test_demo_commits_everything_and_pushes(demo):
    dest, proc = demo
    log = git(dest, "log", "--format=%an|%s").splitlines()
    assert [line.split("|")[1] for line in log] == [
        "Schedule predict-daily",
        "Less regularization: train.C = 1.0",
        "Run the pipeline (train.C = 0.01)",
        "Demo project: data generator, pipeline and params; raw data tracked by himo",
    ]
    assert log[0].startswith("himo demo|")  # the local identity the demo set
    # nothing left uncommitted, nothing stray
    changes = git(dest, "status", "--porcelain").splitlines()
    assert changes == []
    assert "himo.lock" in git(dest, "show", "--name-only", "--format=", "HEAD~2").split()
    lock = yaml.safe_load((dest / "himo.lock").read_text())["stages"]
    remote = dest / ".himo-remote"
    for entry in lock.values():
        for out in entry["outs"]:
            if out["path"] != "metrics.json":  # -M: not cached, kept in git
                assert (remote / out["digest"][:2] / out["digest"][2:]).is_file(), out["path"]
    status = Himo(dest)("status", "--json")
    assert json.loads(status.stdout)["stages"] == {}
    assert "himo dag" in proc.stdout.split("Try next:")[1]


def test_demo_refuses_a_non_empty_folder(tmp_path: Path):
    (tmp_path / "keep.txt").write_text("mine")
    proc = Himo(tmp_path)("demo", str(tmp_path), ok=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: {tmp_path}: exists and is not an empty folder\n")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_demo_without_scikit_learn_names_the_extra(tmp_path: Path):
    code = "import sys; sys.modules['sklearn'] = None; from himo.cli.main import main; main(sys.argv[1:])"
    proc = subprocess.run([sys.executable, "-c", code, "demo", str(tmp_path / "d")], capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "scikit-learn" in proc.stderr and "pip install 'himo[demo]'" in proc.stderr
    assert not (tmp_path / "d").exists()


def test_demo_releases_delivers_and_shows_what_ran_and_made_the_model(demo):
    dest, proc = demo
    step7, step8 = proc.stdout.split("== 7.")[1].split("== 8.")
    assert "models/model.pkl live in production as v1; git tags model@v1.0.0, model#production#1" in step7
    assert (dest / "deliveries" / "predictions.csv").read_bytes() == (dest / "predictions.csv").read_bytes()
    history = step8.split("\n== 9.")[0].splitlines()
    repros = [line for line in history if " repro succeeded in " in line]
    assert len(repros) == 2  # oldest first: the first run, then the one after the change
    second = history[history.index(repros[1]) + 1:]
    assert second[0].split()[0] == "train"  # then evaluate and predict, side by side (-j 2)
    assert sorted(line.split()[0] for line in second[1:3]) == ["evaluate", "predict"]
    assert "train.C 0.01->1.0" in second[0]
    assert "made by stage 'train' at git " in history[-1] and "released: production v1" in history[-1]
    releases = json.loads(Himo(dest)("releases", "--json").stdout)
    assert [(r["env"], r["version"], r["retired_at"]) for r in releases] == [("production", "v1", None)]


def test_demo_replays_three_days_of_its_schedule_with_one_retry(demo):
    dest, proc = demo
    days = json.loads(Himo(dest)("schedule", "history", "predict-daily", "--json").stdout)
    assert [d["state"] for d in days] == ["succeeded"] * 3
    assert sorted(len(d["attempts"]) for d in days) == [1, 1, 2]  # one day's data came late
    retried = next(d for d in days if len(d["attempts"]) == 2)
    assert [a["status"] for a in retried["attempts"]] == ["failed", "succeeded"]
    assert "after 2 attempts" in proc.stdout
    assert Himo(dest)("status").stdout.strip() == "Everything is up to date."
