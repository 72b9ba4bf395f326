"""`himo status [--json]`: what differs between workspace, pointers and cache; exit 0 either way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from himo.api.status import status
from himo.workspace.repo import Repo
from tests.api.helpers import assert_error, digest_of, object_path, pointer_doc
from tests.conftest import Himo, write

KEYS = ["path", "pointer", "state", "added", "modified", "deleted", "not_in_cache"]


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
        "added": [], "modified": [], "deleted": [], "not_in_cache": [],
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
