"""What a killed command leaves in the workspace is reported by status and cleaned by the next
add, commit, checkout or gc, which say what they cleaned; a live command's temp files are kept.

The leftovers are made by real kill -9 of a `himo checkout` subprocess, in every cache type.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.helpers import digest_of, object_path, tree_bytes
from tests.conftest import Himo, git, write

CACHE_TYPES = ["copy", "hardlink", "symlink"]
TEMP = r"\.himo-tmp-\d+-[0-9a-f]{12}"


def _checkout_killed_when(repo: Path, ready, *args: str) -> None:  # type: ignore[no-untyped-def]
    """Start `himo checkout ARGS` and kill -9 it as soon as `ready()` is true."""
    proc = subprocess.Popen([sys.executable, "-m", "himo", "checkout", *args], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ready() and proc.poll() is None:
        pass
    proc.kill()
    assert proc.wait() == -9, "checkout ended before it could be killed"


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".himo-tmp-" in p.name)


@pytest.mark.parametrize("cache_type", CACHE_TYPES)
def test_killed_checkout_of_a_folder_leaves_a_temp_folder_that_the_next_checkout_removes(
        repo: Path, himo: Himo, cache_type: str) -> None:
    himo("config", "cache.type", cache_type)
    for i in range(3000):
        write(repo / "d" / f"s{i % 9}" / f"f{i}.bin", os.urandom(200))
    want = tree_bytes(repo / "d")
    himo("add", "d")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    shutil.rmtree(repo / "d")

    def half_built() -> bool:
        staging = _temps(repo)
        return bool(staging) and sum(len(files) for _, _, files in os.walk(staging[0])) > 300

    _checkout_killed_when(repo, half_built)
    [staging] = _temps(repo)
    assert re.fullmatch(rf"\.d{TEMP}", staging.name)
    assert git(repo, "status", "--porcelain", "--untracked-files=all").count(staging.name) > 0

    status = himo("status").stdout.splitlines()
    assert status == ["d:", "    deleted", f"    left by an interrupted command: {staging.name}",
                      "    (run `himo checkout d` or `himo gc` to clean them up)"]
    out = himo("checkout", "d").stdout.splitlines()

    assert re.fullmatch(rf"Cleaned up after an interrupted command: removed {re.escape(staging.name)}/"
                        r" \(\d+\.\d kB\)", out[0]), out
    assert out[1:] == ["Restored d (3000 written, 0 removed)"]
    assert _temps(repo) == []
    assert tree_bytes(repo / "d") == want
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert himo("status").stdout == "Everything is up to date.\n"


def test_half_written_file_inside_a_tracked_folder_is_reported_and_gc_removes_it(
        repo: Path, himo: Himo) -> None:
    """Copy mode: a large file is being copied under its temp name when checkout is killed (in
    link modes a temp name lives for one system call; the kill tests of add leave those)."""
    himo("config", "cache.type", "copy")
    big = os.urandom(96 * 1024 * 1024)
    write(repo / "d" / "big.bin", big)
    write(repo / "d" / "small.txt", "v1\n")
    himo("add", "d")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    himo("unprotect", "d")
    write(repo / "d" / "big.bin", b"v2")
    himo("commit", "d")
    git(repo, "commit", "-qam", "v2")

    git(repo, "checkout", "-q", "HEAD~", "--", "d.himo")  # back to v1: big.bin is copied
    _checkout_killed_when(repo, lambda: bool(_temps(repo / "d")), "d")
    left = [p.name for p in _temps(repo / "d")]
    assert len(left) == 1 and re.fullmatch(rf"\.big\.bin{TEMP}", left[0]), left

    lines = himo("status").stdout.splitlines()
    assert f"    left by an interrupted command: d/{left[0]}" in lines
    assert lines[-1] == "    (run `himo checkout d` or `himo gc` to clean them up)"
    out = himo("gc", "--all-branches", "-f").stdout.splitlines()

    assert re.fullmatch(rf"Cleaned up after an interrupted command: removed d/{re.escape(left[0])}"
                        r" \(\d+(\.\d)? [kM]?B\)", out[0]), out
    assert _temps(repo / "d") == []
    himo("checkout", "d")
    assert (repo / "d" / "big.bin").read_bytes() == big
    assert himo("status").stdout == "Everything is up to date.\n"


def _zombie() -> subprocess.Popen[bytes]:
    """A child that has exited and is not reaped yet: its pid still exists, as a zombie (as the
    forked workers of a killed himo until their new parent reaps them)."""
    proc = subprocess.Popen(["true"])
    while Path(f"/proc/{proc.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z":
        pass
    return proc


def test_temp_file_of_a_live_command_is_kept(repo: Path, himo: Himo) -> None:
    write(repo / "d" / "a.txt", "a\n")
    himo("add", "d")
    live = write(repo / "d" / f".a.txt.himo-tmp-{os.getpid()}-0123456789ab", "being written")
    zombie = _zombie()
    dead = write(repo / "d" / f".a.txt.himo-tmp-{zombie.pid}-0123456789ab", "abandoned")
    old = write(repo / f".d.himo-tmp-{'ab' * 6}" / "x", "an older himo's, no pid")

    assert himo("status").stdout.splitlines()[1:3] == [
        f"    left by an interrupted command: {old.parent.name}",
        f"    left by an interrupted command: d/{dead.name}",
    ]
    out = himo("gc", "-w", "-f").stdout.splitlines()

    assert out[:2] == [f"Cleaned up after an interrupted command: removed {old.parent.name}/ (23 B)",
                       f"Cleaned up after an interrupted command: removed d/{dead.name} (9 B)"]
    assert live.read_text() == "being written" and not dead.exists() and not old.parent.exists()
    assert himo("status").stdout == "Everything is up to date.\n"
    zombie.wait()


@pytest.mark.parametrize("cache_type", ["hardlink", "symlink"])
def test_link_left_under_a_temp_name_is_put_back_by_the_next_add(
        repo: Path, himo: Himo, cache_type: str) -> None:
    """An older himo moved a file into the cache, and was killed while linking it back: the
    workspace has the link only under its temp name. The next add puts it back in place."""
    himo("config", "cache.type", cache_type)
    write(repo / "d" / "a.txt", "a\n")
    write(repo / "d" / "b.txt", "b\n")
    himo("add", "d")
    obj = object_path(repo, digest_of(b"b\n"))
    (repo / "d" / "b.txt").unlink()
    hidden = repo / "d" / f".b.txt.himo-tmp-{'cd' * 6}"
    hidden.symlink_to(obj) if cache_type == "symlink" else os.link(obj, hidden)

    out = himo("add", "d").stdout.splitlines()

    assert out[0] == f"Cleaned up after an interrupted command: restored d/b.txt (from d/{hidden.name})"
    assert out[1].startswith("Unchanged d (2 files, 4 bytes, ")
    assert tree_bytes(repo / "d") == {"a.txt": b"a\n", "b.txt": b"b\n"}
    himo("gc", "-w", "-f")
    assert obj.read_bytes() == b"b\n"


@pytest.mark.parametrize("cache_type", CACHE_TYPES)
def test_remove_cleans_what_an_interrupted_command_left_in_its_target(
        repo: Path, himo: Himo, cache_type: str) -> None:
    """Once the pointer is gone nothing finds a tracked folder's temp files again: remove cleans
    them first (found by the fault campaign: remove killed in hardlink mode, then run again)."""
    himo("config", "cache.type", cache_type)
    write(repo / "d" / "a.txt", "a\n")
    himo("add", "d")
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no live process holds: its temp files are stale
    left = repo / "d" / f".a.txt.himo-tmp-{dead.pid}-{'0' * 12}"
    write(left, "half")

    out = himo("remove", "d.himo").stdout.splitlines()

    assert out == [f"Cleaned up after an interrupted command: removed d/{left.name} (4 B)", "Removed d.himo"]
    assert _temps(repo / "d") == [] and (repo / "d" / "a.txt").read_text() == "a\n"
