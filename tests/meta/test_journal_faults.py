"""The journal never wedges and never loses a run: NaN/infinite values are delivered (PostgreSQL's
JSON refuses the numbers), bad lines go to quarantine while the rest is delivered, and a journal
file is locked from the moment it has a name."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from himo.meta.deliver import deliver
from himo.meta.journal import JournalWriter
from himo.meta.schema import Execution, Run
from himo.meta.store import Store
from tests.conftest import Himo, git, write

RUN = "11111111-1111-1111-1111-111111111111"
EXEC = "22222222-2222-2222-2222-222222222222"
AT = "2026-12-03T09:00:00+00:00"
JOURNAL = "20261203T090000000000-1-abcdef01.jsonl"


def line(**record: object) -> str:
    return json.dumps({"v": 1, "at": AT, **record}) + "\n"


GOOD_START = line(type="run_start", run_id=RUN, command="repro", args=[], started_at=AT)
GOOD_END = line(type="run_end", run_id=RUN, status="succeeded", ended_at="2026-12-03T09:00:05+00:00")


def store_rows(url: str) -> tuple[dict[str, str], dict[str, dict]]:
    """Every run's status and every execution's params, read straight from the store."""
    store = Store(url).open()
    try:
        with store.session() as session:
            runs = {r.id: r.status for r in session.scalars(sa.select(Run))}
            params = {e.id: e.params for e in session.scalars(sa.select(Execution))}
    finally:
        store.close()
    return runs, params


def journal_files(repo: Path) -> list[str]:
    folder = repo / ".himo" / "journal"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.jsonl*"))


@pytest.fixture
def stored(repo: Path, himo: Himo, meta_url: str) -> str:
    himo("config", "--local", "meta.url", meta_url)
    return meta_url


def test_nan_and_infinite_params_are_delivered_and_later_runs_too(repo: Path, himo: Himo, stored: str):
    write(repo / "params.yaml", "lr: .nan\nhigh: .inf\nlow: -.inf\n")
    write(repo / "himo.yaml", "stages:\n  s:\n    cmd: echo hi > out.txt\n    params: [lr, high, low]\n"
                              "    outs: [out.txt]\n")
    git(repo, "add", "-A")
    himo("repro")
    write(repo / "params.yaml", "lr: 0.5\nhigh: .inf\nlow: -.inf\n")
    himo("repro")
    assert journal_files(repo) == []
    runs, params = store_rows(stored)
    assert list(runs.values()) == ["succeeded", "succeeded"]
    assert sorted(params.values(), key=lambda p: str(p["params.yaml"]["lr"])) == [
        {"params.yaml": {"high": "Infinity", "low": "-Infinity", "lr": 0.5}},
        {"params.yaml": {"high": "Infinity", "low": "-Infinity", "lr": "NaN"}},
    ]
    shown = himo("runs").stdout
    assert "+lr=NaN" in shown and "lr NaN->0.5" in shown, shown


def test_a_journal_with_nan_numbers_from_an_older_himo_is_delivered(repo: Path, himo: Himo, stored: str):
    exec_start = line(type="exec_start", exec_id=EXEC, run_id=RUN, stage="s", cmd="c", started_at=AT,
                      params={"p": {"lr": "X", "hi": "Y", "lo": "Z"}})
    exec_start = exec_start.replace('"X"', "NaN").replace('"Y"', "Infinity").replace('"Z"', "-Infinity")
    write(repo / ".himo" / "journal" / JOURNAL, GOOD_START + exec_start + GOOD_END)
    out = himo("meta", "sync").stdout
    assert out.startswith("Delivered 4 records from 1 journal file(s) to "), out  # + its exec, aborted
    assert store_rows(stored)[1] == {EXEC: {"p": {"lr": "NaN", "hi": "Infinity", "lo": "-Infinity"}}}
    assert journal_files(repo) == []


BAD_LINES = [
    line(type="exec_start", run_id=RUN, stage="s"),  # no exec_id: the applier's KeyError before
    "garbage\n",
    line(type="run_end", run_id=RUN, status="exploded"),
    line(type="exec_end", exec_id=EXEC, status="failed", inputs=["not-a-ref"]),
    line(type="exec_end", exec_id=EXEC, status="failed", exit_code=10**30),  # no column holds it
]


def test_bad_lines_are_quarantined_and_the_rest_delivered(repo: Path, himo: Himo, stored: str):
    text = GOOD_START + "".join(BAD_LINES) + GOOD_END + '{"v":1,"type":"run_st'  # and a torn last write
    journal = write(repo / ".himo" / "journal" / JOURNAL, text)
    proc = himo("runs")
    assert proc.returncode == 0
    assert proc.stdout.startswith("11111111  2026-12-03 09:00:00  repro  succeeded  5.0s"), proc.stdout
    where = f".himo/journal/quarantine/{JOURNAL}"
    assert proc.stderr.splitlines() == [
        "Warning: 6 journal line(s) could not be delivered (line 2: exec_start without exec_id and 5 more);"
        f" the journal is kept in {where}, every reason in {where}.errors"]
    assert journal_files(repo) == [f"quarantine/{JOURNAL}", f"quarantine/{JOURNAL}.errors"]
    assert (repo / where).read_text() == text  # every byte kept
    errors = (repo / f"{where}.errors").read_text().splitlines()
    assert errors[:4] == [
        "line 2: exec_start without exec_id",
        "line 3: not JSON (JSONDecodeError)",
        "line 4: run_end: unknown status 'exploded'",
        "line 5: exec_end: an input or output that is not an object: 'not-a-ref'",
    ]
    assert errors[4].startswith("line 6: exec_end: refused by the store: "), errors
    assert errors[5] == "line 8: unfinished last line (its writer stopped mid-write)"
    assert not journal.exists()

    sync = himo("meta", "sync")
    assert sync.stdout.startswith("Delivered 0 records from 0 journal file(s) to ")
    assert sync.stderr == ("Warning: 1 journal(s) quarantined earlier are in .himo/journal/quarantine/ "
                           "(reasons in their .errors files); fixed, moved back to .himo/journal/ they "
                           "are delivered by the next sync\n")


def test_meta_sync_reports_what_it_quarantines(repo: Path, himo: Himo, stored: str):
    write(repo / ".himo" / "journal" / JOURNAL, GOOD_START + "garbage\n" + GOOD_END)
    sync = himo("meta", "sync")
    where = f".himo/journal/quarantine/{JOURNAL}"
    assert sync.stdout.startswith("Delivered 2 records from 1 journal file(s) to ")
    assert sync.stderr == ("Warning: 1 journal line(s) could not be delivered (line 2: not JSON "
                           f"(JSONDecodeError)); the journal is kept in {where}, every reason in "
                           f"{where}.errors\n")
    assert store_rows(stored)[0] == {RUN: "succeeded"}


def test_a_live_journal_keeps_its_bad_line_until_its_writer_is_done(tmp_path: Path):
    folder, url = tmp_path / "journal", f"sqlite:///{tmp_path / 'meta.db'}"
    writer = JournalWriter(folder)
    writer.write({"type": "run_start", "run_id": RUN, "command": "repro", "args": []})
    with open(writer.path, "a") as f:  # a line no himo writes, appended while the writer lives
        f.write("garbage\n")
    store = Store(url).open()
    try:
        live = deliver(store, folder)
        assert (live.files, live.records, live.live, live.quarantined) == (1, 1, 1, [])
        assert writer.path.exists()
        writer.write({"type": "run_end", "run_id": RUN, "status": "succeeded"})
        writer.close()
        done = deliver(store, folder)
    finally:
        store.close()
    assert [(q.path, [(r.line, r.reason) for r in q.rejected]) for q in done.quarantined] == [
        (folder / "quarantine" / writer.path.name, [(2, "not JSON (JSONDecodeError)")])]
    assert store_rows(url)[0] == {RUN: "succeeded"}


def test_a_journal_is_locked_before_any_delivery_can_take_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    """A delivery that runs between the file's creation and its lock must not remove it (the run
    would be written to a file without a name, and lost)."""
    folder, url = tmp_path / "journal", f"sqlite:///{tmp_path / 'meta.db'}"
    folder.mkdir()
    store = Store(url).open()
    real_flock = fcntl.flock
    raced = threading.Event()

    def flock_after_a_delivery(fd: int, operation: int) -> None:
        if operation == fcntl.LOCK_EX and not raced.is_set():  # the writer's blocking lock
            raced.set()
            deliver(store, folder)  # the widest window: a whole delivery before the lock
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_a_delivery)
    writer = JournalWriter(folder)
    monkeypatch.setattr(fcntl, "flock", real_flock)
    assert raced.is_set()
    writer.write({"type": "run_start", "run_id": RUN, "command": "add", "args": []})
    writer.write({"type": "run_end", "run_id": RUN, "status": "succeeded"})
    writer.close()
    try:
        deliver(store, folder)
    finally:
        store.close()
    assert store_rows(url)[0] == {RUN: "succeeded"}
    assert os.listdir(folder) == []  # delivered and removed: nothing left behind


# -- fuzzing: whatever a journal line holds, delivery goes on ---------------------------------------

VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                        max_size=2))
FIELDS = st.sampled_from(["run_id", "exec_id", "status", "at", "started_at", "ended_at", "command", "args",
                          "params", "inputs", "outputs", "exit_code", "stage", "cmd", "url", "digest",
                          "location", "size", "dirty", "metrics", "log"])
RECORDS = st.builds(lambda kind, fields, base: {**base, "type": kind, **fields},
                    st.sampled_from(["run_start", "run_end", "exec_start", "exec_end", "location", "x"]),
                    st.dictionaries(FIELDS, VALUES, max_size=4),
                    st.just({"v": 1, "at": AT, "run_id": RUN, "exec_id": EXEC, "status": "succeeded",
                             "location": "remote", "url": "s3://b/p", "digest": "ab" * 32}))


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("journal-fuzz")
    store = Store(f"sqlite:///{folder / 'meta.db'}").open()
    yield folder, store
    store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(RECORDS, min_size=1, max_size=5), st.binary(max_size=40))
def test_any_journal_is_delivered_or_quarantined(fuzz_store, records: list[dict], noise: bytes):
    root, store = fuzz_store
    folder = root / "journal"
    folder.mkdir(exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records).encode() + noise + b"\n"
    (folder / JOURNAL).write_bytes(text)
    done = deliver(store, folder)
    assert not (folder / JOURNAL).exists()
    for moved in done.quarantined:
        assert moved.path.read_bytes() == text
        moved.path.unlink()


def test_values_the_store_refuses_are_quarantined_one_by_one(tmp_path: Path, meta_url: str):
    """What only the database finds wrong (a lone surrogate, NUL in text, a run that does not exist,
    a URL longer than its column) costs the record, never its journal or the ones after it."""
    folder = tmp_path / "journal"
    records = [
        {"type": "run_start", "run_id": RUN, "command": "repro", "args": []},
        {"type": "exec_start", "exec_id": "e1", "run_id": RUN, "stage": "\ud800"},
        {"type": "exec_start", "exec_id": "e2", "run_id": RUN, "stage": "a\u0000b"},
        {"type": "exec_start", "exec_id": "e3", "run_id": "no-such-run", "stage": "s"},
        {"type": "location", "run_id": RUN, "location": "remote", "url": "x" * 2000, "digest": "ab" * 32},
        {"type": "run_end", "run_id": RUN, "status": "succeeded"},
    ]
    write(folder / JOURNAL, "".join(json.dumps({"v": 1, "at": AT, **r}) + "\n" for r in records))
    write(folder / "20261203T090001000000-1-abcdef02.jsonl", GOOD_START.replace(RUN, EXEC) +
          GOOD_END.replace(RUN, EXEC))
    store = Store(meta_url).open()
    try:
        done = deliver(store, folder)
    finally:
        store.close()
    rejected = {r.line: r.reason.split(":")[0] for q in done.quarantined for r in q.rejected}
    # SQLite keeps NUL in text and ignores declared lengths; PostgreSQL refuses both
    refused = {2, 4} if meta_url.startswith("sqlite") else {2, 3, 4, 5}
    assert rejected == {line: records[line - 1]["type"] for line in refused}
    assert store_rows(meta_url)[0] == {RUN: "succeeded", EXEC: "succeeded"}
    assert [p.name for p in folder.iterdir()] == ["quarantine"]


def test_a_background_delivery_s_quarantine_is_told_by_the_next_command_once(repo: Path, himo: Himo):
    """The default delivery runs detached (its stderr goes nowhere): the next command tells."""
    journal = write(repo / ".himo" / "journal" / JOURNAL, GOOD_START + "garbage\n" + GOOD_END)
    write(repo / "a.txt", "a\n")
    himo("add", "a.txt", env={**os.environ, "HIMO_META_DELIVER": "background"})
    deadline = time.monotonic() + 30
    while list((repo / ".himo" / "journal").glob("*.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the detached delivery of both journals to finish
    assert not journal.exists()
    write(repo / "b.txt", "b\n")
    where = f".himo/journal/quarantine/{JOURNAL}"
    told = himo("add", "b.txt").stderr
    assert told == ("Warning: 1 journal line(s) could not be delivered (line 2: not JSON (JSONDecodeError)); "
                    f"the journal is kept in {where}, every reason in {where}.errors\n")
    write(repo / "c.txt", "c\n")
    assert himo("add", "c.txt").stderr == ""
