"""The metadata store failing under a command: unreachable PostgreSQL, two clones writing one
store at once, a store from a newer himo, a corrupt meta.db; and the default background delivery.
The pipeline always goes on; records wait in the journal and nothing is lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import Himo, git, write
from tests.meta.test_recording import of_run, recorded, start_slow_repro
from tests.pipeline.test_stage_processes import wait_group_ended

PIPELINE = """\
stages:
  prepare:
    cmd: sleep 0.3 && cat data.txt params.yaml > prepared.txt
    deps: [data.txt]
    params: [lr]
    outs: [prepared.txt]
  train:
    cmd: sleep 0.3 && wc -c prepared.txt > model.pkl
    deps: [prepared.txt]
    outs: [model.pkl]
  evaluate:
    cmd: echo 1 > metrics.json
    deps: [model.pkl]
    metrics: [metrics.json]
"""
TOLD = "kept in .himo/journal/"


@pytest.fixture
def pipeline(repo: Path) -> Path:
    write(repo / "data.txt", "rows\n")
    write(repo / "params.yaml", "lr: 0.1\n")
    write(repo / "himo.yaml", PIPELINE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    return repo


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def journals(repo: Path) -> list[Path]:
    return sorted((repo / ".himo" / "journal").glob("*.jsonl"))


def errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("Error:")]


def test_postgres_down_during_repro_keeps_records_tells_once_and_sync_delivers(
        pipeline: Path, himo: Himo, pg_url: str):
    himo("config", "--local", "meta.url", f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test")
    first = himo("repro")
    write(pipeline / "params.yaml", "lr: 0.2\n")
    second = himo("repro")
    assert "Pipeline is up to date (3 stage(s)" in first.stdout and "(2 stage(s)" in second.stdout
    told = (first.stderr + second.stderr).count(TOLD)
    assert told == 1, first.stderr + second.stderr
    assert "cannot reach the metadata store" in first.stderr and "himo meta sync" in first.stderr
    assert len(journals(pipeline)) == 2

    himo("config", "--local", "meta.url", pg_url)
    assert "Delivered" in himo("meta", "sync").stdout
    assert journals(pipeline) == []
    rec = recorded(pipeline)
    assert [(r["command"], r["status"]) for r in rec.runs] == [("repro", "succeeded")] * 2
    assert sorted(of_run(rec, rec.runs[0])) == ["evaluate", "prepare", "train"]
    assert sorted(of_run(rec, rec.runs[1])) == ["prepare", "train"]  # evaluate: model unchanged
    assert of_run(rec, rec.runs[1])["prepare"]["params"] == {"params.yaml": {"lr": 0.2}}
    assert "Warning" not in himo("repro", "-f", "prepare", "-s").stderr  # back to normal


@pytest.mark.slow
def test_two_clones_repro_into_one_postgres_store_at_once(pipeline: Path, tmp_path: Path, pg_url: str):
    clones = []
    for name in ("alice", "bob"):
        git(tmp_path, "clone", "-q", str(pipeline), name)
        Himo(tmp_path / name)("config", "--local", "meta.url", pg_url)
        clones.append(tmp_path / name)
    procs = [subprocess.Popen([sys.executable, "-m", "himo", "repro"], cwd=clone, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for clone in clones]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        assert "Error" not in stderr and "Warning" not in stderr, stderr
    rec = recorded(clones[0])
    assert [r["status"] for r in rec.runs] == ["succeeded", "succeeded"]
    assert {r["repo"] for r in rec.runs} == {str(pipeline)}  # one origin: one repository
    for run in rec.runs:
        executions = of_run(rec, run)
        assert sorted(executions) == ["evaluate", "prepare", "train"]
        assert {e["status"] for e in executions.values()} == {"succeeded"}
    model = [e for e in rec.events if e["path"] == "model.pkl" and e["direction"] == "OUTPUT"]
    assert len(model) == 2 and len({e["digest"] for e in model}) == 1  # one artifact, two producers


def set_future_version(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()


def test_a_store_from_a_newer_himo_is_refused_and_repro_still_works(pipeline: Path, himo: Himo,
                                                                      meta_url: str):
    himo("config", "--local", "meta.url", meta_url)
    himo("meta", "upgrade")
    set_future_version(meta_url)
    sync = himo("meta", "sync", ok=False)
    assert sync.returncode == 1
    assert len(errors(sync)) == 1 and "9999_from_the_future, newer than this himo" in errors(sync)[0]
    assert "upgrade himo" in sync.stderr

    repro = himo("repro")
    assert (pipeline / "model.pkl").exists()
    assert repro.stderr.count("newer than this himo") == 1 and TOLD in repro.stderr
    assert len(journals(pipeline)) == 1  # kept for a himo that can deliver it


def test_a_corrupt_meta_db_is_named_with_the_way_out_and_the_pipeline_is_untouched(
        pipeline: Path, himo: Himo):
    himo("repro")
    store = pipeline / ".himo" / "meta.db"
    for extra in (".himo/meta.db-wal", ".himo/meta.db-shm"):
        (pipeline / extra).unlink(missing_ok=True)
    store.write_bytes(os.urandom(8192))
    kept = {name: (pipeline / name).read_bytes() for name in ("himo.lock", "prepared.txt", "model.pkl")}

    sync = himo("meta", "sync", ok=False)
    assert sync.returncode == 1
    (error,) = errors(sync)
    assert error == f"Error: the metadata store {store} is corrupt (file is not a database)"
    assert f"mv {store} {store}.broken" in sync.stderr and "himo meta sync" in sync.stderr
    assert {name: (pipeline / name).read_bytes() for name in kept} == kept

    write(pipeline / "params.yaml", "lr: 0.3\n")
    repro = himo("repro")
    assert "is corrupt" in repro.stderr and TOLD in repro.stderr
    assert "lr: 0.3" in (pipeline / "prepared.txt").read_text()
    assert len(journals(pipeline)) == 1

    store.rename(store.with_name("meta.db.broken"))  # the recovery the hint gives
    assert "Delivered" in himo("meta", "sync").stdout
    rec = recorded(pipeline)
    assert [r["command"] for r in rec.runs] == ["repro"]  # history before is in the broken file
    assert of_run(rec, rec.runs[0])["prepare"]["params"] == {"params.yaml": {"lr": 0.3}}


def background_env() -> dict[str, str]:
    env = dict(os.environ)
    del env["HIMO_META_DELIVER"]  # the default: a background `himo meta sync` after the command
    return env


def wait_for_runs(repo: Path, count: int) -> list[dict]:
    """Poll the store (without delivering from this process) until `count` runs arrived."""
    deadline = time.monotonic() + 60
    while True:
        runs = recorded(repo, deliver=False).runs
        if len(runs) >= count and not journals(repo):
            return runs
        assert time.monotonic() < deadline, f"{len(runs)} run(s) delivered, journals: {journals(repo)}"
        time.sleep(0.2)


@pytest.mark.slow
def test_background_delivery_reaches_the_store_after_the_command(pipeline: Path, himo: Himo):
    himo("repro", env=background_env())
    runs = wait_for_runs(pipeline, 1)
    assert [(r["command"], r["status"]) for r in runs] == [("repro", "succeeded")]
    assert sorted(of_run(recorded(pipeline, deliver=False), runs[0])) == ["evaluate", "prepare", "train"]


@pytest.mark.slow
def test_add_with_background_delivery_never_imports_sqlalchemy(repo: Path, himo: Himo):
    write(repo / "data.csv", "a\n")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "himo", "add", "data.csv"], cwd=repo,
                          env=background_env(), capture_output=True, text=True, check=True)
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
    assert "himo.api.recording" in imported and "himo.meta.recorder" in imported
    assert not [name for name in imported if name.split(".")[0] in ("sqlalchemy", "alembic", "psycopg")]
    assert [(r["command"], r["status"]) for r in wait_for_runs(repo, 1)] == [("add", "succeeded")]


@pytest.mark.slow
def test_a_killed_repro_is_aborted_by_the_next_command_whatever_it_is(repo: Path, himo: Himo):
    proc, stage_group = start_slow_repro(repo)
    # The stage writes no record meanwhile; the journal's heartbeat says it lives: kill himo once
    # the heartbeat has touched the journal 1.5 s after the stage started.
    started = (repo / "started").stat().st_mtime
    (journal,) = journals(repo)
    deadline = time.monotonic() + 30
    while journal.stat().st_mtime - started < 1.5:
        assert time.monotonic() < deadline, "the journal's heartbeat never touched it"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    wait_group_ended(stage_group)  # the stage's watchdog ends it: nothing outlives himo
    assert recorded(repo, deliver=False).runs == []
    status = himo("status", env=background_env())  # not a recording command, not a query
    assert "Traceback" not in status.stderr and status.stderr == ""
    (run,) = wait_for_runs(repo, 1)
    assert run["status"] == "aborted"
    slow = of_run(recorded(repo, deliver=False), run)["slow"]
    assert slow["status"] == "aborted"
    # Ended when it was last known alive, not at its last record (the stage's start).
    assert (slow["ended_at"] - slow["started_at"]).total_seconds() >= 1.5
    assert (run["ended_at"] - run["started_at"]).total_seconds() >= 1.5


def test_a_command_after_a_clean_one_starts_no_delivery(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n")
    himo("repro")
    himo("repro")  # a no-op: its journal waits for the next delivery
    (waiting,) = journals(repo)
    himo("status")  # delivery inline (the suite's setting): one started here would be done on return
    assert journals(repo) == [waiting]  # a finished journal is no sign of a killed himo
