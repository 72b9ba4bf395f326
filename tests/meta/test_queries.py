"""`himo runs` / `himo runs show` and their query layer, on SQLite and on the real PostgreSQL.

Stores are filled by the real Recorder writing journals; the journal's times are then set to a
chosen clock (so ordering and --since/--until are exact) before the real delivery applies them.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from himo.api.history import parse_when, run_show, runs
from himo.errors import MetaError, UsageError
from himo.meta import queries
from himo.meta.apply import Applier
from himo.meta.deliver import deliver
from himo.meta.recorder import Context, Recorder
from himo.meta.statements import on
from himo.meta.store import Store
from himo.workspace.repo import Repo
from tests.conftest import Himo, write

REPO = "git@example.com:team/ml.git"
T0 = datetime(2024, 5, 1, 12, 0, 0)


def ref(path: str, digest: str, kind: str, size: int = 100) -> dict[str, Any]:
    return {"path": path, "digest": digest, "size": size, "kind": kind}


@dataclass
class Step:
    """One execution to record."""

    stage: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    status: str = "succeeded"
    seconds: float = 1.0
    exit_code: int | None = 0
    log: str | None = None


class History:
    """Records runs through the real Recorder into `folder` at chosen times; `deliver` applies them."""

    def __init__(self, folder: Path, repo: str = REPO) -> None:
        self.folder = folder
        self.repo = repo

    def run(self, at: datetime, steps: list[Step], command: str = "repro", status: str = "",
            commit: str = "c" * 40, trigger: str = "manual") -> tuple[str, list[str]]:
        context = Context(repo=self.repo, git_commit=commit, branch="main", user="ana", host="box",
                          himo_version="0.1", trigger=trigger)
        recorder = Recorder(self.folder, context)
        recorder.start(command, [s.stage for s in steps])
        journal = recorder.journal
        ids = []
        for s in steps:
            exec_id = recorder.start_execution(s.stage, [f"python {s.stage}.py"], s.params, ["forced"],
                                               {f"{s.stage}.py": "9" * 64})
            recorder.end_execution(exec_id, s.status, s.inputs, s.outputs, s.exit_code, s.log)
            ids.append(exec_id)
        failed = any(s.status == "failed" for s in steps)
        recorder.finish(status or ("failed" if failed else "succeeded"))
        assert journal is not None
        self._retime(journal, at, steps)
        return recorder.run_id, ids

    @staticmethod
    def _retime(journal: Path, at: datetime, steps: list[Step]) -> None:
        """Give the records times from a clock starting at `at` (UTC): each step takes its seconds."""
        clock = at
        seconds = iter(s.seconds for s in steps)
        lines = []
        for line in journal.read_text().splitlines():
            record = json.loads(line)
            if record["type"] == "exec_end":
                clock += timedelta(seconds=next(seconds))
            stamp = clock.replace(tzinfo=UTC).isoformat()
            record["at"] = stamp
            for key in ("started_at", "ended_at"):
                if key in record:
                    record[key] = stamp
            lines.append(json.dumps(record))
        journal.write_text("\n".join(lines) + "\n")

    def deliver(self, url: str) -> Store:
        store = Store(url).open()
        deliver(store, self.folder)
        return store


def pipeline(history: History, at: datetime, lr: float, model: str = "d1") -> tuple[str, list[str]]:
    return history.run(at, [
        Step("prepare", {"params.yaml": {"prepare.split": 0.2}},
             [ref("data/raw.csv", "a" * 64, "dataset")], [ref("data/prepared.csv", "b" * 64, "dataset")]),
        Step("train", {"params.yaml": {"train.lr": lr, "train.epochs": 3}},
             [ref("data/prepared.csv", "b" * 64, "dataset"), ref("train.py", "e" * 64, "code")],
             [ref("model.pkl", model.ljust(64, "0"), "model")], seconds=5),
    ])


@pytest.fixture
def store(meta_url: str, tmp_path: Path) -> tuple[Store, dict[str, Any]]:
    """Four runs: two pipelines (lr 0.1 then 0.2), a failed train, a push with no executions."""
    history = History(tmp_path / "journal")
    ids: dict[str, Any] = {}
    ids["first"] = pipeline(history, T0, 0.1)
    ids["second"] = pipeline(history, T0 + timedelta(hours=1), 0.2, model="f2")
    ids["failed"] = history.run(T0 + timedelta(hours=2), [
        Step("train", {"params.yaml": {"train.lr": 0.3, "train.epochs": 3}}, status="failed", exit_code=1)])
    ids["push"] = history.run(T0 + timedelta(hours=3), [], command="push", trigger="ci")
    return history.deliver(meta_url), ids


def test_runs_newest_first_with_executions_durations_and_param_changes(store) -> None:
    db, ids = store
    with db.session() as s:
        found = queries.list_runs(on(s))
    assert [r.id for r in found] == [ids[k][0] for k in ("push", "failed", "second", "first")]
    push, failed, second, first = found
    assert (push.command, push.trigger, push.status, push.executions) == ("push", "ci", "succeeded", [])
    assert [e.stage for e in second.executions] == ["prepare", "train"]  # in start order
    assert [e.seconds for e in second.executions] == [1.0, 5.0] and second.seconds == 6.0
    assert first.executions[1].changes == [  # the first execution of a stage: every param is new
        queries.ParamChange("train.epochs", None, 3, "added"),
        queries.ParamChange("train.lr", None, 0.1, "added")]
    assert second.executions[0].changes == []  # prepare: same params as before
    assert second.executions[1].changes == [queries.ParamChange("train.lr", 0.1, 0.2, "changed")]
    assert second.executions[1].previous_id == ids["first"][1][1]
    assert failed.status == "failed" and failed.executions[0].exit_code == 1
    assert failed.executions[0].changes == [queries.ParamChange("train.lr", 0.2, 0.3, "changed")]


def test_runs_filters_and_pagination_happen_in_the_query(store) -> None:
    db, ids = store
    with db.session() as s:
        trains = queries.list_runs(on(s), stage="prepare")
        assert [r.id for r in trains] == [ids["second"][0], ids["first"][0]]
        assert all([e.stage for e in r.executions] == ["prepare"] for r in trains)
        assert [r.id for r in queries.list_runs(on(s), status="failed")] == [ids["failed"][0]]
        assert [r.id for r in queries.list_runs(on(s), stage="train", status="failed")] == [ids["failed"][0]]
        window = queries.list_runs(on(s), since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=2))
        assert [r.id for r in window] == [ids["second"][0]]
        page = queries.list_runs(on(s), limit=2, offset=1)
        assert [r.id for r in page] == [ids["failed"][0], ids["second"][0]]
        assert queries.list_runs(on(s), status="cached") == []
        assert queries.stage_known(on(s), "train") and not queries.stage_known(on(s), "evaluate")
        assert queries.stage_names(on(s)) == ["prepare", "train"]


def test_previous_execution_is_of_the_same_stage_in_the_same_repository(meta_url: str,
                                                                         tmp_path: Path) -> None:
    ours, theirs = History(tmp_path / "j", REPO), History(tmp_path / "j", "git@example.com:other/repo.git")
    pipeline(ours, T0, 0.1)
    theirs.run(T0 + timedelta(minutes=10), [Step("train", {"params.yaml": {"train.lr": 9.0}})])
    pipeline(ours, T0 + timedelta(minutes=20), 0.1)
    with ours.deliver(meta_url).session() as s:
        latest = queries.list_runs(on(s), limit=1)[0]
    assert latest.executions[1].changes == []  # compared with our previous train, not theirs


def test_run_detail_has_inputs_outputs_git_and_log(store) -> None:
    db, ids = store
    run_id, (_, train_id) = ids["second"]
    with db.session() as s:
        assert queries.find_ids(on(s), run_id[:6]) == ([run_id], [])
        assert queries.find_ids(on(s), train_id) == ([], [(train_id, run_id)])
        detail = queries.run_detail(on(s), run_id)
        only = queries.run_detail(on(s), run_id, train_id)
        assert queries.run_detail(on(s), "0" * 36) is None
    assert detail is not None and only is not None
    assert [e.summary.stage for e in detail.executions] == ["prepare", "train"]
    train = detail.executions[1]
    assert [(i.path, i.kind) for i in train.inputs] == [("data/prepared.csv", "dataset"),
                                                         ("train.py", "code")]
    assert [(o.path, o.digest, o.kind) for o in train.outputs] == [
        ("model.pkl", "f2".ljust(64, "0"), "model")]
    assert (train.git_commit, train.branch, train.cmd, train.code_digests) == (
        "c" * 40, "main", "python train.py", {"train.py": "9" * 64})
    assert [e.summary.id for e in only.executions] == [train_id] and only.run.id == run_id


def test_artifacts_by_digest_prefix(store) -> None:
    db, _ = store
    with db.session() as s:
        assert queries.find_artifacts(on(s), "a" * 64) == [("a" * 64, "dataset", "data/raw.csv")]
        assert queries.find_artifacts(on(s), "B") == [("b" * 64, "dataset", "data/prepared.csv")]
        assert [d for d, _, _ in queries.find_artifacts(on(s), "f")] == ["f2".ljust(64, "0")]
        assert queries.find_artifacts(on(s), "0123") == []
    with db.session(write=True) as s:  # a second digest starting with "f"
        Applier(s).artifact(ref("other.pkl", "f3".ljust(64, "0"), "model"), T0)
    with db.session() as s:
        assert {d[:2] for d, _, _ in queries.find_artifacts(on(s), "f")} == {"f2", "f3"}


# -- the API and the CLI, on a real repository --------------------------------------------


@pytest.fixture
def project(make_repo, meta_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    """A real himo repository whose store (SQLite or PostgreSQL) holds the story of `store`,
    waiting in the repository's journal: every query delivers it first."""
    root = make_repo()
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    history = History(root / ".himo" / "journal")
    write(root / ".himo" / "logs" / "train" / "1.log", "".join(f"epoch {i}\n" for i in range(30)))
    ids = {"first": pipeline(history, T0, 0.1),
           "second": pipeline(history, T0 + timedelta(hours=1), 0.2, "f2")}
    ids["logged"] = history.run(T0 + timedelta(hours=2), [
        Step("train", {"params.yaml": {"train.lr": 0.2, "train.epochs": 4}}, status="failed", exit_code=2,
             log=".himo/logs/train/1.log")])
    return root, ids


def test_api_runs_delivers_the_journal_first_and_validates_its_arguments(project) -> None:
    root, ids = project
    repo = Repo(root)
    assert [r.id for r in runs(repo, since="2024-05-01T13:30Z")] == [ids["logged"][0]]
    assert [r.id for r in runs(repo, stage="prepare", limit=1)] == [ids["second"][0]]
    with pytest.raises(UsageError, match=r"^--since: 'yesterday' is not a time$"):
        runs(repo, since="yesterday")
    with pytest.raises(UsageError, match=r"^--status: unknown status 'done'$"):
        runs(repo, status="done")
    with pytest.raises(UsageError, match=r"^--stage: no execution of stage 'evaluate' is recorded$") as info:
        runs(repo, stage="evaluate")
    assert info.value.hint == "recorded stages: prepare, train"


def test_relative_and_local_times() -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    assert abs(parse_when("2h") - (now - timedelta(hours=2))) < timedelta(seconds=5)
    assert abs(parse_when("7d", "--until") - (now - timedelta(days=7))) < timedelta(seconds=5)
    assert parse_when("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, 0)
    local = datetime(2024, 5, 1).astimezone().utcoffset()
    assert parse_when("2024-05-01") == datetime(2024, 5, 1) - local
    with pytest.raises(UsageError, match=r"^--until: '3 parsecs' is not a time$"):
        parse_when("3 parsecs", "--until")


def test_api_run_show_by_run_or_execution_prefix_with_log_tail(project) -> None:
    root, ids = project
    run_id, (exec_id,) = ids["logged"]
    detail = run_show(Repo(root), exec_id[:10])
    assert detail.run.id == run_id and len(detail.executions) == 1
    assert detail.executions[0].log_tail == [f"epoch {i}" for i in range(10, 30)]
    assert run_show(Repo(root), ids["second"][0]).executions[0].log_tail == []  # no log recorded
    with pytest.raises(MetaError, match=r"^no run or execution id starts with 'abcdef0'$"):
        run_show(Repo(root), "abcdef0")


def test_api_run_show_ambiguous_prefix_lists_the_candidates(project, monkeypatch) -> None:
    root, _ = project
    chosen = (uuid.UUID(f"abcd0000-0000-4000-8000-{i:012d}") for i in itertools.count(1))
    monkeypatch.setattr(uuid, "uuid4", lambda: next(chosen))  # ids that share a prefix, for sure
    history = History(root / ".himo" / "journal")
    every = [i for n in range(2) for i in (lambda r: [r[0], *r[1]])(
        history.run(T0 + timedelta(days=1, hours=n), [Step("train")]))]
    with pytest.raises(MetaError) as info:
        run_show(Repo(root), "abcd0000")
    assert info.value.message.startswith("id prefix 'abcd0000' is ambiguous: it starts ")
    assert all(i in info.value.message for i in every)


def test_cli_runs_table_and_json(project) -> None:
    root, ids = project
    himo = Himo(root)
    out = himo("runs").stdout.splitlines()
    assert out[0].startswith(ids["logged"][0][:8]) and " repro " in out[0] and "failed" in out[0]
    assert re.match(r"  train\s+failed\s+\d+\.\ds  params: train\.epochs 3->4$", out[1])
    assert any(re.match(r"  train\s+succeeded\s+5\.0s  params: train\.lr 0\.1->0\.2$", line) for line in out)
    doc = json.loads(himo("runs", "--stage", "train", "--limit", "2", "--json").stdout)
    assert [r["id"] for r in doc] == [ids["logged"][0], ids["second"][0]]
    assert doc[1]["executions"][0]["changes"] == [
        {"key": "train.lr", "before": 0.1, "after": 0.2, "change": "changed"}]
    assert doc[1]["started_at"] == "2024-05-01T13:00:00Z"
    assert himo("runs", "--since", "2030-01-01").stdout == "No runs recorded match.\n"


def test_cli_runs_bad_options(project) -> None:
    himo = Himo(project[0])
    bad = himo("runs", "--since", "last tuesday", ok=False)
    assert (bad.returncode, bad.stderr.splitlines()[0]) == (2, "Error: --since: 'last tuesday' is not a time")
    bad = himo("runs", "--status", "done", ok=False)
    assert bad.returncode == 2 and "'done' is not one of 'running', 'succeeded'" in bad.stderr
    bad = himo("runs", "--stage", "evaluate", ok=False)
    assert bad.stderr == ("Error: --stage: no execution of stage 'evaluate' is recorded\n"
                          "Hint: recorded stages: prepare, train\n")


def test_cli_runs_show(project) -> None:
    root, ids = project
    himo = Himo(root)
    run_id, (_, train_id) = ids["second"]
    text = himo("runs", "show", run_id[:8]).stdout
    assert text.startswith(f"Run {run_id}  repro prepare train\n")
    assert f"Execution {train_id}  stage train" in text
    assert re.search(r"inputs    dataset\s+bbbbbbbbbbbb  data/prepared.csv", text)
    assert re.search(r"outputs   model\s+f20000000000  model.pkl", text)
    assert "changed   train.lr 0.1->0.2" in text and "git       git cccccccc (main)" in text
    doc = json.loads(himo("runs", "show", ids["logged"][1][0], "--json").stdout)
    assert doc["executions"][0]["log_tail"][-1] == "epoch 29"
    assert doc["executions"][0]["summary"]["exit_code"] == 2
    missing = himo("runs", "show", "fff0fff", ok=False)
    assert missing.returncode == 1 and missing.stderr.startswith("Error: no run or execution id starts with")


def test_a_bad_or_unreachable_store_names_where_its_url_came_from(make_repo, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    himo = Himo(make_repo())
    monkeypatch.setenv("HIMO_META_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    proc = himo("runs", ok=False)
    assert proc.returncode == 1 and proc.stderr.startswith(
        "Error: cannot reach the metadata store postgresql+psycopg://postgres@127.0.0.1:9/none: ")
    assert proc.stderr.splitlines()[1] == ("Hint: start the database server or fix HIMO_META_URL; "
                                           "records wait in .himo/journal/")
    monkeypatch.setenv("HIMO_META_URL", "nonsense")
    proc = himo("runs", ok=False)
    assert proc.stderr.splitlines()[0] == "Error: HIMO_META_URL 'nonsense' is not a database URL"
    monkeypatch.delenv("HIMO_META_URL")
    himo("config", "--local", "meta.url", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    proc = himo("runs", ok=False)
    assert proc.stderr.splitlines()[1] == ("Hint: start the database server or fix meta.url; "
                                           "records wait in .himo/journal/")
