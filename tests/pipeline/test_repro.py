"""`himo repro`: runs only what changed, records himo.lock, restores from the run-cache,
stops cleanly on failure and on SIGTERM. Real stages run real shell commands."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Himo, git, write

PIPELINE = """\
stages:
  prepare:
    cmd: cp data.txt prepared.txt && echo prepare >> runs.log
    deps: [data.txt]
    outs: [prepared.txt]
  train:
    cmd: cat prepared.txt params.yaml > model.txt && echo train >> runs.log
    deps: [prepared.txt]
    params: [train.lr]
    outs: [model.txt]
  report:
    cmd: wc -c model.txt > report.txt && echo report >> runs.log
    deps: [model.txt]
    metrics:
      - report.txt: {cache: false}
"""


@pytest.fixture
def pipeline(repo: Path) -> Path:
    write(repo / "data.txt", "rows\n")
    write(repo / "params.yaml", "train:\n  lr: 0.1\n")
    write(repo / "himo.yaml", PIPELINE)
    write(repo / ".gitignore", "runs.log\n")
    return repo


def runs(repo: Path) -> list[str]:
    log = repo / "runs.log"
    lines = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def lock(repo: Path) -> dict:
    return yaml.safe_load((repo / "himo.lock").read_text())["stages"]


def test_first_run_runs_everything_in_order_and_writes_the_lock(pipeline: Path, himo: Himo):
    out = himo("repro").stdout
    assert runs(pipeline) == ["prepare", "train", "report"]
    assert "Running stage 'prepare': never ran" in out
    entries = lock(pipeline)
    assert list(entries) == ["prepare", "train", "report"]
    assert entries["train"]["params"] == {"params.yaml": {"train.lr": 0.1}}
    assert entries["prepare"]["outs"][0]["path"] == "prepared.txt"
    assert len(entries["prepare"]["outs"][0]["digest"]) == 64
    assert "/prepared.txt" in (pipeline / ".gitignore").read_text()
    assert "/report.txt" not in (pipeline / ".gitignore").read_text()  # cache: false


def test_noop_then_only_what_changed(pipeline: Path, himo: Himo):
    himo("repro")
    runs(pipeline)
    assert "Stage 'train' is up to date" in himo("repro").stdout
    assert runs(pipeline) == []
    write(pipeline / "params.yaml", "train:\n  lr: 0.2\n")
    out = himo("repro").stdout
    assert "param train.lr changed (0.1 -> 0.2)" in out
    assert runs(pipeline) == ["train", "report"]


def test_status_lists_stale_stages_and_why(pipeline: Path, himo: Himo):
    himo("repro")
    write(pipeline / "data.txt", "more rows\n")
    report = json.loads(himo("status", "--json").stdout)["stages"]
    assert report == {
        "prepare": ["dep data.txt changed"],
        "train": ["upstream stage 'prepare' is stale"],
        "report": ["upstream stage 'train' is stale"],
    }
    assert "stage prepare: dep data.txt changed" in himo("status").stdout


def test_run_cache_restores_an_earlier_run_after_git_checkout(pipeline: Path, himo: Himo):
    himo("repro")
    git(pipeline, "add", "-A")
    git(pipeline, "commit", "-qm", "v1")
    first_model = (pipeline / "model.txt").read_text()
    write(pipeline / "params.yaml", "train:\n  lr: 0.5\n")
    himo("repro")
    git(pipeline, "commit", "-qam", "v2")
    runs(pipeline)
    git(pipeline, "checkout", "-q", "HEAD~1", "--", "params.yaml", "himo.lock")
    out = himo("repro").stdout
    assert "Restored stage 'train' from the run-cache" in out
    assert "train" not in runs(pipeline)
    assert (pipeline / "model.txt").read_text() == first_model


def test_force_runs_the_stages_instead_of_restoring_them_and_fills_the_run_cache(pipeline: Path, himo: Himo):
    himo("repro")
    runs(pipeline)
    out = himo("repro", "-f").stdout
    assert "Restored" not in out and "Running stage 'train': forced" in out
    assert runs(pipeline) == ["prepare", "train", "report"]  # as DVC's repro -f: executed, not restored
    shutil.rmtree(pipeline / ".himo" / "runs")
    himo("repro", "-f")
    assert len(list((pipeline / ".himo" / "runs").rglob("*"))) >= 4  # forced results entered it again
    write(pipeline / "params.yaml", "train:\n  lr: 0.2\n")
    himo("repro")
    write(pipeline / "params.yaml", "train:\n  lr: 0.1\n")
    assert "Restored stage 'train' from the run-cache" in himo("repro").stdout  # without -f: restored


def test_failing_stage_commits_nothing_and_names_its_log(pipeline: Path, himo: Himo):
    himo("repro")
    before = (pipeline / "himo.lock").read_text()
    write(pipeline / "himo.yaml", PIPELINE.replace("wc -c model.txt", "exit 3; wc -c model.txt"))
    write(pipeline / "params.yaml", "train:\n  lr: 0.3\n")
    proc = himo("repro", ok=False)
    assert proc.returncode == 1
    assert "Error: stage 'report' failed (exit code 3); log: .himo/logs/report/" in proc.stderr
    entries = lock(pipeline)
    assert entries["train"]["params"]["params.yaml"]["train.lr"] == 0.3  # train succeeded
    assert entries["report"] == yaml.safe_load(before)["stages"]["report"]  # unchanged
    log = proc.stderr.split("log: ")[1].split()[0]
    assert "exit code 3" in (pipeline / log).read_text()


def test_failure_stops_downstream_and_keep_going_runs_independent_stages(repo: Path, himo: Himo):
    write(repo / "himo.yaml", """\
stages:
  bad:
    cmd: exit 1
    outs: [bad.txt]
  after_bad:
    cmd: cp bad.txt after.txt
    deps: [bad.txt]
    outs: [after.txt]
  independent:
    cmd: echo ok > ind.txt
    outs: [ind.txt]
""")
    proc = himo("repro", ok=False)
    assert proc.returncode == 1 and not (repo / "after.txt").exists()
    proc = himo("repro", "--keep-going", ok=False)
    assert proc.returncode == 1
    assert (repo / "ind.txt").read_text() == "ok\n"
    assert "independent" in lock(repo) and "bad" not in lock(repo)


def test_missing_output_fails_the_stage(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "stages:\n  s:\n    cmd: 'true'\n    outs: [never.txt]\n")
    proc = himo("repro", ok=False)
    assert proc.returncode == 1
    assert "Stage 's' did not create never.txt" in proc.stdout
    assert not (repo / "himo.lock").exists()


def test_parallel_jobs_run_independent_stages_at_once(repo: Path, himo: Himo):
    # Each stage waits (up to 60 s) until all four have started: only stages running at once finish.
    wait = "n=0; while [ $(ls started | wc -l) -lt 4 ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done"
    stages = "".join(
        f"  s{i}:\n    cmd: touch started/{i} && {wait} && ls started | wc -l > o{i}.txt\n"
        f"    outs: [o{i}.txt]\n" for i in range(4))
    write(repo / "himo.yaml", "stages:\n" + stages)
    (repo / "started").mkdir()
    out = himo("repro", "-j", "4").stdout
    assert [(repo / f"o{i}.txt").read_text().strip() for i in range(4)] == ["4"] * 4
    assert "[s2] $ touch started/2" in out


@pytest.mark.slow
def test_sigterm_stops_the_stage_and_records_nothing(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "stages:\n  slow:\n    cmd: echo started $$ && sleep 60 && echo x > o.txt\n"
                              "    outs: [o.txt]\n")
    proc = subprocess.Popen([sys.executable, "-m", "himo", "repro"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    while not (line := proc.stdout.readline()).startswith("started "):  # the command's own output
        pass
    stage_group = int(line.split()[1])  # the stage's shell leads its own process group
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 130
    assert not (repo / "himo.lock").exists() and not (repo / "o.txt").exists()
    deadline = time.monotonic() + 10  # signalled before himo exited; the kernel may take a moment
    while live_processes_of_group(stage_group) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert live_processes_of_group(stage_group) == []  # the stage's `sleep 60` ended with it


def live_processes_of_group(group: int) -> list[int]:
    """Pids of the process group's members that still run (zombies awaiting their reaper don't)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state not in ("Z", "X"):
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.slow
def test_second_repro_is_refused_while_one_runs(repo: Path, himo: Himo):
    write(repo / "himo.yaml",
          "stages:\n  slow:\n    cmd: echo started && sleep 30\n    always_changed: true\n")
    proc = subprocess.Popen([sys.executable, "-m", "himo", "repro"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        while "started" not in proc.stdout.readline():
            pass
        second = himo("repro", ok=False)
        assert second.returncode == 1
        assert f"another himo process (pid {proc.pid}) is working in this repository" in second.stderr
        assert himo("status").returncode == 0  # read-only commands still work
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_stage_outputs_move_through_push_and_pull(pipeline: Path, himo: Himo, tmp_path: Path):
    himo("repro")
    himo("remote", "add", "-d", "store", str(tmp_path / "store"))
    himo("push")
    model = (pipeline / "model.txt").read_text()
    for name in ("prepared.txt", "model.txt"):
        os.unlink(pipeline / name)
    import shutil

    shutil.rmtree(pipeline / ".himo" / "cache")
    himo("pull")
    assert (pipeline / "model.txt").read_text() == model
    assert json.loads(himo("status", "--json").stdout)["stages"] == {}


def test_gc_keeps_outputs_in_himo_lock_of_old_commits(pipeline: Path, himo: Himo):
    himo("repro")
    git(pipeline, "add", "-A")
    git(pipeline, "commit", "-qm", "v1")
    old = lock(pipeline)["train"]["outs"][0]["digest"]
    write(pipeline / "params.yaml", "train:\n  lr: 0.9\n")
    himo("repro")
    git(pipeline, "commit", "-qam", "v2")
    obj = pipeline / ".himo" / "cache" / old[:2] / old[2:]
    himo("gc", "--all-commits", "-f")
    assert obj.exists()
    himo("gc", "--workspace", "-f")
    assert not obj.exists()


def test_himoignore_applies_to_stage_deps_and_outputs_as_to_added_data(repo: Path, himo: Himo):
    """Files .himoignore names are left out of a stage's outputs and deps, as out of `himo add`
    (and as DVC leaves .dvcignore's out everywhere): status agrees with repro, the added folder
    and the stage's dep have one digest; a run-cache entry made before the pattern holds such a
    file and is run again, never restored over and over."""
    write(repo / "data" / "a.csv", "1\n")
    himo("add", "data")
    write(repo / "himo.yaml", "stages:\n  s:\n    cmd: mkdir -p out && cp data/a.csv out/ && date +%N >"
          " out/t.tmp\n    deps: [data]\n    outs: [out]\n")
    himo("repro")
    assert yaml.safe_load((repo / "himo.lock").read_text())["stages"]["s"]["outs"][0]["nfiles"] == 2
    with open(repo / ".himoignore", "a") as f:
        f.write("*.tmp\n")
    assert "Running stage 's'" in himo("repro").stdout  # its run-cache entry holds out/t.tmp
    assert yaml.safe_load((repo / "himo.lock").read_text())["stages"]["s"]["outs"][0]["nfiles"] == 1
    assert himo("status").stdout == "Everything is up to date.\n"
    write(repo / "data" / "scratch.tmp", "noise\n")
    assert "Unchanged data" in himo("add", "data").stdout
    lock = yaml.safe_load((repo / "himo.lock").read_text())["stages"]["s"]
    assert [d["digest"] for d in lock["deps"]] == [yaml.safe_load((repo / "data.himo").read_text())["digest"]]
    assert "0 stage(s) run" in himo("repro").stdout
