"""`himo commit [PATH]`: record the current workspace content of tracked paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from himo.api.add import commit
from himo.workspace.repo import Repo
from tests.api.helpers import assert_error, digest_of, object_path, pointer_doc
from tests.conftest import Himo, write


@pytest.fixture
def tracked(repo: Path, himo: Himo) -> Path:
    write(repo / "data.csv", "v1\n")
    write(repo / "d" / "f.txt", "f1\n")
    himo("add", "data.csv", "d")
    return repo


def test_commit_records_every_changed_path(tracked: Path, himo: Himo) -> None:
    v2 = b"v2, longer\n"
    write(tracked / "data.csv", v2)
    proc = himo("commit")
    d_digest = str(pointer_doc(tracked / "d.himo")["digest"])
    assert proc.stdout.splitlines() == [
        f"Unchanged d (1 files, 3 bytes, {d_digest[:12]})",
        f"Recorded data.csv (11 bytes, {digest_of(v2)[:12]})",
        "To track the changes with git, run:",
        "  git add data.csv.himo .gitignore",
    ]
    assert pointer_doc(tracked / "data.csv.himo")["digest"] == digest_of(v2)
    assert object_path(tracked, digest_of(v2)).read_bytes() == v2
    assert object_path(tracked, digest_of(b"v1\n")).exists()  # the old version stays cached
    assert himo("status").stdout == "Everything is up to date.\n"


def test_commit_named_path_only(tracked: Path, himo: Himo) -> None:
    write(tracked / "data.csv", "v2\n")
    write(tracked / "d" / "g.txt", "g\n")
    himo("commit", "d")
    assert pointer_doc(tracked / "d.himo")["nfiles"] == 2
    assert pointer_doc(tracked / "data.csv.himo")["digest"] == digest_of(b"v1\n")


def test_commit_of_a_deleted_target_is_an_error(tracked: Path, himo: Himo) -> None:
    (tracked / "data.csv").unlink()
    pointer = (tracked / "data.csv.himo").read_text()
    proc = himo("commit", ok=False)
    assert_error(proc, "data.csv: missing from the workspace, nothing to commit")
    assert proc.stderr.splitlines()[1] == (
        "Hint: run `himo checkout data.csv` to restore it, or `himo remove data.csv.himo`"
    )
    assert (tracked / "data.csv.himo").read_text() == pointer


def test_commit_of_an_untracked_path_is_an_error(tracked: Path, himo: Himo) -> None:
    write(tracked / "new.csv", "n\n")
    assert_error(himo("commit", "new.csv", ok=False), "new.csv: not tracked by himo")


def test_commit_api(tracked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tracked)
    write(tracked / "d" / "f.txt", "f2\n")
    [result] = commit(Repo(tracked), ["d"])
    assert (result.path, result.pointer, result.changed, result.hashed) == ("d", "d.himo", True, 1)
    assert result.hash_info.nfiles == 1
