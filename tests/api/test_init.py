"""`himo init`: in a git repository, outside one, twice, and `-f`."""

from __future__ import annotations

from pathlib import Path

import pytest

from himo.api.init import INNER_GITIGNORE, init
from himo.errors import AlreadyInitError
from himo.workspace.ignore import TEMPLATE
from tests.api.helpers import assert_error, object_path, pointer_doc
from tests.conftest import Himo, git, write


def test_init_in_git_repo_creates_himo_dir_and_ignore_file(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    proc = Himo(tmp_path)("init")
    assert proc.stdout.splitlines()[0] == f"Initialised himo repository in {tmp_path / '.himo'}"
    assert (tmp_path / ".himo" / "config").read_text() == ""
    assert (tmp_path / ".himo" / ".gitignore").read_text() == INNER_GITIGNORE
    assert (tmp_path / ".himoignore").read_text() == TEMPLATE
    untracked = git(tmp_path, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(untracked) == ["?? .himo/.gitignore", "?? .himo/config", "?? .himoignore"]


def test_init_in_a_subfolder_of_a_git_repo(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    sub = tmp_path / "project"
    sub.mkdir()
    Himo(sub)("init")
    assert (sub / ".himo").is_dir()
    assert not (tmp_path / ".himo").exists()


def test_init_outside_git_fails_and_creates_nothing(tmp_path: Path) -> None:
    proc = Himo(tmp_path)("init", ok=False)
    assert_error(proc, f"{tmp_path} is not inside a git repository")
    assert proc.stderr.splitlines()[1] == (
        "Hint: run `git init` first, or `himo init --no-scm` to use himo without git"
    )
    assert list(tmp_path.iterdir()) == []


def test_init_no_scm_works_outside_git(tmp_path: Path) -> None:
    proc = Himo(tmp_path)("init", "--no-scm")
    assert proc.returncode == 0
    assert "git add" not in proc.stdout
    assert (tmp_path / ".himo" / "config").is_file()
    assert (tmp_path / ".himoignore").is_file()


def test_init_twice_is_an_error(repo: Path, himo: Himo) -> None:
    proc = himo("init", ok=False)
    assert_error(proc, f"{repo} is already a himo repository")
    assert "Hint: use `himo init -f` to re-initialise it" in proc.stderr


def test_init_force_keeps_cache_config_and_ignore_file(repo: Path, himo: Himo) -> None:
    write(repo / "data.csv", "a,b\n1,2\n")
    himo("add", "data.csv")
    himo("config", "core.jobs", "3")
    write(repo / ".himoignore", "*.tmp\n")
    digest = object_path(repo, str(pointer_doc(repo / "data.csv.himo")["digest"]))
    assert (repo / ".himo" / "state.db").exists()

    himo("init", "-f")

    assert digest.read_bytes() == b"a,b\n1,2\n"
    assert himo("config", "core.jobs").stdout == "3\n"
    assert (repo / ".himoignore").read_text() == "*.tmp\n"
    assert not (repo / ".himo" / "state.db").exists()  # derived state is dropped
    assert himo("status").stdout == "Everything is up to date.\n"


def test_init_api_returns_the_repo_and_refuses_twice(tmp_path: Path) -> None:
    repo = init(tmp_path, no_scm=True)
    assert repo.root == tmp_path
    assert repo.himo_dir == tmp_path / ".himo"
    with pytest.raises(AlreadyInitError) as info:
        init(tmp_path, no_scm=True)
    assert info.value.message == f"{tmp_path} is already a himo repository"
    assert info.value.exit_code == 1
