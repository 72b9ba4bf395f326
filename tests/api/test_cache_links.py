"""Workspace files that are links into the cache (cache.type hardlink or symlink) are never moved.

Adding or committing such a file again, after `.himo/state.db` was removed or after a kill -9
in the middle of an add or commit, must recognise the link as already stored: every byte stays
in the workspace and in the cache, status tells the truth, and gc keeps what is used. Each test
runs in every cache type.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.helpers import cache_temp_files, digest_of, object_path, tree_bytes
from tests.conftest import Himo, write

CACHE_TYPES = ["copy", "hardlink", "symlink"]
ONLY = b"the only copy\n"


def _objects(repo: Path) -> list[Path]:
    return [p for p in (repo / ".himo" / "cache").glob("??/*") if not p.name.startswith(".himo-tmp-")]


def _assert_cache_sound(repo: Path, himo: Himo) -> None:
    """Every object is a plain file holding the bytes its name says (fsck agrees)."""
    objects = _objects(repo)
    for obj in objects:
        assert not obj.is_symlink(), obj
        assert digest_of(obj.read_bytes()) == obj.parent.name + obj.name, obj
    assert himo("fsck").stdout == f"Checked {len(objects)} objects, 0 corrupted\n"


def _assert_all_kept(repo: Path, himo: Himo, want: dict[str, bytes], target: str = "d") -> None:
    """status is clean, gc -w -f keeps every object, and a checkout from the cache alone
    gives back every byte."""
    assert himo("status").stdout == "Everything is up to date.\n"
    himo("gc", "-w", "-f")
    _assert_cache_sound(repo, himo)
    shutil.rmtree(repo / target)
    himo("checkout", target)
    assert tree_bytes(repo / target) == want
    assert himo("status").stdout == "Everything is up to date.\n"


@pytest.mark.parametrize("cache_type", CACHE_TYPES)
def test_add_again_after_state_db_is_removed(repo: Path, himo: Himo, cache_type: str) -> None:
    himo("config", "cache.type", cache_type)
    write(repo / "a.txt", ONLY)
    for i in range(5):
        write(repo / "d" / f"f{i}.bin", os.urandom(300))
    write(repo / "d" / "same.bin", ONLY)  # two names for one object
    want = tree_bytes(repo / "d")
    himo("add", "a.txt", "d")

    (repo / ".himo" / "state.db").unlink()
    proc = himo("add", "a.txt", "d")
    (repo / ".himo" / "state.db").unlink()
    himo("commit")

    assert proc.stdout.splitlines()[:2] == [
        f"Unchanged a.txt (14 bytes, {digest_of(ONLY)[:12]})",
        f"Unchanged d (6 files, {sum(map(len, want.values()))} bytes, "
        f"{(repo / 'd.himo').read_text().split('digest: ')[1][:12]})",
    ]
    assert (repo / "a.txt").read_bytes() == ONLY
    assert tree_bytes(repo / "d") == want
    assert cache_temp_files(repo) == []
    if cache_type == "symlink":
        assert os.readlink(repo / "a.txt") == str(object_path(repo, digest_of(ONLY)))
    _assert_all_kept(repo, himo, want)


def _many_files(folder: Path, count: int, tag: bytes) -> dict[str, bytes]:
    for i in range(count):
        write(folder / f"s{i % 7}" / f"f{i}.bin", os.urandom(64) + tag + str(i).encode())
    return tree_bytes(folder)


def _without_temps(files: dict[str, bytes]) -> dict[str, bytes]:
    return {rel: data for rel, data in files.items() if ".himo-tmp-" not in rel}


def _kill_midway(repo: Path, args: list[str], count: int, progress) -> None:  # type: ignore[no-untyped-def]
    """Run `himo ARGS` and kill -9 it once `progress()` reaches a third of `count`."""
    proc = subprocess.Popen([sys.executable, "-m", "himo", *args], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while progress() < count // 3 and proc.poll() is None:
        time.sleep(0.01)  # each look lists the cache: looking nonstop took a core from himo's workers
    proc.kill()
    assert proc.wait() == -9, "the command ended before it could be killed midway"


COUNT = 3000  # above objects.parallel.FORK_MIN: files are stored by forked workers


@pytest.mark.parametrize("cache_type", CACHE_TYPES)
def test_kill_during_add_then_add_again_loses_nothing(repo: Path, himo: Himo, cache_type: str) -> None:
    himo("config", "cache.type", cache_type)
    want = _many_files(repo / "d", COUNT, b"v1")

    _kill_midway(repo, ["add", "d"], COUNT, lambda: len(_objects(repo)))
    assert _without_temps(tree_bytes(repo / "d")) == want  # nothing vanished from the workspace

    himo("add", "d")
    assert tree_bytes(repo / "d") == want
    assert (repo / "d.himo").read_text().count(f"nfiles: {COUNT}") == 1
    _assert_all_kept(repo, himo, want)


@pytest.mark.parametrize("cache_type", CACHE_TYPES)
def test_kill_during_commit_then_commit_again_loses_nothing(repo: Path, himo: Himo,
                                                            cache_type: str) -> None:
    himo("config", "cache.type", cache_type)
    _many_files(repo / "d", COUNT, b"v1")
    himo("add", "d")
    himo("unprotect", "d")
    want = _many_files(repo / "d", COUNT, b"v2")
    before = len(_objects(repo))

    _kill_midway(repo, ["commit", "d"], COUNT, lambda: len(_objects(repo)) - before)
    (repo / ".himo" / "state.db").unlink()  # and the stat cache is lost too
    assert _without_temps(tree_bytes(repo / "d")) == want

    himo("commit", "d")
    assert tree_bytes(repo / "d") == want
    _assert_all_kept(repo, himo, want)


def test_adding_content_already_linked_elsewhere_keeps_that_link_valid(repo: Path, himo: Himo) -> None:
    """Symlink mode: `b` already links to the object of "same"; adding a regular file `a` with the
    same bytes links `a` to that object too, and never replaces it under `b`'s feet."""
    himo("config", "cache.type", "symlink")
    write(repo / "d" / "sub" / "b.txt", "same\n")
    himo("add", "d")
    write(repo / "d" / "a.txt", "same\n")  # stored first: a folder's files come before its folders'
    (repo / ".himo" / "state.db").unlink()

    out = himo("add", "d", "-j", "1").stdout

    assert out.startswith("Recorded d (2 files, 10 bytes, ")
    obj = str(object_path(repo, digest_of(b"same\n")))
    assert [os.readlink(repo / "d" / name) for name in ("a.txt", "sub/b.txt")] == [obj, obj]
    _assert_cache_sound(repo, himo)
