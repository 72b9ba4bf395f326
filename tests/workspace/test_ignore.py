""".himoignore matching and the .gitignore lines himo writes."""

from __future__ import annotations

from pathlib import Path

from himo.workspace.gitignore import ignore_target, unignore_target
from himo.workspace.ignore import TEMPLATE, load_ignore
from tests.conftest import git, write


def test_no_ignore_file_or_only_comments_ignores_nothing(tmp_path: Path) -> None:
    assert load_ignore(tmp_path, tmp_path / "d") is None
    write(tmp_path / ".himoignore", TEMPLATE)
    assert load_ignore(tmp_path, tmp_path / "d") is None


def test_patterns_are_relative_to_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path / ".himoignore", "*.tmp\n!keep.tmp\ndata/scratch/\n/top.csv\n")
    ignored = load_ignore(tmp_path, tmp_path / "data")
    assert ignored is not None
    assert ignored("x.tmp", False)
    assert ignored("deep/er/x.tmp", False)
    assert not ignored("keep.tmp", False)
    assert ignored("scratch", True)
    assert not ignored("scratch", False)  # a file named scratch is not the folder
    assert not ignored("sub/scratch", True)  # anchored: only data/scratch/
    assert not ignored("top.csv", False)  # /top.csv is the root's, not data/top.csv
    other = load_ignore(tmp_path, tmp_path / "other")
    assert other is not None and not other("scratch", True)


def test_ignore_and_unignore_target(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path / "sub" / ".gitignore", "*.log")  # no final newline
    target = write(tmp_path / "sub" / "my data.csv", "x")
    assert ignore_target(target) == tmp_path / "sub" / ".gitignore"
    assert ignore_target(target) is None  # already there
    assert (tmp_path / "sub" / ".gitignore").read_text() == "*.log\n/my\\ data.csv\n"
    assert git(tmp_path, "check-ignore", "sub/my data.csv").strip() == "sub/my data.csv"
    assert unignore_target(target) == tmp_path / "sub" / ".gitignore"
    assert unignore_target(target) is None
    assert (tmp_path / "sub" / ".gitignore").read_text() == "*.log\n"


def test_unignore_deletes_a_gitignore_it_empties(tmp_path: Path) -> None:
    target = write(tmp_path / "a.bin", "x")
    ignore_target(target)
    assert (tmp_path / ".gitignore").read_text() == "/a.bin\n"
    unignore_target(target)
    assert not (tmp_path / ".gitignore").exists()
