"""`himo status [--json]`: what differs between workspace, pointers and cache; exit 0 either way."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from himo.api.status import status
from himo.objects.state import DirRecord, StateDB
from himo.workspace.repo import Repo
from tests.api.helpers import assert_error, digest_of, object_path, pointer_doc
from tests.conftest import Himo, write

KEYS = ["path", "pointer", "state", "added", "modified", "deleted", "not_in_cache", "leftovers"]


@pytest.fixture
def tracked(repo: Path, himo: Himo) -> Path:
    """A repository tracking the file data.csv and the directory d/ (a/1, a/2, b/3)."""
    write(repo / "data.csv", "x,y\n1,2\n")
    for name in ("a/1.txt", "a/2.txt", "b/3.txt"):
        write(repo / "d" / name, f"content of {name}\n")
    himo("add", "data.csv", "d")
    return repo


def _json(himo: Himo, *args: str) -> dict[str, dict[str, object]]:
    proc = himo("status", "--json", *args)
    assert proc.returncode == 0
    return json.loads(proc.stdout)["data"]


def test_nothing_tracked(himo: Himo) -> None:
    assert himo("status").stdout == "Nothing is tracked yet: try `himo add PATH`.\n"
    assert _json(himo) == {}


def test_clean_workspace(tracked: Path, himo: Himo) -> None:
    assert himo("status").stdout == "Everything is up to date.\n"
    report = _json(himo)
    assert list(report) == ["d", "data.csv"]
    assert report["data.csv"] == {
        "path": "data.csv", "pointer": "data.csv.himo", "state": "unchanged",
        "added": [], "modified": [], "deleted": [], "not_in_cache": [], "leftovers": [],
    }
    assert list(report["d"]) == KEYS


def test_modified_file(tracked: Path, himo: Himo) -> None:
    write(tracked / "data.csv", "x,y\n1,3\n")
    proc = himo("status")
    assert (proc.returncode, proc.stdout) == (0, "data.csv:\n    modified\n")
    assert _json(himo)["data.csv"]["state"] == "modified"


def test_deleted_file_and_directory(tracked: Path, himo: Himo) -> None:
    (tracked / "data.csv").unlink()
    for p in sorted((tracked / "d").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (tracked / "d").rmdir()
    assert himo("status").stdout == "d:\n    deleted\ndata.csv:\n    deleted\n"
    report = _json(himo)
    assert report["d"]["state"] == report["data.csv"]["state"] == "deleted"


def test_new_modified_and_deleted_files_inside_a_directory(tracked: Path, himo: Himo) -> None:
    write(tracked / "d" / "a" / "new.txt", "new\n")
    write(tracked / "d" / "a" / "1.txt", "changed\n")
    (tracked / "d" / "b" / "3.txt").unlink()
    proc = himo("status")
    assert proc.returncode == 0
    assert proc.stdout == (
        "d:\n    modified\n"
        "        new: a/new.txt\n        modified: a/1.txt\n        deleted: b/3.txt\n"
    )
    report = _json(himo)["d"]
    assert (report["added"], report["modified"], report["deleted"]) == (
        ["a/new.txt"], ["a/1.txt"], ["b/3.txt"]
    )


def test_long_lists_are_shortened(tracked: Path, himo: Himo) -> None:
    for i in range(25):
        write(tracked / "d" / "new" / f"{i:02}.txt", f"{i}\n")
    lines = himo("status").stdout.splitlines()
    assert lines[-2:] == ["        new: new/19.txt", "        ... and 5 more new"]
    assert len(_json(himo)["d"]["added"]) == 25


def test_missing_from_cache(tracked: Path, himo: Himo) -> None:
    data_digest = digest_of(b"x,y\n1,2\n")
    file_digest = digest_of(b"content of b/3.txt\n")
    manifest = str(pointer_doc(tracked / "d.himo")["digest"])
    object_path(tracked, data_digest).unlink()
    object_path(tracked, file_digest).unlink()
    proc = himo("status")
    assert proc.returncode == 0
    assert proc.stdout == (
        "d:\n    not in cache: 1 object(s) (run `himo pull`)\n"
        "data.csv:\n    not in cache: 1 object(s) (run `himo pull`)\n"
    )
    report = _json(himo)
    assert report["data.csv"]["not_in_cache"] == [data_digest]
    assert report["d"]["not_in_cache"] == [file_digest]
    object_path(tracked, manifest).unlink()  # without its manifest, the listing is unknown
    report = _json(himo)["d"]
    assert (report["state"], report["not_in_cache"]) == ("unchanged", [manifest])


def test_missing_manifest_and_changed_directory(tracked: Path, himo: Himo) -> None:
    object_path(tracked, str(pointer_doc(tracked / "d.himo")["digest"])).unlink()
    write(tracked / "d" / "a" / "1.txt", "changed\n")
    report = _json(himo)["d"]
    assert report["state"] == "modified"


def test_status_of_named_paths_only(tracked: Path, himo: Himo) -> None:
    write(tracked / "data.csv", "changed\n")
    assert himo("status", "d").stdout == "Everything is up to date.\n"
    assert list(_json(himo, "d.himo")) == ["d"]
    assert himo("status", "data.csv").stdout == "data.csv:\n    modified\n"


def test_status_of_untracked_path_is_an_error(tracked: Path, himo: Himo) -> None:
    write(tracked / "other.csv", "o\n")
    proc = himo("status", "other.csv", ok=False)
    assert_error(proc, "other.csv: not tracked by himo")
    assert "Hint: run `himo add other.csv` to track it" in proc.stderr


def test_status_api_reads_changed_files_only(
    tracked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tracked)
    write(tracked / "d" / "b" / "3.txt", "changed again\n")
    [d] = status(Repo(tracked), ["d"])
    assert (d.state, d.modified, d.clean) == ("modified", ["b/3.txt"], False)
    [data] = status(Repo(tracked), ["data.csv"])
    assert data.clean


# -- the directory record: an unchanged directory is vouched for by its listing ----------------
CLEAN = {"state": "unchanged", "added": [], "modified": [], "deleted": [], "not_in_cache": []}


def _age_cache(repo: Path, seconds: float) -> None:
    """Pretend the cache last changed `seconds` ago (shard folders changed since get that mtime).

    ObjectDB.stamp() vouches for no folder changed in the last two seconds; this stands in for
    waiting that long.
    """
    when = time.time() - seconds
    for shard in (repo / ".himo" / "cache").iterdir():
        if len(shard.name) == 2 and shard.stat().st_mtime > when:
            os.utime(shard, (when, when))


def _record(repo: Path) -> DirRecord | None:
    state = StateDB(repo / ".himo" / "state.db")
    try:
        return state.dir_record("d")
    finally:
        state.close()


def _d(himo: Himo) -> dict[str, object]:
    report = _json(himo)["d"]
    return {key: report[key] for key in CLEAN}


@pytest.fixture
def recorded(tracked: Path, himo: Himo) -> Path:
    """`tracked`, after a clean status recorded d/'s listing with a settled cache."""
    _age_cache(tracked, 100)
    assert _d(himo) == CLEAN
    record = _record(tracked)
    assert record is not None and record.cache_stamp is not None
    assert record.manifest == pointer_doc(tracked / "d.himo")["digest"]
    return tracked


def test_unchanged_directory_is_neither_rehashed_nor_looked_up(recorded: Path, himo: Himo) -> None:
    with sqlite3.connect(recorded / ".himo" / "state.db") as db:
        db.execute("DELETE FROM state")  # a full check would hash d/ again and record its files
    assert himo("status").stdout == "Everything is up to date.\n"
    assert _d(himo) == CLEAN
    with sqlite3.connect(recorded / ".himo" / "state.db") as db:
        rows = db.execute("SELECT count(*) FROM state").fetchone()[0]
    assert rows == 1  # data.csv only: a single file has no listing to vouch for it


def test_touched_file_is_checked_again(recorded: Path, himo: Himo) -> None:
    before = _record(recorded)
    os.utime(recorded / "d" / "a" / "1.txt", (1_000_000, 1_000_000))
    assert _d(himo) == CLEAN
    after = _record(recorded)
    assert after is not None and before is not None
    assert after.listing != before.listing and after.manifest == before.manifest


@pytest.mark.parametrize(("change", "expected"), [
    ("edit", {"modified": ["a/1.txt"]}),
    ("add", {"added": ["a/new.txt"]}),
    ("delete", {"deleted": ["b/3.txt"]}),
    ("rename", {"added": ["b/4.txt"], "deleted": ["b/3.txt"]}),
])
def test_changes_after_a_recorded_status_are_seen(
    recorded: Path, himo: Himo, change: str, expected: dict[str, list[str]]
) -> None:
    d = recorded / "d"
    if change == "edit":
        write(d / "a" / "1.txt", "CONTENT OF A/1.TXT\n")  # same size
    elif change == "add":
        write(d / "a" / "new.txt", "new\n")
    elif change == "delete":
        (d / "b" / "3.txt").unlink()
    else:
        (d / "b" / "3.txt").rename(d / "b" / "4.txt")
    assert _d(himo) == {**CLEAN, "state": "modified", **expected}
    assert _d(himo) == {**CLEAN, "state": "modified", **expected}  # and no record vouches for it


def test_object_removed_by_hand_after_a_recorded_status_is_missing(recorded: Path, himo: Himo) -> None:
    gone = digest_of(b"content of b/3.txt\n")
    object_path(recorded, gone).unlink()
    assert _d(himo) == {**CLEAN, "not_in_cache": [gone]}  # its shard changed just now
    _age_cache(recorded, 50)
    assert _d(himo) == {**CLEAN, "not_in_cache": [gone]}  # its shard changed since the record
    assert himo("status").stdout == "d:\n    not in cache: 1 object(s) (run `himo pull`)\n"


def test_objects_removed_by_gc_after_a_recorded_status_are_missing(recorded: Path, himo: Himo) -> None:
    pointer = (recorded / "d.himo").read_text()
    (recorded / "d.himo").unlink()  # as on a branch without d/
    assert himo("gc", "--workspace", "-f").stdout == "Removed 4 object(s)\n"
    (recorded / "d.himo").write_text(pointer)  # back on the branch with d/
    _age_cache(recorded, 50)
    manifest = str(pointer_doc(recorded / "d.himo")["digest"])
    assert _d(himo) == {**CLEAN, "not_in_cache": [manifest]}  # without its manifest, files unknown


def test_state_db_of_an_older_himo_gains_the_directory_table(tracked: Path, himo: Himo) -> None:
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (tracked / ".himo" / name).unlink(missing_ok=True)
    with sqlite3.connect(tracked / ".himo" / "state.db") as db:
        db.execute("CREATE TABLE state (inode INTEGER PRIMARY KEY, mtime_ns INTEGER NOT NULL, "
                   "size INTEGER NOT NULL, digest TEXT NOT NULL)")
    assert himo("status").stdout == "Everything is up to date.\n"
    assert _record(tracked) is not None
    assert _d(himo) == CLEAN


def test_edit_and_removed_object_after_a_recorded_status_are_both_seen(recorded: Path, himo: Himo) -> None:
    write(recorded / "d" / "a" / "1.txt", "CONTENT OF A/1.TXT\n")
    assert _d(himo) == {**CLEAN, "state": "modified", "modified": ["a/1.txt"]}
    gone = digest_of(b"content of b/3.txt\n")
    object_path(recorded, gone).unlink()
    _age_cache(recorded, 50)  # settled again, with another stamp than the one recorded
    assert _d(himo) == {**CLEAN, "state": "modified", "modified": ["a/1.txt"], "not_in_cache": [gone]}


def test_after_a_change_only_the_changed_file_is_read_again(recorded: Path, himo: Himo) -> None:
    with sqlite3.connect(recorded / ".himo" / "state.db") as db:
        db.execute("DELETE FROM state")  # digests can now come only from d/'s own snapshot
    write(recorded / "d" / "a" / "1.txt", "CONTENT OF A/1.TXT\n")
    for _ in range(2):
        assert _d(himo) == {**CLEAN, "state": "modified", "modified": ["a/1.txt"]}
    with sqlite3.connect(recorded / ".himo" / "state.db") as db:
        rows = db.execute("SELECT count(*) FROM state").fetchone()[0]
    assert rows == 2  # data.csv, and the one changed file of d/: the others were not read
    write(recorded / "d" / "a" / "1.txt", "content of a/1.txt\n")  # changed back
    assert _d(himo) == CLEAN


def test_several_changes_at_once_shift_nothing(recorded: Path, himo: Himo) -> None:
    d = recorded / "d"
    (d / "a" / "1.txt").unlink()  # positions in the walk shift after a removal and an addition
    write(d / "a" / "0.txt", "zero\n")
    write(d / "a" / "11.txt", "eleven\n")
    write(d / "b" / "3.txt", "THREE CHANGED\n")
    expected = {"added": ["a/0.txt", "a/11.txt"], "deleted": ["a/1.txt"], "modified": ["b/3.txt"]}
    for _ in range(2):
        assert _d(himo) == {**CLEAN, "state": "modified", **expected}


def test_add_leaves_a_snapshot_so_the_first_status_after_a_change_reads_only_it(
    tracked: Path, himo: Himo
) -> None:
    with sqlite3.connect(tracked / ".himo" / "state.db") as db:
        db.execute("DELETE FROM state")
    write(tracked / "d" / "b" / "3.txt", "THREE CHANGED\n")
    assert _d(himo) == {**CLEAN, "state": "modified", "modified": ["b/3.txt"]}
    with sqlite3.connect(tracked / ".himo" / "state.db") as db:
        rows = db.execute("SELECT count(*) FROM state").fetchone()[0]
    assert rows == 2  # data.csv, and b/3.txt: d/'s other files came from what add recorded
