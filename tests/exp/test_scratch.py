"""Scratch folders of isolated workspaces: which ones a new isolated workspace clears."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from himo.api.isolated import clean_scratch
from himo.workspace.repo import Repo


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_folder_being_made_is_kept_and_one_of_a_dead_maker_is_cleared(repo: Path) -> None:
    # A second scheduler made its folder and has not locked `.owner` yet: deleting it then made
    # that scheduler fail (FileNotFoundError on .owner) with two schedulers on one repository.
    base = repo / ".himo" / "tmp"
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        being_made = base / f"iso-{alive.pid}-0000aaaa"
        left_by_a_kill = base / f"iso-{dead_pid()}-0000bbbb"
        for folder in (being_made, left_by_a_kill):
            (folder / "w").mkdir(parents=True)
        with Repo(repo) as opened:
            assert clean_scratch(opened) == [left_by_a_kill]
        assert being_made.is_dir() and not left_by_a_kill.exists()
    finally:
        alive.communicate()
