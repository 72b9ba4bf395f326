"""`himo exp` and `himo queue`: isolated runs, sweeps, the queue, apply/branch/remove, show, gc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from himo.pipeline import overrides as ov
from tests.conftest import Himo, git, write
from tests.exp.conftest import snapshot


def metrics_of(himo: Himo, name: str) -> dict:
    rows = json.loads(himo("exp", "show", "--json", "-A").stdout)
    return next(r for r in rows if r["name"] == name)


def test_exp_run_leaves_the_workspace_untouched(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    write(exp_repo / "params.yaml", (exp_repo / "params.yaml").read_text().replace("depth: 2", "depth: 4"))
    write(exp_repo / "notes.txt", "untracked, not ignored: carried into the experiment\n")
    before = snapshot(exp_repo)
    himo("exp", "run", "-S", "train.alpha=3", "-n", "a3")
    assert snapshot(exp_repo) == before
    row = metrics_of(himo, "a3")
    # the uncommitted depth (4) and the override (3) both reached the stage
    assert row["metrics"] == {"metrics.json:score": 12, "metrics.json:depth": 4}
    assert row["params"]["train.alpha"] == 3 and row["params"]["train.depth"] == 4
    assert not list((exp_repo / ".himo" / "tmp").glob("iso-*"))  # scratch folder gone
    runs = json.loads(himo("runs", "--json").stdout)
    exp_run = next(r for r in runs if r["command"] == "exp")
    assert exp_run["status"] == "succeeded"


def test_unchanged_stages_are_reused(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    out = himo("exp", "run", "-S", "train.depth=7").stdout
    assert "Stage 'prep' is up to date" in out and "Running stage 'train'" in out
    again = himo("exp", "run", "-S", "train.depth=7").stdout  # the same run: from the run-cache
    assert "Restored stage 'train' from the run-cache" in again


def test_sweep_queues_the_product(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    himo("exp", "run", "-S", "train.alpha=1,2,3", "-S", "train.depth=[1],5", "-n", "sw", "--queue")
    queued = json.loads(himo("queue", "status", "--json").stdout)
    assert [q["name"] for q in queued] == [f"sw-{i}" for i in range(1, 7)]
    assert {tuple(q["overrides"]) for q in queued} == {
        (f"params.yaml:train.alpha={a}", f"params.yaml:train.depth={d}")
        for a in (1, 2, 3) for d in ("[1]", 5)}
    assert himo("queue", "remove", "sw-6").stdout.strip() == "Removed 'sw-6' from the queue"
    assert len(json.loads(himo("queue", "status", "--json").stdout)) == 5
    himo("queue", "remove", "--all")
    assert himo("queue", "status").stdout.strip() == "The queue is empty."


def gated(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder where train.py holds or meets stages (tests/exp/conftest.py), and the env naming it."""
    gate = tmp_path / "gate"
    gate.mkdir()
    return gate, {**os.environ, "EXP_GATE": str(gate)}


def test_two_experiments_run_at_once(exp_repo: Path, tmp_path: Path) -> None:
    """Each stage waits at a rendezvous until the other one arrives: only -j 2 gets through."""
    himo = Himo(exp_repo)
    gate, env = gated(tmp_path)
    himo("exp", "run", "-S", "train.alpha=1,2", "-S", "train.meet=2", "-n", "pair", "--queue")
    out = himo("exp", "run", "--run-all", "-j", "2", env=env).stdout
    assert "Experiment 'pair-1' succeeded" in out and "Experiment 'pair-2' succeeded" in out
    assert sorted(p.name for p in gate.iterdir()) == ["at-1", "at-2"]
    assert himo("queue", "status").stdout.strip() == "The queue is empty."


def test_killed_queue_resumes_where_it_stopped(exp_repo: Path, tmp_path: Path) -> None:
    himo = Himo(exp_repo)
    gate, env = gated(tmp_path)
    himo("exp", "run", "-S", "train.alpha=1,2,3", "-S", "train.hold=2", "-n", "q", "--queue")
    runner = subprocess.Popen([sys.executable, "-m", "himo", "queue", "start"], cwd=exp_repo, env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (gate / "held").exists():  # q-2's stage is running
            assert runner.poll() is None, "the queue runner ended before q-2 ran"
            time.sleep(0.05)
        os.killpg(runner.pid, signal.SIGKILL)
    finally:
        runner.wait()
    states = {q["name"]: q["state"] for q in json.loads(himo("queue", "status", "--json").stdout)}
    assert states == {"q-2": "queued", "q-3": "queued"}  # q-1 done; q-2's runner died
    (gate / "go").touch()
    out = himo("queue", "start", env=env).stdout
    assert "Experiment 'q-2' succeeded" in out and "Experiment 'q-3' succeeded" in out
    assert not list((exp_repo / ".himo" / "tmp").glob("iso-*"))  # the killed one's scratch too
    names = {r["name"] for r in json.loads(himo("exp", "show", "--json").stdout)}
    assert {"q-1", "q-2", "q-3"} <= names
    statuses = [r["status"] for r in json.loads(himo("runs", "--json").stdout) if r["command"] == "exp"]
    assert sorted(statuses) == ["aborted", "succeeded", "succeeded", "succeeded"]


def test_apply_branch_remove(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    himo("exp", "run", "-S", "train.alpha=5", "-n", "five")
    before = snapshot(exp_repo)
    out = himo("exp", "branch", "five", "try-five").stdout
    assert "Branch 'try-five' made" in out
    after = snapshot(exp_repo)
    assert {k: v for k, v in after.items() if k != "git refs"} == {k: v for k, v in before.items()
                                                                  if k != "git refs"}
    shown = git(exp_repo, "show", "try-five:params.yaml")
    assert "alpha: 5  # learning rate" in shown and "# the model's knobs" in shown  # comments kept
    assert git(exp_repo, "rev-parse", "try-five~1") == git(exp_repo, "rev-parse", "HEAD")
    himo("exp", "apply", "five")
    assert "alpha: 5" in (exp_repo / "params.yaml").read_text()
    assert json.loads((exp_repo / "metrics.json").read_text())["score"] == 10
    assert (exp_repo / "model" / "weights.txt").read_text() == "5 2\n"
    assert git(exp_repo, "show", "try-five:himo.lock") == (exp_repo / "himo.lock").read_text()
    assert "up to date" in himo("repro").stdout  # the applied outputs match the applied lock
    himo("exp", "remove", "five")
    assert "five" not in {r["name"] for r in json.loads(himo("exp", "show", "--json").stdout)}
    bad = himo("exp", "apply", "five", ok=False)
    assert bad.returncode == 2 and "no experiment named 'five'" in bad.stderr


def test_branch_and_apply_keep_executable_scripts_executable(exp_repo: Path) -> None:
    """A script the experiment carries (new, or changed from a committed executable) is committed
    100755 by `exp branch` and stays executable after `exp apply`; a plain file stays 100644."""
    tool = write(exp_repo / "tool.sh", "#!/bin/sh\necho v1\n")
    tool.chmod(0o755)
    git(exp_repo, "add", "tool.sh")
    git(exp_repo, "commit", "-qm", "a tool")
    tool.write_text("#!/bin/sh\necho v2\n")
    new = write(exp_repo / "scripts" / "new.sh", "#!/bin/sh\necho new\n")
    new.chmod(0o755)
    write(exp_repo / "notes.txt", "plain\n")
    himo = Himo(exp_repo)
    himo("exp", "run", "-S", "train.alpha=3", "-n", "modes")
    himo("exp", "branch", "modes", "try-modes")
    listed = git(exp_repo, "ls-tree", "-r", "try-modes", "--", "tool.sh", "scripts/new.sh", "notes.txt",
                 "params.yaml")
    modes = {line.split("\t")[1]: line.split()[0] for line in listed.splitlines()}
    assert modes == {"tool.sh": "100755", "scripts/new.sh": "100755", "notes.txt": "100644",
                     "params.yaml": "100644"}, listed
    git(exp_repo, "checkout", "-q", "--", "tool.sh")
    new.unlink()
    himo("exp", "apply", "modes")
    assert new.read_text() == "#!/bin/sh\necho new\n" and tool.read_text() == "#!/bin/sh\necho v2\n"
    assert os.access(new, os.X_OK) and os.access(tool, os.X_OK)
    assert not os.access(exp_repo / "notes.txt", os.X_OK)


def test_show_sort_only_changed_and_diff(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    himo("exp", "run", "-S", "train.alpha=1,3,2", "-n", "s")
    rows = json.loads(himo("exp", "show", "--json", "--sort-by", "score", "--sort-order", "desc").stdout)
    assert rows[0]["kind"] == "commit" and rows[0]["metrics"]["metrics.json:score"] == 2  # the baseline
    assert [r["name"] for r in rows[1:]] == ["s-2", "s-3", "s-1"]
    table = himo("exp", "show", "--only-changed").stdout
    assert "train.alpha" in table and "train.depth" not in table
    diff = json.loads(himo("exp", "diff", "s-1", "s-2", "--json").stdout)
    assert {(d["column"], d["old"], d["new"]) for d in diff} == {
        ("train.alpha", 1, 3), ("metrics.json:score", 2, 6)}
    unknown = himo("exp", "show", "--sort-by", "nope", ok=False)
    assert unknown.returncode == 2 and "no such metric or param" in unknown.stderr


def test_gc_keeps_experiment_outputs_until_removed(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    himo("exp", "run", "-S", "train.alpha=9", "-n", "nine")
    record = json.loads((exp_repo / ".himo" / "exps" / "nine.json").read_text())
    model = record["outputs"]["model"]
    cache = exp_repo / ".himo" / "cache"
    himo("gc", "-f")
    assert (cache / model[:2] / model[2:]).exists()
    himo("exp", "remove", "nine")
    himo("gc", "-f")
    assert not (cache / model[:2] / model[2:]).exists()


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink"])
def test_each_cache_type(exp_repo: Path, link: str) -> None:
    himo = Himo(exp_repo)
    himo("config", "cache.type", link)
    himo("exp", "run", "-S", "train.depth=3", "-n", "d3")
    himo("exp", "apply", "d3")
    assert (exp_repo / "model" / "weights.txt").read_text() == "1 3\n"
    assert "up to date" in himo("repro").stdout
    himo("fsck")


HOSTILE = [
    ("train.alpah=1", "params.yaml has no key 'train.alpah'"),
    ("nope.yaml:a=1", "the params file nope.yaml does not exist"),
    ("../up.yaml:a=1", "the params file '../up.yaml' goes up with '..'"),
    ("/etc/passwd:a=1", "the params file '/etc/passwd' is absolute"),
    ("train.alpha", "no '=' between the key and the value"),
    ("train..alpha=1", "'train..alpha' is not a dotted key"),
    ("train.alpha.x=1", "train.alpha in params.yaml is not a mapping"),
    ("train.alpha=!!python/object/apply:os.system ['touch pwned']", "is not YAML"),
]


def test_hostile_overrides_are_refused(exp_repo: Path) -> None:
    before = snapshot(exp_repo)
    for value, message in HOSTILE:
        proc = Himo(exp_repo)("exp", "run", "-S", value, ok=False)
        assert proc.returncode == 1 and message in proc.stderr, (value, proc.stderr)
    assert snapshot(exp_repo) == before and not (exp_repo / "pwned").exists()
    assert not (exp_repo / ".himo" / "exps").exists()


def test_bad_names_and_executor(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    assert "is not allowed" in himo("exp", "run", "-n", "../x", ok=False).stderr
    himo("exp", "run", "-n", "once")
    assert "exists already" in himo("exp", "run", "-n", "once", ok=False).stderr
    # no remote for the workers: one error before any stage (tests/pipeline/test_dask.py runs them)
    assert "--executor dask needs a default remote" in himo("exp", "run", "--executor", "dask", "-S",
                                                            "train.depth=9", ok=False).stderr
    assert "not a valid branch name" in himo("exp", "branch", "once", "a..b", ok=False).stderr


def test_overrides_sweep_and_add() -> None:
    assert ov.split_sweep('1, [2,3], "a,b", {x: 1, y: 2}') == ["1", "[2,3]", '"a,b"', "{x: 1, y: 2}"]
    points = ov.sweep(["a=1,2", "b=x", "a=3"])  # a later override of a key wins
    assert [[o.text for o in p] for p in points] == [["params.yaml:a=3", "params.yaml:b=x"]] * 2
    added = ov.parse("+conf.yaml:new.key=on")[0]
    assert (added.file, added.key, added.value, added.add) == ("conf.yaml", "new.key", True, True)


@pytest.mark.postgres
def test_show_reads_a_team_store(exp_repo: Path, pg_url: str) -> None:
    himo = Himo(exp_repo)
    himo("config", "--local", "meta.url", pg_url)
    himo("exp", "run", "-S", "train.alpha=4", "-n", "team")
    himo("config", "--local", "--unset", "meta.url")
    assert "team" not in himo("exp", "show").stdout  # the local SQLite store has not seen it
    rows = json.loads(himo("exp", "show", "--json", "--meta-url", pg_url).stdout)
    assert next(r for r in rows if r["name"] == "team")["metrics"]["metrics.json:score"] == 8


def test_a_damaged_record_writes_nothing_outside(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    himo("exp", "run", "-S", "train.alpha=2", "-n", "two")
    path = exp_repo / ".himo" / "exps" / "two.json"
    record = json.loads(path.read_text())
    record["files"]["../escaped.txt"] = "pwned"
    path.write_text(json.dumps(record))
    before = snapshot(exp_repo)
    for args in (("apply", "two"), ("branch", "two", "b")):
        proc = himo("exp", *args, ok=False)
        assert proc.returncode == 2 and "the path '../escaped.txt' goes up with '..'" in proc.stderr
    assert snapshot(exp_repo) == before and not (exp_repo.parent / "escaped.txt").exists()


def test_sigterm_stops_every_running_experiment_and_keeps_it_queued(exp_repo: Path, tmp_path: Path) -> None:
    himo = Himo(exp_repo)
    gate, env = gated(tmp_path)
    himo("exp", "run", "-S", "train.alpha=1,2", "-S", "train.hold=1", "-n", "t", "--queue")
    runner = subprocess.Popen([sys.executable, "-m", "himo", "queue", "start", "-j", "2"], cwd=exp_repo,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not ((gate / "held").exists() and (exp_repo / ".himo" / "exps" / "t-2.json").exists()):
        assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
        time.sleep(0.05)
    runner.terminate()
    assert runner.wait() == 130
    queued = json.loads(himo("queue", "status", "--json").stdout)
    assert [(q["name"], q["state"]) for q in queued] == [("t-1", "queued")]
    assert not (exp_repo / ".himo" / "exps" / "t-1.json").exists()
