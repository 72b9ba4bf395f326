"""`himo gc` while a `himo fetch` runs, as two real processes: gc keeps the temp files of the live
fetch, and a fetch whose temp file is deleted says so instead of blaming the remote."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.helpers import cache_temp_files
from tests.conftest import Himo, write
from tests.remotes.helpers import cache_objects, digest_of, errors_of

BIG = 20 * 1024 * 1024  # above the 16 MiB of objects.hashing.MMAP_THRESHOLD: fetched through a temp file
MODELS = 6


@pytest.fixture
def pushed(repo: Path, himo: Himo, tmp_path: Path) -> set[str]:
    """Six big files added and pushed to a folder remote, then gone from the cache and workspace;
    and one unused object in the cache, so that gc has something to delete."""
    for i in range(MODELS):
        write(repo / "models" / f"m{i}.bin", os.urandom(BIG))
    himo("add", "models")
    himo("remote", "add", "-d", "store", str(tmp_path / "remote"))
    himo("push")
    wanted = cache_objects(repo)
    for oid in wanted:
        path = repo / ".himo" / "cache" / oid[:2] / oid[2:]
        if path.stat().st_size >= BIG:
            path.unlink()
    write(repo / "unused.txt", b"unused")
    himo("add", "unused.txt")
    himo("remove", "unused.txt.himo")
    return wanted


@pytest.fixture
def fetch(repo: Path) -> Iterator[subprocess.Popen[str]]:
    """`himo fetch -j 1` in its own process group (its workers too); killed if the test fails."""
    proc = subprocess.Popen([sys.executable, "-m", "himo", "fetch", "-j", "1"], cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def stopped_with_a_temp_file(repo: Path, proc: subprocess.Popen[str]) -> Path:
    """Wait until the fetch writes a temp file into the cache, then stop its process group there."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"fetch ended before a temp file was seen: {proc.stderr.read()}"
        if cache_temp_files(repo):
            os.killpg(proc.pid, signal.SIGSTOP)
            found = cache_temp_files(repo)  # it may have been renamed into place meanwhile
            if found:
                return found[0]
            os.killpg(proc.pid, signal.SIGCONT)
    raise AssertionError("no temp file appeared in the cache")


def finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_gc_keeps_the_temp_files_of_a_live_fetch(repo: Path, himo: Himo, pushed: set[str], fetch):
    temp = stopped_with_a_temp_file(repo, fetch)

    gc = himo("gc", "-w", "-f")

    assert gc.stdout == "Removed 1 object(s)\n"
    assert errors_of(gc.stderr) == [
        "Warning: temporary files in .himo/cache were kept: another himo process is writing to the cache"
        " (a later gc clears what it leaves)"]
    assert temp.exists()
    code, out, err = finished(fetch)
    assert (code, errors_of(err)) == (0, [])
    assert out == f"Fetched {MODELS} object(s) from store\n"
    assert cache_objects(repo) == pushed and digest_of(b"unused") not in cache_objects(repo)
    assert himo("fsck").stdout == f"Checked {len(pushed)} objects, 0 corrupted\n"
    assert cache_temp_files(repo) == []


def test_a_fetch_whose_temp_file_vanishes_does_not_blame_the_remote(repo: Path, pushed: set[str], fetch):
    temp = stopped_with_a_temp_file(repo, fetch)
    temp.unlink()  # as an older himo's gc did

    code, _, err = finished(fetch)

    assert code == 1
    lines = errors_of(err)
    assert re.fullmatch(rf"Error: cannot write object [0-9a-f]{{12}} into the cache: No such file or"
                        rf" directory \({re.escape(str(temp))}\)", lines[0]), lines
    assert lines[1:] == ["Hint: another process deleted it (an older himo's gc, or by hand); run the command"
                         " again"]
