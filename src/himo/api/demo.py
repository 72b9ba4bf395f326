"""`himo demo`: a small ML project in a new git repository, run end to end, then changed and run
again, so a user sees versioned data, a pipeline, the lock file, metrics and a remote at work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from himo.api.add import add
from himo.api.config import add_remote
from himo.api.init import init
from himo.api.metrics import metrics_diff
from himo.api.repro import repro
from himo.api.transfer import push
from himo.demo import FILES, PIPELINE
from himo.errors import HimoError, PathError
from himo.workspace.git import Git

Echo = Callable[[str], None]


def check_requirements() -> None:
    try:
        import numpy  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        raise HimoError("the demo needs scikit-learn and numpy",
                        "pip install 'himo[demo]' (with the Python that runs himo)") from None


def create_project(dest: Path) -> Git:
    """Write the project files into a new git repository at `dest`."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PathError(f"{dest}: exists and is not empty", "give a new folder: himo demo DIR")
    dest.mkdir(parents=True, exist_ok=True)
    git = Git(dest)
    git.run("init", "-q")
    if not _git_identity(git):
        git.run("config", "user.name", "himo demo")
        git.run("config", "user.email", "demo@himo.invalid")
    for rel, text in FILES.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text, encoding="utf-8")
    python = json.dumps(sys.executable)  # a YAML string, quoted if needed
    (dest / "himo.yaml").write_text(PIPELINE.format(python=python), encoding="utf-8")
    (dest / ".gitignore").write_text("/.demo-remote\n__pycache__/\n", encoding="utf-8")
    (dest / "data").mkdir()
    subprocess.run([sys.executable, "src/generate.py"], cwd=dest, check=True)
    return git


def _git_identity(git: Git) -> bool:
    try:
        return bool(git.run("config", "user.email").strip())
    except HimoError:
        return False


def run_demo(dest: Path, echo: Echo) -> None:
    check_requirements()
    started = time.monotonic()
    dest = dest.resolve()
    git = create_project(dest)
    cwd = os.getcwd()
    os.chdir(dest)  # the API resolves user paths against the working directory
    try:
        _walkthrough(dest, git, echo)
    finally:
        os.chdir(cwd)
    echo(f"\nDone in {time.monotonic() - started:.1f} s. The project is in {dest}. Try:")
    echo(f"  cd {dest}")
    for line in NEXT_STEPS:
        echo(f"  {line}")


NEXT_STEPS = [
    "himo dag                            # the pipeline graph",
    "himo status                         # data and stages: everything up to date",
    "himo params diff HEAD~1 HEAD        # what changed between the two runs",
    "himo metrics diff HEAD~1 HEAD       # and what it did to the metrics",
    "edit params.yaml, then himo repro   # only the stages that read it run",
    "git log --oneline                   # code, data and results, versioned together",
]


def _walkthrough(dest: Path, git: Git, echo: Echo) -> None:
    repo = init(dest)
    echo("== 1. Version the data: himo add data/raw.csv data/new.csv")
    for result in add(repo, ["data/raw.csv", "data/new.csv"]):
        echo(f"   {result.path}: {result.hash_info.size} bytes, blake3 {result.hash_info.digest[:12]}")
    _commit(git, "Demo project: code, params, pipeline; data tracked by himo")
    echo("\n== 2. Run the pipeline: himo repro")
    repro(repo, echo=lambda line: echo(f"   {line}"))
    _commit(git, "Run the pipeline")
    echo("\n== 3. Change one parameter (train.C 1.0 -> 0.01) and run again: only what reads it re-runs")
    params = dest / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.01"), encoding="utf-8")
    for result in repro(repo, echo=lambda line: None):
        why = f" ({'; '.join(result.reasons)})" if result.reasons else ""
        echo(f"   {result.name:<10} {result.status}{why}")
    _commit(git, "Try train.C = 0.01")
    echo("\n== 4. Metrics, before and after: himo metrics diff HEAD~1 HEAD")
    for change in metrics_diff(repo, "HEAD~1", "HEAD", show_all=True):
        echo(f"   {change.key:<9} {change.old} -> {change.new}")
    echo("\n== 5. Share the data and models: himo remote add + himo push")
    add_remote(repo, "storage", str(dest / ".demo-remote"), default=True)
    _commit(git, "Add a storage remote")
    sent = push(repo)
    echo(f"   pushed {sent.transferred} objects to {dest / '.demo-remote'}")


def _commit(git: Git, message: str) -> None:
    git.run("add", "-A")
    git.run("commit", "-q", "-m", message)
