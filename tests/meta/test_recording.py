"""What commands record in the metadata store: repro/run executions, add/commit, push/fetch/pull
locations, kinds; interrupted and killed runs end `aborted`. Real himo processes, real stores."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from blake3 import blake3

from himo.meta.kinds import infer_kind, is_code
from tests.conftest import Himo, git, write
from tests.pipeline.test_stage_processes import wait_group_ended

PIPELINE = """\
stages:
  featurize:
    cmd: sh featurize.sh
    deps: [featurize.sh, data/raw.csv]
    params: [featurize.n]
    outs: [features.csv]
  train:
    cmd: sh train.sh
    deps: [train.sh, features.csv]
    outs:
      - weights.out: {kind: model}
    metrics: [scores.json]
"""


def recorded(root: Path, deliver: bool = True) -> SimpleNamespace:
    """Every run, execution, event and location in the repository's store, as plain dicts.
    `deliver=False` reads the store as it is, without delivering pending journals first."""
    import sqlalchemy as sa

    from himo.api.recording import open_store
    from himo.meta.schema import Artifact, Event, Execution, Location, Run, Transfer
    from himo.workspace.repo import Repo

    store = open_store(Repo(root), deliver_pending=deliver)
    try:
        with store.session() as session:
            runs = [_row(r) for r in session.scalars(sa.select(Run).order_by(Run.started_at))]
            execs = [_row(e) for e in session.scalars(sa.select(Execution).order_by(Execution.started_at))]
            events = [dict(r) for r in session.execute(
                sa.select(Event.execution_id, Event.direction, Event.path, Artifact.digest, Artifact.kind,
                          Artifact.size, Artifact.nfiles).join(Artifact, Artifact.id == Event.artifact_id)
            ).mappings()]
            locations = [dict(r) for r in session.execute(
                sa.select(Location.kind, Location.url, Location.run_id, Artifact.digest, Artifact.kind.label(
                    "artifact_kind")).join(Artifact, Artifact.id == Location.artifact_id)).mappings()]
            transfers = [dict(r) for r in session.execute(
                sa.select(Transfer.run_id, Transfer.kind, Transfer.url, Transfer.path, Artifact.digest)
                .join(Artifact, Artifact.id == Transfer.artifact_id).order_by(Transfer.id)).mappings()]
    finally:
        store.close()
    return SimpleNamespace(runs=runs, executions=execs, events=events, locations=locations,
                           transfers=transfers)


def _row(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in row.__table__.columns}


def of_run(rec: SimpleNamespace, run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The executions of `run`, by stage name."""
    return {e["stage"]: e for e in rec.executions if e["run_id"] == run["id"]}


def io(rec: SimpleNamespace, execution: dict[str, Any], direction: str) -> dict[str, tuple[str, str]]:
    """{path: (kind, digest)} of an execution's INPUT or OUTPUT events."""
    return {e["path"]: (e["kind"], e["digest"]) for e in rec.events
            if e["execution_id"] == execution["id"] and e["direction"] == direction}


def digest_of(path: Path) -> str:
    return blake3(path.read_bytes()).hexdigest()


@pytest.fixture
def pipeline(repo: Path, himo: Himo) -> Path:
    """featurize (code + added data + a param) -> train (declared model output, metrics), committed."""
    write(repo / "data" / "raw.csv", "a,b\n1,2\n")
    write(repo / "featurize.sh", "cat data/raw.csv params.yaml > features.csv\n")
    write(repo / "train.sh", "wc -c features.csv > weights.out && echo '{\"acc\": 0.9}' > scores.json\n")
    write(repo / "params.yaml", "featurize:\n  n: 2\n")
    write(repo / "himo.yaml", PIPELINE)
    himo("add", "data/raw.csv")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    return repo


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def use_store(himo: Himo, url: str) -> None:
    himo("config", "--local", "meta.url", url)


def test_repro_records_each_execution_with_inputs_outputs_params_and_code(
        pipeline: Path, himo: Himo, meta_url: str):
    use_store(himo, meta_url)
    himo("repro")
    rec = recorded(pipeline)
    run = rec.runs[-1]
    head = git(pipeline, "rev-parse", "HEAD").strip()
    assert (run["command"], run["args"], run["status"]) == ("repro", [], "succeeded")
    assert (run["git_commit"], run["branch"], run["dirty"]) == (head, "main", False)
    assert run["user"] and run["host"] and run["himo_version"] and run["ended_at"] >= run["started_at"]
    stages = of_run(rec, run)
    assert set(stages) == {"featurize", "train"}
    feat, train = stages["featurize"], stages["train"]
    assert (feat["status"], feat["exit_code"], feat["cmd"]) == ("succeeded", 0, "sh featurize.sh")
    assert feat["params"] == {"params.yaml": {"featurize.n": 2}}
    assert feat["reasons"] == ["never ran"]
    assert feat["code_digests"] == {"featurize.sh": digest_of(pipeline / "featurize.sh")}
    assert (feat["git_commit"], feat["branch"]) == (head, "main")
    assert (pipeline / feat["log"]).is_file() and feat["log"].startswith(".himo/logs/featurize/")
    assert io(rec, feat, "INPUT") == {
        "featurize.sh": ("code", digest_of(pipeline / "featurize.sh")),
        "data/raw.csv": ("dataset", digest_of(pipeline / "data" / "raw.csv")),
    }
    assert io(rec, feat, "OUTPUT") == {"features.csv": ("features", digest_of(pipeline / "features.csv"))}
    assert io(rec, train, "INPUT") == {
        "train.sh": ("code", digest_of(pipeline / "train.sh")),
        "features.csv": ("features", digest_of(pipeline / "features.csv")),
    }
    assert io(rec, train, "OUTPUT") == {
        "weights.out": ("model", digest_of(pipeline / "weights.out")),  # `kind: model` in himo.yaml
        "scores.json": ("metrics", digest_of(pipeline / "scores.json")),  # a metrics output
    }


def test_up_to_date_stages_record_no_execution_and_dry_records_nothing(pipeline: Path, himo: Himo):
    himo("repro")
    himo("repro")
    rec = recorded(pipeline)
    assert [r["command"] for r in rec.runs] == ["add", "repro", "repro"]
    assert of_run(rec, rec.runs[-1]) == {}
    assert rec.runs[-1]["status"] == "succeeded"
    himo("repro", "--dry", "--force")
    assert not list((pipeline / ".himo" / "journal").glob("*.jsonl"))
    assert len(recorded(pipeline).runs) == 3


def test_a_failed_stage_is_a_failed_execution_of_a_failed_run(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "stages:\n  bad:\n    cmd: echo partial > out.txt && exit 3\n"
                              "    outs: [out.txt]\n")
    proc = himo("repro", ok=False)
    assert proc.returncode == 1
    rec = recorded(repo)
    run = rec.runs[-1]
    assert run["status"] == "failed"
    bad = of_run(rec, run)["bad"]
    assert (bad["status"], bad["exit_code"]) == ("failed", 3)
    assert io(rec, bad, "OUTPUT") == {}  # nothing committed, nothing recorded as written
    assert "exit code 3" in (repo / bad["log"]).read_text()


def test_a_stage_restored_from_the_run_cache_is_a_cached_execution(pipeline: Path, himo: Himo):
    himo("repro")
    first = digest_of(pipeline / "features.csv")
    write(pipeline / "params.yaml", "featurize:\n  n: 3\n")
    himo("repro")
    write(pipeline / "params.yaml", "featurize:\n  n: 2\n")
    assert "Restored stage 'featurize'" in himo("repro").stdout
    rec = recorded(pipeline)
    restored = of_run(rec, rec.runs[-1])
    assert set(restored) == {"featurize", "train"}  # train: the run-cache too
    feat = restored["featurize"]
    assert (feat["status"], feat["exit_code"], feat["log"]) == ("cached", None, None)
    assert feat["params"] == {"params.yaml": {"featurize.n": 2}}
    assert feat["reasons"] == ["param featurize.n changed (3 -> 2)"]
    assert io(rec, feat, "OUTPUT") == {"features.csv": ("features", first)}
    assert set(io(rec, feat, "INPUT")) == {"featurize.sh", "data/raw.csv"}


def test_himo_run_is_a_run_command_with_what_the_user_typed(repo: Path, himo: Himo):
    himo("run", "-n", "greet", "-o", "hello.txt", "echo hi > hello.txt")
    rec = recorded(repo)
    run = rec.runs[-1]
    assert (run["command"], run["status"]) == ("run", "succeeded")
    assert run["args"] == ["-n", "greet", "-o", "hello.txt", "echo hi > hello.txt"]
    greet = of_run(rec, run)["greet"]
    assert io(rec, greet, "OUTPUT") == {"hello.txt": ("other", digest_of(repo / "hello.txt"))}


def test_parallel_stages_each_record_one_whole_execution(repo: Path, himo: Himo):
    stages = "".join(f"  s{i}:\n    cmd: sleep 0.2 && echo {i} > out{i}.txt\n    outs: [out{i}.txt]\n"
                     for i in range(6))
    write(repo / "himo.yaml", "stages:\n" + stages)
    himo("repro", "-j", "3")
    rec = recorded(repo)
    run = rec.runs[-1]
    assert run["args"] == ["--jobs", "3"]
    executions = of_run(rec, run)
    assert sorted(executions) == [f"s{i}" for i in range(6)]
    for i in range(6):
        execution = executions[f"s{i}"]
        assert execution["status"] == "succeeded" and execution["ended_at"] is not None
        assert io(rec, execution, "OUTPUT") == {f"out{i}.txt": ("other", digest_of(repo / f"out{i}.txt"))}


SLOW = "stages:\n  slow:\n    cmd: echo $$ > started && sleep 60 && touch done.txt\n    outs: [done.txt]\n"


def start_slow_repro(repo: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`himo repro` of a stage that sleeps, once the stage runs; (himo process, stage's group)."""
    write(repo / "himo.yaml", SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "himo", "repro"], cwd=repo, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (repo / "started").exists() or not (repo / "started").read_text().strip():
        assert proc.poll() is None and time.monotonic() < deadline, "the stage did not start"
        time.sleep(0.05)
    return proc, int((repo / "started").read_text())


@pytest.mark.slow
def test_sigterm_ends_the_run_and_its_execution_aborted(repo: Path, himo: Himo):
    proc, _ = start_slow_repro(repo)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    rec = recorded(repo)
    run = rec.runs[-1]
    assert run["status"] == "aborted"
    slow = of_run(rec, run)["slow"]
    assert slow["status"] == "aborted" and slow["ended_at"] is not None


@pytest.mark.slow
def test_a_killed_himo_is_aborted_at_the_next_start(repo: Path, himo: Himo):
    proc, stage_group = start_slow_repro(repo)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    wait_group_ended(stage_group)  # the stage's watchdog ends it: nothing outlives himo
    before = recorded(repo, deliver=False)
    assert before.runs == []  # nothing was delivered while it ran (inline delivery comes at the end)
    assert "Delivered" in himo("meta", "sync").stdout
    rec = recorded(repo)
    assert [r["status"] for r in rec.runs] == ["aborted"]
    slow = of_run(rec, rec.runs[0])["slow"]
    assert slow["status"] == "aborted" and slow["ended_at"] >= slow["started_at"]
    assert not list((repo / ".himo" / "journal").glob("*.jsonl"))
    write(repo / "after.csv", "x\n")
    himo("add", "after.csv")  # the repository lock died with the process


def test_add_and_commit_record_one_execution_per_target(repo: Path, himo: Himo):
    for i in range(3):
        write(repo / "data" / f"part{i}.csv", f"row {i}\n")
    write(repo / "model.pkl", b"\x80\x04weights")
    himo("add", "data", "model.pkl")
    rec = recorded(repo)
    run = rec.runs[-1]
    assert (run["command"], run["args"], run["status"]) == ("add", ["data", "model.pkl"], "succeeded")
    adds = [e for e in rec.executions if e["run_id"] == run["id"]]
    assert sorted(e["cmd"] for e in adds) == ["himo add data", "himo add model.pkl"]
    assert {e["stage"] for e in adds} == {"add"} and {e["status"] for e in adds} == {"succeeded"}
    outputs = {p: v for e in adds for p, v in io(rec, e, "OUTPUT").items()}
    assert outputs["data"][0] == "dataset" and outputs["model.pkl"][0] == "model"
    data = next(e for e in rec.events if e["path"] == "data")
    assert (data["nfiles"], data["size"]) == (3, 18)

    write(repo / "data" / "part0.csv", "row 0 changed\n")
    himo("commit", "data")
    rec = recorded(repo)
    run = rec.runs[-1]
    assert (run["command"], run["args"], run["status"]) == ("commit", ["data"], "succeeded")
    (commit,) = [e for e in rec.executions if e["run_id"] == run["id"]]
    assert (commit["stage"], commit["cmd"]) == ("commit", "himo commit data")
    kind, digest = io(rec, commit, "OUTPUT")["data"]
    assert kind == "dataset" and digest != outputs["data"][1]


def test_push_fetch_pull_record_where_the_bytes_are(repo: Path, himo: Himo, tmp_path: Path):
    write(repo / "data.csv", "x\n1\n")
    write(repo / "model.pkl", b"model")
    himo("add", "data.csv", "model.pkl")
    himo("remote", "add", "-d", "store", "../remote")
    himo("push")
    rec = recorded(repo)
    push = rec.runs[-1]
    assert (push["command"], push["status"]) == ("push", "succeeded")
    remote = str(tmp_path / "remote")
    assert sorted((loc["kind"], loc["url"], loc["artifact_kind"]) for loc in rec.locations) == [
        ("remote", remote, "dataset"), ("remote", remote, "model")]
    assert {loc["run_id"] for loc in rec.locations} == {push["id"]}
    assert {loc["digest"] for loc in rec.locations} == {digest_of(repo / "data.csv"),
                                                        digest_of(repo / "model.pkl")}

    for cache_file in (repo / ".himo" / "cache").rglob("*"):
        if cache_file.is_file():
            cache_file.chmod(0o644)
            cache_file.unlink()
    himo("fetch", "data.csv")
    rec = recorded(repo)
    fetch = rec.runs[-1]
    assert (fetch["command"], fetch["args"], fetch["status"]) == ("fetch", ["data.csv"], "succeeded")
    by_digest = {loc["digest"]: loc["run_id"] for loc in rec.locations}
    assert by_digest[digest_of(repo / "data.csv")] == fetch["id"]  # confirmed there again
    assert by_digest[digest_of(repo / "model.pkl")] == push["id"]

    (repo / "model.pkl").unlink()
    himo("pull")
    rec = recorded(repo)
    pull = rec.runs[-1]
    assert (pull["command"], pull["status"]) == ("pull", "succeeded")
    by_digest = {loc["digest"]: loc["run_id"] for loc in rec.locations}
    assert by_digest[digest_of(repo / "model.pkl")] == pull["id"]
    assert len(rec.locations) == 2  # one row per artifact and place, with its last confirmation


def test_a_push_that_leaves_objects_behind_is_a_failed_run(repo: Path, himo: Himo):
    write(repo / "kept.csv", "kept\n")
    write(repo / "lost.csv", "lost\n")
    himo("add", "kept.csv", "lost.csv")
    himo("remote", "add", "-d", "store", "../remote")
    lost = digest_of(repo / "lost.csv")
    (repo / ".himo" / "cache" / lost[:2] / lost[2:]).unlink()
    assert himo("push", ok=False).returncode == 1
    rec = recorded(repo)
    assert (rec.runs[-1]["command"], rec.runs[-1]["status"]) == ("push", "failed")
    assert [loc["digest"] for loc in rec.locations] == [digest_of(repo / "kept.csv")]


def test_recording_switched_off_records_nothing(repo: Path, himo: Himo):
    himo("config", "meta.record", "false")
    write(repo / "a.csv", "a\n")
    himo("add", "a.csv")
    assert not (repo / ".himo" / "journal").exists() or not list((repo / ".himo" / "journal").iterdir())
    assert recorded(repo).runs == []


@pytest.mark.parametrize(("path", "role", "declared", "data", "kind"), [
    ("src/train.py", "dep", None, True, "code"),
    ("notebooks/eda.ipynb", "dep", None, True, "code"),
    ("queries/load.SQL", "dep", None, True, "code"),
    ("Makefile", "dep", None, True, "code"),
    ("docker/Dockerfile", "dep", None, True, "code"),
    ("src", "dep", None, True, "code"),  # a folder of code
    ("models/rf.pkl", "out", None, False, "model"),
    ("out/net.safetensors", "out", None, False, "model"),
    ("pytorch_model.bin", "out", None, False, "model"),
    ("model/weights", "out", None, False, "model"),
    ("predictor.joblib", "out", None, False, "model"),  # the suffix says model, not "pred"
    ("out/predictions.csv", "out", None, False, "predictions"),
    ("data/features.parquet", "out", None, False, "features"),
    ("eval/metrics.json", "out", None, False, "metrics"),
    ("eval/scores.json", "metrics", None, False, "metrics"),
    ("eval/scores.json", "out", None, False, "other"),
    ("data/raw.csv", "dep", None, True, "dataset"),
    ("data/raw.csv", "out", None, False, "other"),
    ("config.yaml", "dep", None, True, "other"),  # configuration, not data
    ("anything.bin", "out", "features", False, "features"),  # `kind:` in himo.yaml wins
    ("train.py", "metrics", None, False, "metrics"),
])
def test_kind_inference(path: str, role: str, declared: str | None, data: bool, kind: str):
    assert infer_kind(path, role, declared, data) == kind


def test_code_files_are_told_from_data():
    assert is_code("scripts/prepare.sh") and is_code("R/model.R") and is_code("lib")
    assert not is_code("data/train.csv") and not is_code("model.pkl") and not is_code("data")


def runs_show(himo: Himo, run_id: str) -> dict[str, Any]:
    return json.loads(himo("runs", "show", run_id, "--json").stdout)


def test_metrics_and_log_tail_are_kept_in_the_store_and_shown_without_the_files(
        pipeline: Path, himo: Himo, meta_url: str):
    use_store(himo, meta_url)
    write(pipeline / "train.sh", "seq 1 200; wc -c features.csv > weights.out && "
                                 "echo '{\"acc\": 0.9, \"loss\": {\"val\": 0.25}, \"grad\": NaN}' "
                                 "> scores.json\n")
    himo("repro")
    for produced in ("scores.json", "weights.out", "features.csv"):
        (pipeline / produced).unlink()
    shutil.rmtree(pipeline / ".himo" / "logs")
    rec = recorded(pipeline)
    run = rec.runs[-1]
    train, feat = of_run(rec, run)["train"], of_run(rec, run)["featurize"]
    assert train["metrics"] == {"scores.json": {"acc": 0.9, "loss.val": 0.25, "grad": "NaN"}}
    assert train["log_tail"].splitlines() == [str(i) for i in range(151, 201)]  # the last 50 lines
    assert (feat["metrics"], feat["log_tail"]) == ({}, "$ sh featurize.sh\n")
    shown = {e["summary"]["stage"]: e for e in runs_show(himo, run["id"])["executions"]}
    assert shown["train"]["metrics"] == {"scores.json": {"acc": 0.9, "loss.val": 0.25, "grad": "NaN"}}
    assert shown["train"]["log_tail"] == [str(i) for i in range(181, 201)]  # runs show: last 20
    assert "metrics   scores.json: acc=0.9, loss.val=0.25, grad=NaN" in himo("runs", "show", run["id"]).stdout

    himo("repro")  # restored from the run-cache: the metrics are at hand again
    restored = of_run(recorded(pipeline), recorded(pipeline).runs[-1])["train"]
    assert (restored["status"], restored["metrics"]) == ("cached", train["metrics"])
    assert restored["log_tail"] is None


def test_push_fetch_pull_and_export_record_what_each_run_moved(
        repo: Path, himo: Himo, tmp_path: Path, meta_url: str):
    use_store(himo, meta_url)
    write(repo / "data.csv", "x\n1\n")
    write(repo / "model.pkl", b"model")
    himo("add", "data.csv", "model.pkl")
    himo("remote", "add", "-d", "store", "../remote")
    himo("push")
    himo("push")  # nothing to send: no transfer, though the Locations are confirmed again
    remote = str(tmp_path / "remote")
    data, model = digest_of(repo / "data.csv"), digest_of(repo / "model.pkl")
    rec = recorded(repo)
    first, second = rec.runs[-2:]
    assert sorted((t["kind"], t["url"], t["path"], t["digest"]) for t in rec.transfers) == [
        ("push", remote, "data.csv", data), ("push", remote, "model.pkl", model)]
    assert {t["run_id"] for t in rec.transfers} == {first["id"]}
    shown = runs_show(himo, first["id"])
    assert sorted((t["kind"], t["path"], t["artifact_kind"], t["url"]) for t in shown["transfers"]) == [
        ("push", "data.csv", "dataset", remote), ("push", "model.pkl", "model", remote)]
    text = himo("runs", "show", first["id"]).stdout
    assert f"moved     push   dataset     {data[:12]}  data.csv  (4 B)  to {remote}" in text
    assert "moved     nothing" in himo("runs", "show", second["id"]).stdout

    shutil.rmtree(repo / ".himo" / "cache")
    himo("fetch", "data.csv")
    (repo / "model.pkl").unlink()
    himo("pull")
    himo("export", "model.pkl", str(tmp_path / "shipped"))
    rec = recorded(repo)
    fetch, pull, export = rec.runs[-3:]
    moved = [(t["run_id"], t["kind"], t["path"]) for t in rec.transfers[2:]]
    assert moved == [(fetch["id"], "fetch", "data.csv"), (pull["id"], "pull", "model.pkl"),
                     (export["id"], "export", "model.pkl")]
    assert rec.transfers[-1]["url"] == str(tmp_path / "shipped" / "model.pkl")


def test_delivering_a_push_journal_twice_records_its_transfers_once(repo: Path, himo: Himo, meta_url: str):
    write(repo / "data.csv", "x\n")
    himo("add", "data.csv")
    himo("remote", "add", "-d", "store", "../remote")
    use_store(himo, f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/none")
    himo("push")  # the store is down: the journal stays
    (journal,) = (repo / ".himo" / "journal").glob("*.jsonl")
    kept = journal.read_bytes()
    use_store(himo, meta_url)
    himo("meta", "sync")
    journal.write_bytes(kept)
    himo("meta", "sync")
    rec = recorded(repo)
    assert [(t["kind"], t["path"]) for t in rec.transfers] == [("push", "data.csv")]
    assert len(rec.locations) == 1


def test_an_unknown_trigger_is_refused_naming_the_variable(repo: Path, himo: Himo):
    write(repo / "data.csv", "x\n")
    proc = himo("add", "data.csv", ok=False, env={**os.environ, "HIMO_TRIGGER": "nightly"})
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "Error: HIMO_TRIGGER='nightly' is not a trigger (allowed: manual, schedule, ci)",
        "Hint: set HIMO_TRIGGER to one of manual, schedule, ci, or unset it"]
    assert recorded(repo).runs == []
    himo("add", "data.csv", env={**os.environ, "HIMO_TRIGGER": "schedule"})
    (run,) = json.loads(himo("runs", "--json").stdout)
    assert run["trigger"] == "schedule"
    assert run["queued_at"] == run["started_at"]  # a command typed (or started) now was queued now
    assert runs_show(himo, run["id"][:8])["run"]["queued_at"] == run["queued_at"]
