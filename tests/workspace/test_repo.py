"""The repository: finding its root, the paths it accepts, and its lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from himo.errors import LockError, NotARepoError
from himo.workspace.repo import Repo
from tests.api.helpers import assert_error, snapshot
from tests.conftest import Himo, write


@contextmanager
def held_lock(repo: Path, pid: str) -> Iterator[None]:
    """Hold the repository lock as another himo process would: flock, then its pid."""
    fd = os.open(repo / ".himo" / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.pwrite(fd, pid.encode(), 0)
        yield
    finally:
        os.close(fd)


def test_add_fails_while_another_process_holds_the_lock(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    before = snapshot(repo)
    with held_lock(repo, str(os.getpid())):
        proc = himo("add", "a.txt", ok=False)
    assert_error(proc, f"another himo process (pid {os.getpid()}) is working in this repository")
    assert proc.stderr.splitlines()[1] == "Hint: wait for it to finish, then retry"
    assert snapshot(repo) == before
    himo("add", "a.txt")  # released: it works
    assert (repo / "a.txt.himo").exists()


def test_every_writing_command_respects_the_lock(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    write(repo / "b.txt", "b\n")
    himo("add", "a.txt", "b.txt")
    (repo / "b.txt").unlink()
    before = snapshot(repo)
    message = "another himo process (pid 4242) is working in this repository"
    with held_lock(repo, "4242"):
        for args in (["checkout"], ["commit", "a.txt"], ["remove", "a.txt.himo"], ["unprotect", "a.txt"]):
            assert_error(himo(*args, ok=False), message)
        assert himo("status").stdout == "b.txt:\n    deleted\n"  # reading needs no lock
    assert snapshot(repo) == before


def test_lock_without_a_pid(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    with held_lock(repo, ""):
        proc = himo("add", "a.txt", ok=False)
    assert_error(proc, "another himo process (pid unknown) is working in this repository")


def test_lock_api(repo: Path) -> None:
    first, second = Repo(repo), Repo(repo)
    with first.lock():
        assert (repo / ".himo" / "lock").read_text() == str(os.getpid())
        with pytest.raises(LockError) as info, second.lock():
            pass
        assert info.value.message == f"another himo process (pid {os.getpid()}) is working in this repository"
    with second.lock():  # released on exit
        pass


def test_find_from_a_subfolder_and_outside(repo: Path, tmp_path: Path) -> None:
    sub = repo / "a" / "b"
    sub.mkdir(parents=True)
    assert Repo.find(sub).root == repo
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(NotARepoError) as info:
        Repo.find(outside)
    assert info.value.message == f"not a himo repository (no .himo/ in {outside} or any parent)"


def test_resolve_accepts_inside_paths_only(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    r = Repo(repo)
    assert r.resolve("data/x.csv") == repo / "data" / "x.csv"
    assert r.resolve(str(repo / "y")) == repo / "y"
    for bad, message in (
        ("..", f"..: outside the repository {repo}"),
        ("/etc/passwd", f"/etc/passwd: outside the repository {repo}"),
        (".", ".: is the repository root itself"),
        (".himo/state.db", ".himo/state.db: inside .himo/, which himo manages itself"),
    ):
        with pytest.raises(Exception) as info:
            r.resolve(bad)
        assert str(info.value) == message
