"""`himo remove PATH.himo`: stop tracking; the pointer and its .gitignore line go, the data stays."""

from __future__ import annotations

import os
from pathlib import Path

from tests.api.helpers import assert_error, digest_of, drop_root_powers, is_read_only, object_path, snapshot
from tests.conftest import Himo, git, write


def test_remove_file_pointer_keeps_data_and_cache(repo: Path, himo: Himo) -> None:
    write(repo / "data.csv", "a,b\n")
    himo("add", "data.csv")
    assert himo("remove", "data.csv.himo").stdout == "Removed data.csv.himo\n"
    assert not (repo / "data.csv.himo").exists()
    assert not (repo / ".gitignore").exists()  # its only line is gone, so is the file
    assert (repo / "data.csv").read_bytes() == b"a,b\n"
    assert not is_read_only(repo / "data.csv")
    assert object_path(repo, digest_of(b"a,b\n")).exists()
    assert "?? data.csv" in git(repo, "status", "--porcelain", "-uall").splitlines()
    assert himo("status").stdout == "Nothing is tracked yet: try `himo add PATH`.\n"


def test_remove_keeps_other_gitignore_lines(repo: Path, himo: Himo) -> None:
    write(repo / "data" / ".gitignore", "*.log\n")
    write(repo / "data" / "a.csv", "a\n")
    write(repo / "data" / "b.csv", "b\n")
    himo("add", "data/a.csv", "data/b.csv")
    assert (repo / "data" / ".gitignore").read_text() == "*.log\n/a.csv\n/b.csv\n"
    himo("remove", "data/a.csv.himo")
    assert (repo / "data" / ".gitignore").read_text() == "*.log\n/b.csv\n"
    assert (repo / "data" / "b.csv.himo").exists()


def test_remove_directory_by_its_path(repo: Path, himo: Himo) -> None:
    write(repo / "d" / "x.txt", "x\n")
    write(repo / "keep.txt", "k\n")
    himo("add", "d", "keep.txt")
    assert himo("remove", "d").stdout == "Removed d.himo\n"
    assert not (repo / "d.himo").exists()
    assert (repo / ".gitignore").read_text() == "/keep.txt\n"
    assert (repo / "d" / "x.txt").read_text() == "x\n"


def test_remove_unknown_pointer_is_an_error(repo: Path, himo: Himo) -> None:
    write(repo / "data.csv", "a\n")
    himo("add", "data.csv")
    before = snapshot(repo)
    proc = himo("remove", "data.csv.himo", "nope.himo", ok=False)
    assert_error(proc, "nope.himo: no such pointer file")
    assert "Hint: give the PATH.himo file of a tracked path" in proc.stderr
    assert snapshot(repo) == before


def test_remove_when_the_hardlinked_object_is_gone(repo: Path, himo: Himo) -> None:
    himo("config", "cache.type", "hardlink")
    write(repo / "model.bin", "m\n")
    himo("add", "model.bin")
    object_path(repo, digest_of(b"m\n")).unlink()
    assert os.stat(repo / "model.bin").st_nlink == 1
    assert is_read_only(repo / "model.bin")
    himo("remove", "model.bin.himo")
    assert not is_read_only(repo / "model.bin")
    assert (repo / "model.bin").read_bytes() == b"m\n"


def test_failed_remove_keeps_the_pointer_so_that_running_it_again_finishes(repo: Path, himo: Himo) -> None:
    """The pointer goes last: an error (or a kill) before it leaves a pointer that `himo remove`
    finds again, never an untracked path that git still ignores."""
    write(repo / "a.txt", "a\n")
    himo("add", "a.txt")
    (repo / ".gitignore").chmod(0)
    proc = himo("remove", "a.txt.himo", ok=False, preexec_fn=drop_root_powers)
    (repo / ".gitignore").chmod(0o644)

    assert_error(proc, f"cannot update {repo / '.gitignore'}: Permission denied")
    assert proc.stderr.splitlines()[1] == \
        "Hint: check the permissions of that file and its folder, then run the command again"
    assert (repo / "a.txt.himo").exists()
    assert himo("remove", "a.txt.himo").stdout == "Removed a.txt.himo\n"
    assert not (repo / ".gitignore").exists()
    assert (repo / "a.txt").read_bytes() == b"a\n"
