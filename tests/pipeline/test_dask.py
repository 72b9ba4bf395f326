"""`repro --executor dask` on a real dask.distributed cluster on loopback (tests/dask_cluster.py: a
scheduler and two worker processes, started once per session)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Himo, ctrl_c_reaches_it, git, write
from tests.dask_cluster import WAIT, Cluster
from tests.meta.test_recording import of_run, recorded
from tests.pipeline.test_stage_processes import wait_group_ended, wait_until
from tests.remotes.helpers import FolderStore, S3Store, Store

pytestmark = pytest.mark.xdist_group("dask")  # one xdist worker: the cluster is started once (-n 2)


# left and right wait for each other (a rendezvous in a folder outside the repository): they ran at once.
DIAMOND = """\
stages:
  prep:
    cmd: tr a-z A-Z < data.txt > prep.txt
    deps: [data.txt]
    outs: [prep.txt]
  left:
    cmd: sh meet.sh {rdv} left right && cat prep.txt params.yaml > left.txt
    deps: [meet.sh, prep.txt]
    params: [n]
    outs: [left.txt]
  right:
    cmd: sh meet.sh {rdv} right left && mkdir -p right && rev prep.txt > right/r.txt
    deps: [meet.sh, prep.txt]
    outs: [right]
  join:
    cmd: cat left.txt right/r.txt > joined.txt
    deps: [left.txt, right]
    outs: [joined.txt]
"""
MEET = f"""\
touch "$1/$2"
i=0
while [ ! -f "$1/$3" ]; do
  i=$((i+1)); [ $i -gt {WAIT * 20} ] && {{ echo "no $3 after {WAIT} s"; exit 9; }}
  sleep 0.05
done
"""


def diamond(root: Path, himo_: Himo, rdv: Path) -> None:
    write(root / "himo.yaml", DIAMOND.format(rdv=rdv))
    write(root / "meet.sh", MEET)
    write(root / "params.yaml", "n: 1\n")
    write(root / "data.txt", "hello\n")
    himo_("add", "data.txt")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "diamond")
    write(root / "params.yaml", "n: 2\n")  # uncommitted: the workers must see it all the same


def outs_of(root: Path) -> dict[str, list[str]]:
    lock = yaml.safe_load((root / "himo.lock").read_text())
    return {name: [o["digest"] for o in entry["outs"]] for name, entry in lock["stages"].items()}


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_diamond_on_two_workers_meets_in_the_middle_and_equals_a_local_run(
        kind: str, dask_cluster: Cluster, make_repo, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    root = make_repo()
    himo_ = Himo(root)
    store: Store = FolderStore(tmp_path / "remote") if kind == "folder" else S3Store(
        request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket"))
    store.configure(himo_)
    if kind == "s3":  # a team sets it once; outputs checked out as links into the cache
        himo_("config", "executor.default", "dask")
        himo_("config", "executor.dask.scheduler", dask_cluster.address)
        himo_("config", "cache.type", "hardlink")
    rdv = tmp_path / "rdv"
    rdv.mkdir()
    diamond(root, himo_, rdv)
    args = ["repro"] if kind == "s3" else ["repro", "--executor", "dask", "--scheduler", dask_cluster.address]
    out = himo_(*args).stdout
    assert "[left] " in out and "[right] " in out  # each stage's log, as the worker wrote it
    assert (root / "joined.txt").read_text() == "HELLO\nn: 2\nOLLEH\n"
    assert himo_("status").stdout.strip() == "Everything is up to date."
    assert store.objects() >= {d for digests in outs_of(root).values() for d in digests}
    store.verify()

    rec = recorded(root)
    stages = of_run(rec, rec.runs[-1])
    assert {s: e["status"] for s, e in stages.items()} == dict.fromkeys(("prep", "left", "right", "join"),
                                                                       "succeeded")
    assert all("tcp://127.0.0.1:" in e["host"] for e in stages.values())
    assert stages["left"]["host"] != stages["right"]["host"]  # one worker each: they met

    local = make_repo("local")
    diamond(local, Himo(local), rdv)
    shutil.rmtree(rdv)
    rdv.mkdir()
    Himo(local)("repro", "-j", "2", "--executor", "local")
    assert outs_of(local) == outs_of(root)


SLOW = """\
stages:
  slow:
    cmd: if [ ! -f {marks}/again ]; then touch {marks}/again; sleep 60; fi; echo ok > out.txt
    outs: [out.txt]
"""


def with_marks(repo: Path, himo: Himo, tmp_path: Path, pipeline: str) -> Path:
    """A folder remote, and `pipeline` naming a folder for marks outside the repository; that folder."""
    FolderStore(tmp_path / "remote").configure(himo)
    marks = tmp_path / "marks"
    marks.mkdir()
    write(repo / "himo.yaml", pipeline.format(marks=marks))
    return marks


def test_a_worker_killed_mid_stage_is_retried_elsewhere_and_recorded_aborted(
        dask_cluster: Cluster, repo: Path, himo: Himo, tmp_path: Path) -> None:
    marks = with_marks(repo, himo, tmp_path, SLOW)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "slow")
    killed: list[int] = []
    killer = threading.Thread(target=kill_worker_running,
                              args=(dask_cluster, marks / "again", "himo-slow", killed))
    killer.start()
    try:
        himo("repro", "--executor", "dask", "--scheduler", dask_cluster.address)
    finally:
        killer.join()
    assert killed and (repo / "out.txt").read_text() == "ok\n"
    rec = recorded(repo)
    attempts = [e for e in rec.executions if e["run_id"] == rec.runs[-1]["id"]]
    assert [e["status"] for e in attempts] == ["aborted", "succeeded"]
    assert attempts[0]["host"] != attempts[1]["host"]
    with dask_cluster.client() as client:  # the killed worker's nanny started a new one
        client.wait_for_workers(2, timeout=WAIT)


def kill_worker_running(dask_cluster: Cluster, mark: Path, prefix: str, killed: list[int]) -> None:
    """SIGKILL the worker process whose task key starts with `prefix`, once `mark` exists."""
    deadline = time.monotonic() + WAIT
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with dask_cluster.client() as client:
        while time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items()
                    if any(str(k).startswith(prefix) for k in keys)]
            if busy:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)


FAILING = """\
stages:
  bad:
    cmd: echo broken && exit 3
    outs: [bad.txt]
  after:
    cmd: cp bad.txt after.txt
    deps: [bad.txt]
    outs: [after.txt]
  good:
    cmd: echo fine > good.txt
    outs: [good.txt]
"""


def test_a_failing_stage_fails_the_run_and_keep_going_runs_the_others(
        dask_cluster: Cluster, repo: Path, himo: Himo, tmp_path: Path) -> None:
    FolderStore(tmp_path / "remote").configure(himo)
    write(repo / "himo.yaml", FAILING)
    proc = himo("repro", "-k", "--executor", "dask", "--scheduler", dask_cluster.address, ok=False)
    assert proc.returncode == 1
    assert "Error: stage 'bad' failed (exit code 3)" in proc.stderr
    assert "[bad] broken" in proc.stdout
    assert set(outs_of(repo)) == {"good"} and (repo / "good.txt").read_text() == "fine\n"
    assert not (repo / "after.txt").exists()


def test_no_remote_is_one_clear_error_before_any_stage(dask_cluster: Cluster, repo: Path, himo: Himo) -> None:
    write(repo / "himo.yaml", FAILING)
    proc = himo("repro", "--executor", "dask", "--scheduler", dask_cluster.address, ok=False)
    assert (proc.returncode, proc.stderr.splitlines()[0]) == (
        1, "Error: --executor dask needs a default remote: no remote given and no default remote set")
    assert "broken" not in proc.stdout and not (repo / "himo.lock").exists()


def test_an_unreachable_scheduler_is_one_line(repo: Path, himo: Himo, tmp_path: Path) -> None:
    FolderStore(tmp_path / "remote").configure(himo)
    write(repo / "himo.yaml", FAILING)
    proc = himo("repro", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0] == (
        "Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9: Connection refused")
    proc = himo("config", "executor.default", "spark", ok=False)
    assert "executor.default must be one of local, dask, not 'spark'" in proc.stderr


STOPPED = """\
stages:
  long:
    cmd: echo $$ > {marks}/pid && sleep 60 && echo late > long.txt
    outs: [long.txt]
"""


def test_ctrl_c_cancels_the_stage_on_its_worker_and_commits_nothing(
        dask_cluster: Cluster, repo: Path, himo: Himo, tmp_path: Path) -> None:
    marks = with_marks(repo, himo, tmp_path, STOPPED)
    proc = subprocess.Popen([sys.executable, "-m", "himo", "repro", "--executor", "dask", "--scheduler",
                             dask_cluster.address], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=ctrl_c_reaches_it)
    pid = marks / "pid"
    wait_until(lambda: pid.exists() and pid.read_text().strip() != "", "stage started", WAIT)
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        masks = [line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                 if line.startswith(("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"))]
        proc.send_signal(signal.SIGUSR1)  # its threads' stacks, to stderr
        time.sleep(1)
        proc.kill()
        raise AssertionError(f"himo ignored Ctrl-C for {WAIT} s ({'; '.join(masks)}):\n"
                             f"{proc.communicate()[1].decode()}") from None
    assert code == 130, proc.stderr.read().decode() if proc.stderr else ""
    wait_group_ended(int(pid.read_text()))  # the command on the worker was stopped
    assert not (repo / "himo.lock").exists() and not (repo / "long.txt").exists()
    assert [e["status"] for e in recorded(repo).executions] == ["aborted"]


@pytest.mark.slow  # botocore's retries against a closed port: seconds on each worker
def test_a_remote_the_workers_cannot_reach_is_one_error_before_any_stage(
        dask_cluster: Cluster, repo: Path, himo: Himo) -> None:
    himo("remote", "add", "-d", "dead", "s3://bucket/prefix")
    himo("remote", "modify", "dead", "endpointurl", "http://127.0.0.1:9")
    write(repo / "himo.yaml", FAILING)
    proc = himo("repro", "--executor", "dask", "--scheduler", dask_cluster.address, ok=False)
    first = proc.stderr.splitlines()[0]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert first.startswith("Error: Dask worker tcp://127.0.0.1:")
    assert "cannot reach the remote: remote 'dead'" in first
    assert "broken" not in proc.stdout and not (repo / "himo.lock").exists()
