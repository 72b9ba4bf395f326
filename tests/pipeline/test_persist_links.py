"""`persist: true` outputs with a linking cache: a stage that appends to its persistent output
must never write through the link into the cached version (every cache type). The older version
stays intact (fsck) and can be checked out from the older himo.lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Himo, git, write

PIPELINE = """\
stages:
  grow:
    cmd: echo run >> history.txt && mkdir -p ckpt && echo step >> ckpt/steps.txt
    outs:
      - history.txt: {persist: true}
      - ckpt: {persist: true}
    always_changed: true
"""


@pytest.mark.parametrize("cache_type", ["copy", "hardlink", "symlink"])
def test_persistent_outputs_are_unprotected_before_the_stage_runs(repo: Path, himo: Himo,
                                                                  cache_type: str, tmp_path: Path) -> None:
    himo("config", "cache.type", cache_type)
    write(repo / "himo.yaml", PIPELINE)
    himo("repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "version 1")

    himo("repro")

    assert (repo / "history.txt").read_text() == "run\nrun\n"
    assert (repo / "ckpt" / "steps.txt").read_text() == "step\nstep\n"
    assert himo("fsck").stdout == "Checked 6 objects, 0 corrupted\n"  # 2 versions of 2 files + manifest
    git(repo, "commit", "-qam", "version 2")
    git(repo, "checkout", "-q", "HEAD~", "--", "himo.lock")
    himo("checkout", "history.txt", "ckpt")
    assert (repo / "history.txt").read_text() == "run\n"
    assert (repo / "ckpt" / "steps.txt").read_text() == "step\n"
    git(repo, "checkout", "-q", "HEAD", "--", "himo.lock")
    himo("checkout", "history.txt", "ckpt")
    assert (repo / "history.txt").read_text() == "run\nrun\n"
    assert himo("status", "history.txt", "ckpt").stdout == "Everything is up to date.\n"
    himo("gc", "--all-commits", "-f")
    assert himo("fsck").stdout == "Checked 6 objects, 0 corrupted\n"  # both versions kept
    himo("remote", "add", "-d", "store", str(tmp_path / "remote"))
    assert himo("push").stdout == "Pushed 3 object(s) to store (0 already there)\n"  # version 2
