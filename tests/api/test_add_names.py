"""File names himo cannot write back (issue 12): a line break or carriage return in a name wrote a
pointer himo could not read (breaking every command) and a stray .gitignore pattern. Such names,
and names whose bytes are not UTF-8, are refused at `himo add` naming the file, and nothing is
written; a `.git` folder inside a tracked directory is left out, as git does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.api.helpers import assert_error, snapshot
from tests.conftest import Himo, git, write

BAD_NAMES = {
    "line-break": ("a\nb.txt", "contains a line break"),
    "carriage-return": ("a\rb.txt", "contains a carriage return"),
    "not-utf8": (os.fsdecode(b"caf\xe9.txt"), "is not valid UTF-8"),
}


@pytest.mark.parametrize("case", BAD_NAMES)
def test_add_of_a_file_with_such_a_name_is_refused(repo: Path, himo: Himo, case: str) -> None:
    name, problem = BAD_NAMES[case]
    write(repo / name, "data\n")
    before = snapshot(repo)
    proc = himo("add", name, ok=False)
    assert_error(proc, f"cannot track {name!r}: its name {problem}")
    assert proc.stderr.splitlines()[1] == "Hint: rename it, then add it"
    assert snapshot(repo) == before
    assert himo("status").stdout == "Nothing is tracked yet: try `himo add PATH`.\n"


@pytest.mark.parametrize("case", BAD_NAMES)
def test_add_of_a_directory_holding_such_a_name_is_refused(repo: Path, himo: Himo, case: str) -> None:
    name, problem = BAD_NAMES[case]
    write(repo / "data" / "good.txt", "good\n")
    write(repo / "data" / "sub" / name, "bad\n")
    before = snapshot(repo, skip={p for p in snapshot(repo) if p.startswith(".himo/cache/")})
    proc = himo("add", "data", ok=False)
    shown = f"data/sub/{name}"
    assert_error(proc, f"cannot track {shown!r}: its name {problem}")
    assert proc.stderr.splitlines()[1] == "Hint: rename it, or list it in .himoignore"
    assert not (repo / "data.himo").exists()
    assert not (repo / ".gitignore").exists() or "/data" not in (repo / ".gitignore").read_text()
    after = snapshot(repo, skip={p for p in snapshot(repo) if p.startswith(".himo/cache/")})
    assert after == before


def test_himoignore_lets_the_rest_of_the_directory_be_tracked(repo: Path, himo: Himo) -> None:
    write(repo / "data" / "good.txt", "good\n")
    write(repo / "data" / "a\nb.txt", "bad\n")
    write(repo / ".himoignore", "a?b.txt\n")
    himo("add", "data")
    assert "nfiles: 1\n" in (repo / "data.himo").read_text()
    assert himo("status").stdout == "Everything is up to date.\n"


def test_a_stage_output_with_such_a_name_is_refused(repo: Path, himo: Himo) -> None:
    write(repo / "himo.yaml", 'stages:\n  s:\n    cmd: touch x\n    outs: ["a\\nb"]\n')
    proc = himo("repro", ok=False)
    assert_error(proc, "himo.yaml:2: stage 's': outs: 'a\\nb' contains a line break")
    assert not (repo / ".gitignore").exists()


def test_a_stage_output_folder_holding_such_a_name_is_refused(repo: Path, himo: Himo) -> None:
    write(repo / "himo.yaml", "stages:\n  s:\n    cmd: mkdir -p out && printf x > \"out/a$(printf '\\r')b\"\n"
                              "    outs: [out]\n")
    proc = himo("repro", ok=False)
    assert proc.returncode == 1, proc.stderr
    assert "out/a\\rb': its name contains a carriage return" in proc.stderr.splitlines()[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (repo / "himo.lock").exists()


def test_a_git_folder_inside_a_tracked_directory_is_left_out(repo: Path, himo: Himo) -> None:
    write(repo / "data" / "good.txt", "good\n")
    (repo / "data" / "clone").mkdir()
    git(repo / "data" / "clone", "init", "-q")
    write(repo / "data" / "clone" / "file.txt", "in the clone\n")
    himo("add", "data")
    assert "nfiles: 2\n" in (repo / "data.himo").read_text()
    assert himo("status").stdout == "Everything is up to date.\n"
