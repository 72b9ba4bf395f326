"""Finding pointer files with git: tracked, untracked and git-ignored ones, without searching
.himo/ or the folders that are tracked targets themselves."""

from __future__ import annotations

from pathlib import Path

from himo.workspace.repo import Repo
from himo.workspace.tracked import all_pointer_files
from tests.conftest import git, write

POINTER = "path: {name}\nhash: blake3\ndigest: {digest}\nsize: 1\n"


def pointer(folder: Path, name: str) -> None:
    write(folder / f"{name}.himo", POINTER.format(name=name, digest="a" * 64))


def test_pointer_files_in_ignored_folders_are_found_but_not_in_himo_or_targets(repo: Path):
    write(repo / ".gitignore", "scratch/\n/data\n*.log\n")
    pointer(repo, "committed")
    git(repo, "add", "committed.himo")
    pointer(repo / "new", "untracked")
    pointer(repo / "scratch" / "deep", "ignored")  # in an ignored folder
    pointer(repo / "scratch", "data")  # scratch/data is a tracked target ...
    pointer(repo / "scratch" / "data", "inside")  # ... whose files are never searched
    pointer(repo / "data", "not-searched")  # nor those of data/, beside data.himo
    pointer(repo, "data")
    write(repo / "noise.log", "x")
    pointer(repo / ".himo" / "cache" / "ab", "stray")  # the cache is never searched

    found = [p.relative_to(repo).as_posix() for p in all_pointer_files(Repo(repo))]

    assert found == ["committed.himo", "data.himo", "new/untracked.himo", "scratch/data.himo",
                     "scratch/deep/ignored.himo"]
