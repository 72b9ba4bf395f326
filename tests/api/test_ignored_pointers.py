"""Pointers inside a git-ignored folder track data like any other: status, gc, checkout, push and
pull see them, in every cache type."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Himo, git, make_tree, write
from tests.remotes.helpers import cache_objects, digest_of

CACHE_TYPES = ["copy", "hardlink", "symlink"]


def tree_bytes(root: Path) -> dict[str, bytes]:
    """The tracked files' bytes (not the pointers and .gitignore files himo writes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix != ".himo" and p.name != ".gitignore"}


@pytest.fixture
def ignored(repo: Path, himo: Himo) -> Path:
    """scratch/ is git-ignored (by the repository's .gitignore) and holds scratch/data (a tracked
    folder) and scratch/deep/model.bin (a tracked file)."""
    write(repo / ".gitignore", "scratch/\n")
    make_tree(repo / "scratch" / "data", files=6)
    write(repo / "scratch" / "deep" / "model.bin", b"model v1")
    return repo / "scratch"


@pytest.mark.parametrize("cache_type", CACHE_TYPES)
def test_status_checkout_and_gc_see_pointers_in_an_ignored_folder(
        repo: Path, himo: Himo, ignored: Path, cache_type: str):
    himo("config", "cache.type", cache_type)
    expected = tree_bytes(ignored)
    himo("add", "scratch/data", "scratch/deep/model.bin")
    assert himo("status").stdout == "Everything is up to date.\n"
    kept = cache_objects(repo)
    assert len(kept) == 6 + 1 + 1  # the files, the manifest, the model

    assert himo("gc", "-w", "-f").stdout == "Nothing to remove.\n"
    assert cache_objects(repo) == kept

    shutil.rmtree(ignored / "data")
    (ignored / "deep" / "model.bin").unlink()
    assert himo("status").stdout == "scratch/data:\n    deleted\nscratch/deep/model.bin:\n    deleted\n"
    assert himo("checkout", "scratch").stdout == (
        "Restored scratch/data (6 written, 0 removed)\n"
        "Restored scratch/deep/model.bin (1 written, 0 removed)\n")
    assert tree_bytes(ignored) == expected
    assert himo("status").stdout == "Everything is up to date.\n"

    himo("remove", "scratch/deep/model.bin.himo")
    assert himo("gc", "-w", "-f").stdout == "Removed 1 object(s)\n"
    assert cache_objects(repo) == kept - {digest_of(b"model v1")}


def test_push_and_pull_see_pointers_in_an_ignored_folder(
        repo: Path, himo: Himo, ignored: Path, tmp_path: Path):
    expected = tree_bytes(ignored)
    himo("add", "scratch/data", "scratch/deep/model.bin")
    himo("remote", "add", "-d", "store", str(tmp_path / "remote"))
    assert himo("push").stdout == "Pushed 8 object(s) to store (0 already there)\n"

    shutil.rmtree(repo / ".himo" / "cache")
    shutil.rmtree(ignored / "data")
    (ignored / "deep" / "model.bin").unlink()
    himo("pull")
    assert tree_bytes(ignored) == expected
    assert himo("status").stdout == "Everything is up to date.\n"


def test_add_says_to_force_git_add_for_a_pointer_in_an_ignored_folder(repo: Path, himo: Himo, ignored: Path):
    """A plain `git add` refuses an ignored pointer, and a clone would not know the data."""
    write(repo / "top.txt", "top\n")
    out = himo("add", "scratch/deep/model.bin", "top.txt").stdout
    assert out.splitlines()[2:] == [
        "To track the changes with git, run:",
        "  git add top.txt.himo .gitignore",
        "  git add -f scratch/deep/model.bin.himo scratch/deep/.gitignore   # in a git-ignored folder"]
    git(repo, "add", "top.txt.himo", ".gitignore")
    git(repo, "add", "-f", "scratch/deep/model.bin.himo", "scratch/deep/.gitignore")
    (ignored / "deep" / "model.bin").chmod(0o644)
    write(ignored / "deep" / "model.bin", b"model v2")
    assert himo("commit").stdout.splitlines()[-2:] == [  # a committed pointer is tracked: plain git add
        "To track the changes with git, run:",
        "  git add scratch/deep/model.bin.himo scratch/deep/.gitignore"]
