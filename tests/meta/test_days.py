"""The per-day summary of executions (himo.meta.days) that the runs page's grid reads, on SQLite
and the real PostgreSQL: it says what counting the executions says, on a generated store and after
every kind of write (re-delivery, status changes, scheduled runs), for a store migrated from the
schema before it, after a writer killed mid-transaction, and with two writers of one day at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from himo.meta import browse, days, migrate
from himo.meta.apply import Applier, apply_records
from himo.meta.deliver import deliver
from himo.meta.schema import Execution, ExecutionDay
from himo.meta.store import Store

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import gen_meta_store

TODAY = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
Rows = set[tuple[str, str, str, int, datetime]]


def summary(store: Store) -> Rows:
    with store.session() as s:
        return {(str(r.day), r.stage, r.status, r.n, r.last)
                for r in s.execute(sa.select(ExecutionDay).where(ExecutionDay.n > 0)).scalars()}


def counted(store: Store) -> Rows:
    """The summary's meaning: the executions themselves, grouped."""
    with store.session() as s:
        return {(str(r.day)[:10], r.stage, r.status, r.n, r.last) for r in s.execute(days.from_executions(s))}


def grids(store: Store) -> tuple[Any, Any]:
    with store.session() as s:
        return browse.grid(s, 30, TODAY.date()), browse.grid(s, 30, TODAY.date(), summary=False)


def at(when: datetime) -> str:
    return when.isoformat() + "+00:00"


def run_records(stage: str, started: datetime, statuses: list[str], logical: datetime | None = None,
                run_id: str | None = None) -> list[dict[str, Any]]:
    """A run of `stage` with an execution per status (each ending so), a minute apart."""
    run_id = run_id or str(uuid.uuid4())
    start: dict[str, Any] = {"type": "run_start", "run_id": run_id, "at": at(started), "command": "repro",
                             "args": [], "repo": "r"}
    if logical is not None:
        start |= {"trigger": "schedule", "schedule": "daily", "logical_date": at(logical), "attempt": 1}
    records = [start]
    for i, status in enumerate(statuses):
        exec_id, when = str(uuid.uuid4()), started + timedelta(minutes=i)
        records += [{"type": "exec_start", "exec_id": exec_id, "run_id": run_id, "stage": stage,
                     "at": at(when), "cmd": "true"},
                    {"type": "exec_end", "exec_id": exec_id, "status": status,
                     "at": at(when + timedelta(seconds=30))}]
    ended = at(started + timedelta(hours=1))
    return [*records, {"type": "run_end", "run_id": run_id, "status": statuses[-1], "at": ended}]


def columns(names: str) -> list[sa.ColumnClause]:
    """Columns of a table as the older schema had them (JSON ones typed, for their encoding)."""
    json = ("args", "params", "reasons", "code_digests", "metrics")
    return [sa.column(n, sa.JSON() if n in json else None) for n in names.split()]


def apply(store: Store, records: list[dict[str, Any]]) -> None:
    with store.session(write=True) as session:
        apply_records(session, records)


@pytest.mark.slow
def test_the_summary_and_its_grid_equal_counting_the_executions_of_a_generated_store(meta_url: str) -> None:
    gen_meta_store.generate(meta_url, 5_000, seed=11, end=TODAY)
    store = Store(meta_url).open()
    try:
        assert summary(store) == counted(store) and len(summary(store)) > 200
        yesterday = TODAY - timedelta(days=1, hours=-9)
        failed_then_fixed = run_records("featurize", TODAY + timedelta(hours=1), ["failed", "succeeded"])
        scheduled = run_records("predict", TODAY + timedelta(hours=2), ["succeeded"], logical=yesterday)
        apply(store, failed_then_fixed + scheduled)
        apply(store, failed_then_fixed)  # delivered twice: nothing counts twice
        late = run_records("train@sweep-3", yesterday, ["succeeded"])
        apply(store, late[:2])  # started yesterday, still running
        assert ((str(yesterday.date()), "train@sweep-3", "running", 1, yesterday)) in summary(store)
        apply(store, late[2:])  # ended today: still counted on the day it started
        with store.session() as s:  # an old execution whose end is delivered again with another status
            old = s.execute(sa.select(Execution.id, Execution.status).where(Execution.status == "succeeded")
                            .order_by(Execution.started_at).limit(1)).one()
        apply(store, [{"type": "exec_end", "exec_id": old.id, "status": "failed", "at": at(TODAY)}])
        assert summary(store) == counted(store)
        from_summary, from_executions = grids(store)
        assert from_summary == from_executions
        stages = {row.stage: row for row in from_summary.stages}
        today = stages["featurize"].cells[-1]
        assert [(seg.status, seg.n) for seg in today.segments][-2:] == [("failed", 1), ("succeeded", 1)]
        assert stages["predict"].cells[-2].scheduled  # on its logical date, from the run table
    finally:
        store.close()


def test_the_migration_counts_the_executions_an_older_store_has(meta_url: str) -> None:
    store = Store(meta_url)
    day = datetime(2026, 3, 1, 10)
    with store.writer.begin() as conn:  # the store as 0006 left it
        config = migrate._config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
        run = sa.table("run", *columns("id command args trigger user host repo git_commit branch dirty "
                                       "himo_version status started_at logical_date"))
        execution = sa.table("execution", *columns("id run_id stage cmd status started_at params reasons "
                                                   "git_commit branch dirty code_digests host user "
                                                   "himo_version metrics"))
        for run_id, logical in (("manual", None), ("scheduled", day)):
            conn.execute(run.insert().values(id=run_id, command="repro", args=[], trigger="manual", user="",
                                             host="", repo="r", git_commit="", branch="", dirty=False,
                                             himo_version="", status="succeeded", started_at=day,
                                             logical_date=logical))
        for i, (run_id, stage, status, hours) in enumerate([
                ("manual", "train", "failed", 0), ("manual", "train", "succeeded", 1),
                ("manual", "train", "succeeded", 2), ("manual", "train", "succeeded", 30),
                ("scheduled", "train", "succeeded", 3)]):
            conn.execute(execution.insert().values(
                id=f"e{i}", run_id=run_id, stage=stage, cmd="", status=status,
                started_at=day + timedelta(hours=hours), params={}, reasons=[], git_commit="", branch="",
                dirty=False, code_digests={}, host="", user="", himo_version="", metrics={}))
    store.open()
    try:
        assert summary(store) == counted(store) == {  # the scheduled run's execution is not here
            ("2026-03-01", "train", "failed", 1, day),
            ("2026-03-01", "train", "succeeded", 2, day + timedelta(hours=2)),
            ("2026-03-02", "train", "succeeded", 1, day + timedelta(hours=30))}
    finally:
        store.close()


def _killed_writer(url: str, records: list[dict[str, Any]], counted_yet: bool) -> None:
    """Apply `records` in a write transaction and die before its commit (SIGKILL, nothing said):
    after the summary's recount (`counted_yet`) or between the executions' write and it."""
    store = Store(url)
    with store.session(write=True) as session:
        applier = Applier(session)
        for record in records:
            applier.apply(record)
        if counted_yet:
            applier.finish()
        session.flush()
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("counted_yet", [True, False], ids=["after-the-recount", "before-the-recount"])
def test_a_writer_killed_in_its_transaction_leaves_the_summary_exact(meta_url: str,
                                                                     counted_yet: bool) -> None:
    store = Store(meta_url).open()
    try:
        first = run_records("train", TODAY + timedelta(hours=3), ["succeeded", "succeeded"])
        apply(store, first)
        before = summary(store)
        exec_ids = [r["exec_id"] for r in first if r["type"] == "exec_end"]
        records = [{"type": "exec_end", "exec_id": exec_ids[0], "status": "failed", "at": at(TODAY)},
                   *run_records("train", TODAY + timedelta(hours=4), ["running"])[:2]]
        proc = multiprocessing.get_context("fork").Process(target=_killed_writer,
                                                           args=(meta_url, records, counted_yet))
        proc.start()
        proc.join(60)
        assert proc.exitcode == -signal.SIGKILL
        assert summary(store) == before == counted(store)
        apply(store, records)  # what the journal delivers again later
        assert summary(store) == counted(store) != before
    finally:
        store.close()


def test_two_writers_of_the_same_day_and_stage_at_once_count_both(meta_url: str) -> None:
    """One writer adds a succeeded execution, the other turns an earlier failed one of the same day
    and stage into succeeded: the second recounts `succeeded` only after the first commits (it
    waits for the key's row lock on PostgreSQL, for the write lock on SQLite), so its count has
    both. (Recounting first and writing the count under the lock after would say 1.)"""
    store = Store(meta_url).open()
    try:
        started = TODAY + timedelta(hours=5)
        earlier = run_records("evaluate", started, ["failed"])
        apply(store, earlier)
        added = run_records("evaluate", started + timedelta(minutes=1), ["succeeded"])
        fixed = [{"type": "exec_end", "exec_id": earlier[1]["exec_id"], "status": "succeeded",
                  "at": at(started + timedelta(hours=1))}]
        done = threading.Event()

        def write_second() -> None:
            apply(store, fixed)
            done.set()

        with store.session(write=True) as session:
            apply_records(session, added)  # counted, not committed yet
            writer = threading.Thread(target=write_second)
            writer.start()
            assert not done.wait(1.0)  # waits for this transaction
        writer.join(30)
        assert done.is_set()
        assert summary(store) == counted(store)
        assert {r[2:4] for r in summary(store) if r[1] == "evaluate"} == {("succeeded", 2)}
    finally:
        store.close()


def test_a_record_the_store_refuses_midway_leaves_the_summary_exact(meta_url: str, tmp_path: Path) -> None:
    """A stage's end whose output the store refuses (a lone surrogate in its path) is rolled back
    to its savepoint after its status was written: the stage stays running, and so do its counts."""
    records = run_records("train", TODAY + timedelta(hours=7), ["succeeded"])
    records[2]["outputs"] = [{"path": "\ud800", "digest": "ab" * 32, "size": 1}]
    folder = tmp_path / "journal"
    folder.mkdir()
    (folder / "20261204T070000000000-1-abcdef01.jsonl").write_text(
        "".join(json.dumps({"v": 1, **r}) + "\n" for r in records[:3]))
    store = Store(meta_url).open()
    try:
        done = deliver(store, folder)
        assert [r.reason.split(":")[0] for q in done.quarantined for r in q.rejected] == ["exec_end"]
        assert summary(store) == counted(store)
        assert {r[2:4] for r in summary(store) if r[1] == "train"} == {("running", 1)}
    finally:
        store.close()


def test_rebuild_recounts_a_summary_that_was_tampered_with(meta_url: str) -> None:
    store = Store(meta_url).open()
    try:
        apply(store, run_records("clean", TODAY + timedelta(hours=6), ["failed", "succeeded"]))
        with store.session(write=True) as s:
            s.execute(sa.update(ExecutionDay).values(n=99))
            s.add(ExecutionDay(day=date(2020, 1, 1), stage="gone", status="failed", n=3, last=TODAY))
        assert summary(store) != counted(store)
        with store.session(write=True) as s:
            days.rebuild(s)
        assert summary(store) == counted(store)
    finally:
        store.close()
