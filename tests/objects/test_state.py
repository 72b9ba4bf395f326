"""The stat cache (state.db): file rows and directory records, on real SQLite files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from himo.objects.state import DirRecord, NoState, StateDB
from tests.conftest import write

OLD_SCHEMA = ("CREATE TABLE state (inode INTEGER PRIMARY KEY, mtime_ns INTEGER NOT NULL, "
              "size INTEGER NOT NULL, digest TEXT NOT NULL)")


def test_directory_records_round_trip_and_are_replaced(tmp_path: Path) -> None:
    state = StateDB(tmp_path / "state.db")
    assert state.dir_record("d") is None
    first = DirRecord("listing-1", "manifest-1", None)
    state.save_dir_record("d", first)
    assert state.dir_record("d") == first
    second = DirRecord("listing-2", "manifest-1", "stamp")
    state.save_dir_record("d", second)
    state.close()
    reopened = StateDB(tmp_path / "state.db")
    assert (reopened.dir_record("d"), reopened.dir_record("other")) == (second, None)


def test_state_db_of_an_older_himo_keeps_its_rows_and_gains_the_directory_table(tmp_path: Path) -> None:
    path = write(tmp_path / "f.txt", "x")
    st = os.stat(path)
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute(OLD_SCHEMA)
        db.execute("INSERT INTO state VALUES (?, ?, ?, ?)", (st.st_ino, st.st_mtime_ns, st.st_size, "d1"))
    state = StateDB(tmp_path / "state.db")
    assert state.get(st) == "d1"
    assert state.dir_record("d") is None
    state.save_dir_record("d", DirRecord("l", "m", "s"))
    assert state.dir_record("d") == DirRecord("l", "m", "s")


def test_unreadable_state_db_only_costs_a_full_check(tmp_path: Path) -> None:
    write(tmp_path / "state.db", b"not a database, but some bytes that are long enough " * 20)
    state = StateDB(tmp_path / "state.db")
    state.save_dir_record("d", DirRecord("l", "m", None))
    assert state.dir_record("d") is None


def test_the_null_state_remembers_nothing_and_writes_no_file(tmp_path: Path) -> None:
    """What a Dask worker's scratch repository uses: every file is hashed, nothing is kept."""
    st = os.stat(write(tmp_path / "f.txt", "x"))
    state = NoState()
    state.save([(st, "d" * 64)])
    state.save_dir_record("d", DirRecord("listing", "manifest", None))
    assert (state.get(st), state.lookup([st]), state.dir_record("d"), state.dir_files("d", "manifest")) == (
        None, {}, None, None)
    state.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
