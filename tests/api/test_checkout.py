"""`himo checkout [PATH] [--force]`: make the workspace match the pointers, never losing work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from himo.api.checkout import checkout
from himo.errors import LocalChangesError
from himo.workspace.repo import Repo
from tests.api.helpers import (
    assert_error,
    digest_of,
    drop_root_powers,
    is_read_only,
    object_path,
    snapshot,
    tree_bytes,
)
from tests.conftest import Himo, git, write

DIR = {"a/1.txt": b"one\n", "a/2.txt": b"two\n", "b/3.txt": b"three\n"}


@pytest.fixture
def tracked(repo: Path, himo: Himo) -> Path:
    """A repository tracking the file data.csv and the directory d/."""
    write(repo / "data.csv", "x,y\n1,2\n")
    for name, data in DIR.items():
        write(repo / "d" / name, data)
    himo("add", "data.csv", "d")
    return repo


def _unsaved_hint(path: str) -> str:
    return f"Hint: run `himo commit {path}` to keep them, or `himo checkout --force {path}` to discard them"


def test_checkout_with_nothing_to_do(tracked: Path, himo: Himo) -> None:
    before = snapshot(tracked)
    assert himo("checkout").stdout == ""
    assert snapshot(tracked) == before


def test_restores_a_deleted_file_writable(tracked: Path, himo: Himo) -> None:
    (tracked / "data.csv").unlink()
    assert himo("checkout").stdout == "Restored data.csv (1 written, 0 removed)\n"
    assert (tracked / "data.csv").read_bytes() == b"x,y\n1,2\n"
    assert not is_read_only(tracked / "data.csv")
    assert himo("status").stdout == "Everything is up to date.\n"


def test_restores_a_deleted_directory_and_deleted_files_in_it(tracked: Path, himo: Himo) -> None:
    shutil.rmtree(tracked / "d")
    assert himo("checkout", "d").stdout == "Restored d (3 written, 0 removed)\n"
    assert tree_bytes(tracked / "d") == DIR
    (tracked / "d" / "b" / "3.txt").unlink()
    (tracked / "d" / "b").rmdir()
    assert himo("checkout", "d.himo").stdout == "Restored d (1 written, 0 removed)\n"
    assert tree_bytes(tracked / "d") == DIR


def test_a_deleted_directory_is_built_aside_and_appears_whole_or_not_at_all(
    tracked: Path, himo: Himo
) -> None:
    shutil.rmtree(tracked / "d")
    before = snapshot(tracked)
    unreadable = object_path(tracked, digest_of(DIR["b/3.txt"]))
    unreadable.chmod(0)
    try:
        proc = himo("checkout", "d", ok=False, preexec_fn=drop_root_powers)
    finally:
        unreadable.chmod(0o444)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        f"Error: cannot restore d: Permission denied ({unreadable})",
        "Hint: check the permissions of d, of its folder and of .himo/cache",
    ]
    assert snapshot(tracked) == before  # no half-made d/, no temp folder beside it
    assert sorted(p.name for p in tracked.iterdir() if "himo-tmp" in p.name) == []

    assert himo("checkout", "d").stdout == "Restored d (3 written, 0 removed)\n"
    assert tree_bytes(tracked / "d") == DIR
    assert himo("status").stdout == "Everything is up to date.\n"


def test_refuses_to_overwrite_a_change_not_in_the_cache(tracked: Path, himo: Himo) -> None:
    write(tracked / "data.csv", "precious edit\n")
    before = snapshot(tracked)
    proc = himo("checkout", ok=False)
    assert_error(proc, "data.csv: checkout would overwrite changes that are not in the cache: data.csv")
    assert proc.stderr.splitlines()[1] == _unsaved_hint("data.csv")
    assert snapshot(tracked) == before
    assert himo("checkout", "--force").stdout == "Restored data.csv (1 written, 0 removed)\n"
    assert (tracked / "data.csv").read_bytes() == b"x,y\n1,2\n"


def test_refuses_to_overwrite_an_edited_file_inside_a_directory(tracked: Path, himo: Himo) -> None:
    write(tracked / "d" / "a" / "1.txt", "edited\n")
    (tracked / "d" / "b" / "3.txt").unlink()
    before = snapshot(tracked)
    proc = himo("checkout", "d", ok=False)
    assert_error(proc, "d: checkout would overwrite changes that are not in the cache: a/1.txt")
    assert proc.stderr.splitlines()[1] == _unsaved_hint("d")
    assert snapshot(tracked) == before
    himo("checkout", "-f", "d")
    assert tree_bytes(tracked / "d") == DIR


def test_overwrites_changes_that_are_in_the_cache(tracked: Path, himo: Himo) -> None:
    v1_pointer = (tracked / "data.csv.himo").read_text()
    write(tracked / "data.csv", "version two\n")
    himo("add", "data.csv")
    (tracked / "data.csv.himo").write_text(v1_pointer)
    assert himo("checkout").stdout == "Restored data.csv (1 written, 0 removed)\n"
    assert (tracked / "data.csv").read_bytes() == b"x,y\n1,2\n"


def test_extra_file_in_a_directory_is_removed_only_when_safe(tracked: Path, himo: Himo) -> None:
    write(tracked / "d" / "c" / "copy.txt", DIR["a/1.txt"])  # its bytes are in the cache
    write(tracked / "d" / "c" / "new.txt", "not in any cache\n")
    proc = himo("checkout", ok=False)
    assert_error(proc, "d: checkout would overwrite changes that are not in the cache: c/new.txt")
    assert (tracked / "d" / "c" / "new.txt").exists()
    (tracked / "d" / "c" / "new.txt").unlink()
    assert himo("checkout").stdout == "Restored d (0 written, 1 removed)\n"
    assert not (tracked / "d" / "c").exists()  # emptied folders go too
    assert tree_bytes(tracked / "d") == DIR


def test_force_removes_extra_files_but_not_ignored_ones(tracked: Path, himo: Himo) -> None:
    write(tracked / ".himoignore", "*.log\n")
    write(tracked / "d" / "new.txt", "not in any cache\n")
    write(tracked / "d" / "run.log", "ignored by himo\n")
    assert himo("checkout", "--force").stdout == "Restored d (0 written, 1 removed)\n"
    assert not (tracked / "d" / "new.txt").exists()
    assert (tracked / "d" / "run.log").read_text() == "ignored by himo\n"


def test_directory_where_a_file_is_tracked(tracked: Path, himo: Himo) -> None:
    (tracked / "data.csv").unlink()
    write(tracked / "data.csv" / "inner.txt", "surprise\n")
    proc = himo("checkout", "data.csv", ok=False)
    assert_error(proc, "data.csv: is a directory in the workspace")
    assert "Hint: run `himo checkout --force data.csv` to replace it" in proc.stderr
    himo("checkout", "--force", "data.csv")
    assert (tracked / "data.csv").read_bytes() == b"x,y\n1,2\n"


def test_nothing_changes_when_one_of_several_targets_is_unsafe(tracked: Path, himo: Himo) -> None:
    shutil.rmtree(tracked / "d")
    write(tracked / "data.csv", "unsaved\n")
    proc = himo("checkout", ok=False)
    assert proc.returncode == 1
    assert not (tracked / "d").exists()
    assert (tracked / "data.csv").read_text() == "unsaved\n"


def test_missing_object_names_the_path_and_suggests_pull(tracked: Path, himo: Himo) -> None:
    digest = digest_of(b"x,y\n1,2\n")
    object_path(tracked, digest).unlink()
    (tracked / "data.csv").unlink()
    proc = himo("checkout", ok=False)
    assert_error(proc, f"data.csv: 1 object(s) missing from the cache (first: {digest[:12]})")
    assert proc.stderr.splitlines()[1] == (
        "Hint: run `himo pull data.csv` to fetch them, or `himo push` from the machine that has them"
    )


def test_checkout_after_git_checkout_of_older_pointers(tracked: Path, himo: Himo) -> None:
    git(tracked, "add", "-A")
    git(tracked, "commit", "-q", "-m", "v1")
    write(tracked / "data.csv", "x,y\n1,2\n3,4\n")
    write(tracked / "d" / "a" / "1.txt", "one, revised\n")
    write(tracked / "d" / "z.txt", "added in v2\n")
    (tracked / "d" / "b" / "3.txt").unlink()
    himo("commit")
    git(tracked, "commit", "-q", "-am", "v2")
    v2 = tree_bytes(tracked / "d")

    git(tracked, "checkout", "-q", "HEAD~1", "--", "data.csv.himo", "d.himo")
    assert himo("checkout").stdout == (
        "Restored d (2 written, 1 removed)\nRestored data.csv (1 written, 0 removed)\n"
    )
    assert (tracked / "data.csv").read_bytes() == b"x,y\n1,2\n"
    assert tree_bytes(tracked / "d") == DIR

    git(tracked, "checkout", "-q", "HEAD", "--", "data.csv.himo", "d.himo")
    himo("checkout")
    assert (tracked / "data.csv").read_bytes() == b"x,y\n1,2\n3,4\n"
    assert tree_bytes(tracked / "d") == v2


def test_checkout_api_raises_local_changes_error(
    tracked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tracked)
    write(tracked / "d" / "b" / "3.txt", "edited\n")
    with pytest.raises(LocalChangesError) as info:
        checkout(Repo(tracked), ["d"])
    assert info.value.message == "d: checkout would overwrite changes that are not in the cache: b/3.txt"
    [result] = checkout(Repo(tracked), ["d"], force=True)
    assert (result.path, result.written, result.removed) == ("d", 1, 0)


def test_several_extra_files_in_one_folder_are_removed_with_it(tracked: Path, himo: Himo) -> None:
    for name in ("x.txt", "y.txt", "deeper/z.txt"):
        write(tracked / "d" / "extra" / name, DIR["a/1.txt"])  # bytes the cache has
    assert himo("checkout").stdout == "Restored d (0 written, 3 removed)\n"
    assert not (tracked / "d" / "extra").exists()
    assert tree_bytes(tracked / "d") == DIR


def test_force_replaces_a_folder_where_a_file_belongs_inside_a_directory(
    tracked: Path, himo: Himo
) -> None:
    (tracked / "d" / "a" / "1.txt").unlink()
    write(tracked / "d" / "a" / "1.txt" / "inner.txt", "in the way\n")
    proc = himo("checkout", ok=False)
    assert_error(proc, "d: checkout would overwrite changes that are not in the cache: a/1.txt/inner.txt")
    assert himo("checkout", "--force").stdout == "Restored d (1 written, 1 removed)\n"
    assert tree_bytes(tracked / "d") == DIR
    assert sorted(p.name for p in (tracked / "d" / "a").iterdir()) == ["1.txt", "2.txt"]  # no temp file


def test_force_replaces_a_file_where_a_folder_belongs_inside_a_directory(
    tracked: Path, himo: Himo
) -> None:
    shutil.rmtree(tracked / "d" / "b")
    write(tracked / "d" / "b", "a file named like the folder\n")
    proc = himo("checkout", ok=False)
    assert_error(proc, "d: checkout would overwrite changes that are not in the cache: b")
    assert himo("checkout", "--force").stdout == "Restored d (1 written, 1 removed)\n"
    assert tree_bytes(tracked / "d") == DIR


def test_tracked_file_hidden_by_a_new_himoignore_rule_is_not_overwritten(
    tracked: Path, himo: Himo
) -> None:
    write(tracked / ".himoignore", "*.txt\n")
    write(tracked / "d" / "a" / "1.txt", "edited after the rule\n")
    proc = himo("checkout", "d", ok=False)
    assert_error(proc, "d: checkout would overwrite changes that are not in the cache: a/1.txt")
    assert (tracked / "d" / "a" / "1.txt").read_text() == "edited after the rule\n"
    write(tracked / "d" / "a" / "1.txt", DIR["a/1.txt"])
    assert himo("checkout", "d").stdout == ""  # same bytes as recorded: nothing to do
