"""Thousands of small files: add, status, checkout, push and pull run on forked workers
(objects.parallel.run_forked, from FORK_MIN files on), end to end through the CLI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from himo.objects.parallel import FORK_MIN
from tests.api.helpers import cache_temp_files, tree_bytes
from tests.conftest import Himo

pytestmark = pytest.mark.slow  # forked workers over thousands of files, in a real process
COUNT = FORK_MIN + 500
DONE_WITHIN = 120  # seconds: a worker pool that never finishes fails the test, never hangs it


def _make_files(root: Path) -> dict[str, bytes]:
    files = {f"d{i % 25:02d}/f{i:05d}.bin": os.urandom(64) + str(i).encode() for i in range(COUNT)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_add_status_checkout_push_pull_of_thousands_of_files(repo: Path, himo: Himo, tmp_path: Path) -> None:
    def run(*args: str) -> str:
        proc = himo(*args, timeout=DONE_WITHIN)
        assert proc.stderr == ""  # no worker's traceback either
        return proc.stdout

    files = _make_files(repo / "data")
    run("add", "data", "-j", "2")
    assert run("status") == "Everything is up to date.\n"
    assert len(list((repo / ".himo" / "cache").glob("??/*"))) == COUNT + 1  # and the manifest

    shutil.rmtree(repo / "data")
    assert run("checkout", "-j", "2") == f"Restored data ({COUNT} written, 0 removed)\n"
    assert tree_bytes(repo / "data") == files
    assert run("status") == "Everything is up to date.\n"

    himo("remote", "add", "-d", "store", str(tmp_path / "store"))
    run("push", "-j", "2")
    shutil.rmtree(repo / ".himo" / "cache")
    shutil.rmtree(repo / "data")
    run("pull", "-j", "2")
    assert tree_bytes(repo / "data") == files
    assert run("status") == "Everything is up to date.\n"
    assert cache_temp_files(repo) == []
    assert [p.name for p in repo.iterdir() if "himo-tmp" in p.name] == []
