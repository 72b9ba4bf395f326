"""Disk full and permission denied while adding: nothing half-written, the pointer untouched.

Disk full is real: the `himo add` process gets RLIMIT_FSIZE, so writing past it fails with
EFBIG (Python ignores SIGXFSZ). Permission denied is real too: the process loses the
capabilities that let root ignore permission bits.
"""

from __future__ import annotations

import os
import re
import resource
import stat
from pathlib import Path

import pytest

from tests.api.helpers import cache_temp_files, digest_of, drop_root_powers, object_path, snapshot
from tests.conftest import Himo, write

LIMIT = 1024 * 1024  # the largest file the `himo add` process may write


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _assert_cache_holds_only_whole_objects(repo: Path) -> None:
    cache = repo / ".himo" / "cache"
    assert cache_temp_files(repo) == []
    for obj in cache.glob("??/*"):
        assert digest_of(obj.read_bytes()) == obj.parent.name + obj.name


def _add_old_version(repo: Path, himo: Himo, name: str) -> tuple[bytes, int]:
    write(repo / name, b"old small content\n")
    himo("add", name)
    pointer = repo / f"{name}.himo"
    return pointer.read_bytes(), pointer.stat().st_mtime_ns


@pytest.mark.parametrize("size", [2 * LIMIT, 17 * LIMIT], ids=["read-whole", "streamed"])
def test_disk_full_while_adding_a_file(repo: Path, himo: Himo, size: int) -> None:
    old_pointer, old_mtime = _add_old_version(repo, himo, "model.bin")
    new = os.urandom(size)
    write(repo / "model.bin", new)

    proc = himo("add", "model.bin", ok=False, preexec_fn=_limit_file_size)

    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        "Error: cannot store model.bin: File too large",
        "Hint: free space in the cache's filesystem, then run the command again",
    ]
    assert not object_path(repo, digest_of(new)).exists()
    _assert_cache_holds_only_whole_objects(repo)
    pointer = repo / "model.bin.himo"
    assert (pointer.read_bytes(), pointer.stat().st_mtime_ns) == (old_pointer, old_mtime)
    assert (repo / "model.bin").read_bytes() == new
    assert "model.bin:\n    modified" in himo("status").stdout


def test_disk_full_while_adding_a_directory_keeps_only_whole_objects(repo: Path, himo: Himo) -> None:
    for i in range(20):
        write(repo / "d" / f"small{i}.bin", os.urandom(1000))
    write(repo / "d" / "huge.bin", os.urandom(2 * LIMIT))

    proc = himo("add", "d", ok=False, preexec_fn=_limit_file_size)

    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[0] == "Error: cannot store d: File too large"
    _assert_cache_holds_only_whole_objects(repo)
    assert not (repo / "d.himo").exists()
    assert not (repo / ".gitignore").exists()


def test_cache_not_writable_while_adding(repo: Path, himo: Himo) -> None:
    old_pointer, old_mtime = _add_old_version(repo, himo, "data.csv")
    write(repo / "data.csv", b"new content\n")
    cache = repo / ".himo" / "cache"
    (cache / "tmp").mkdir(exist_ok=True)
    for folder in (cache, cache / "tmp", *cache.glob("??")):
        folder.chmod(0o555)
    try:
        proc = himo("add", "data.csv", ok=False, preexec_fn=drop_root_powers)
    finally:
        for folder in (cache, cache / "tmp", *cache.glob("??")):
            folder.chmod(0o755)

    assert proc.returncode == 1, proc.stderr
    where = re.escape(str(cache))
    assert re.fullmatch(rf"Error: cannot store data\.csv: Permission denied \({where}/.+\)",
                        proc.stderr.splitlines()[0]), proc.stderr
    assert proc.stderr.splitlines()[1] == "Hint: check the permissions of the file and of .himo/cache"
    assert "Traceback" not in proc.stderr
    _assert_cache_holds_only_whole_objects(repo)
    assert not object_path(repo, digest_of(b"new content\n")).exists()
    pointer = repo / "data.csv.himo"
    assert (pointer.read_bytes(), pointer.stat().st_mtime_ns) == (old_pointer, old_mtime)


def test_unreadable_workspace_file(repo: Path, himo: Himo) -> None:
    write(repo / "secret.csv", "top secret\n")
    (repo / "secret.csv").chmod(0)
    before = snapshot(repo, skip={"secret.csv"})
    proc = himo("add", "secret.csv", ok=False, preexec_fn=drop_root_powers)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        "Error: cannot store secret.csv: Permission denied",
        "Hint: check the permissions of the file and of .himo/cache",
    ]
    assert snapshot(repo, skip={"secret.csv"}) == before
    assert not (repo / "secret.csv.himo").exists()


def test_lock_file_not_writable(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    lock = repo / ".himo" / "lock"
    lock.touch()
    lock.chmod(stat.S_IRUSR)
    proc = himo("add", "a.txt", ok=False, preexec_fn=drop_root_powers)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        f"Error: cannot take the repository lock {lock}: Permission denied",
        "Hint: check the permissions of .himo/ and of the files in it",
    ]
    assert not (repo / "a.txt.himo").exists()



def test_folder_of_the_pointer_not_writable(repo: Path, himo: Himo) -> None:
    write(repo / "sub" / "data.csv", "d\n")
    (repo / "sub").chmod(0o555)
    try:
        proc = himo("add", "sub/data.csv", ok=False, preexec_fn=drop_root_powers)
    finally:
        (repo / "sub").chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    where = re.escape(str(repo / "sub"))
    assert re.fullmatch(rf"Error: cannot store sub/data\.csv: Permission denied \({where}/.+\)",
                        proc.stderr.splitlines()[0]), proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in (repo / "sub").iterdir()) == ["data.csv"]
