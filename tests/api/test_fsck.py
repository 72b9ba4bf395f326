"""`himo fsck`: a cache object whose bytes changed is reported, and `--repair` removes it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.helpers import assert_error, digest_of, object_path
from tests.conftest import Himo, write


def _corrupt(obj: Path) -> None:
    obj.chmod(0o644)
    obj.write_bytes(b"bit rot\n")


def test_fsck_of_a_sound_cache(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    write(repo / "d" / "b.txt", "b\n")
    himo("add", "a.txt", "d")
    proc = himo("fsck")
    assert proc.stdout == "Checked 3 objects, 0 corrupted\n"
    assert json.loads(himo("fsck", "--json").stdout) == {"checked": 3, "corrupted": [], "removed": False}


def test_fsck_reports_a_corrupted_object(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    himo("add", "a.txt")
    digest = digest_of(b"a\n")
    _corrupt(object_path(repo, digest))
    proc = himo("fsck", ok=False)
    assert proc.stdout == f"Checked 1 objects, 1 corrupted\n  corrupted: {digest}\n"
    assert_error(proc, "1 corrupted object(s) in the cache")
    assert "Hint: run `himo fsck --repair`, then `himo pull` to fetch good copies" in proc.stderr
    assert object_path(repo, digest).exists()  # reported, not removed


def test_fsck_repair_removes_it_and_status_then_reports_it_missing(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    himo("add", "a.txt")
    digest = digest_of(b"a\n")
    _corrupt(object_path(repo, digest))
    proc = himo("fsck", "--repair", "--json")
    assert json.loads(proc.stdout) == {"checked": 1, "corrupted": [digest], "removed": True}
    assert not object_path(repo, digest).exists()
    assert himo("status").stdout == "a.txt:\n    not in cache: 1 object(s) (run `himo pull`)\n"
    himo("add", "a.txt")  # the workspace still has the bytes: adding again heals the cache
    assert object_path(repo, digest).read_bytes() == b"a\n"
