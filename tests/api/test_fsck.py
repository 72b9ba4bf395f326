"""`himo fsck`: a cache object whose bytes changed is reported, and `--repair` removes it."""

from __future__ import annotations

import json
import os
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


def test_fsck_reports_objects_that_are_links_without_following_them(
        repo: Path, himo: Himo, tmp_path: Path) -> None:
    """An object replaced by a symlink to itself (ELOOP) or to a file outside the cache is
    corrupt, even when the outside file holds the right bytes: links in the cache are never
    followed."""
    write(repo / "a.txt", "a\n")
    write(repo / "b.txt", "b\n")
    himo("add", "a.txt", "b.txt")
    looping, outside = object_path(repo, digest_of(b"a\n")), object_path(repo, digest_of(b"b\n"))
    looping.unlink()
    looping.symlink_to(looping)
    elsewhere = write(tmp_path / "elsewhere.txt", "b\n")
    outside.unlink()
    outside.symlink_to(elsewhere)
    first, second = sorted([digest_of(b"a\n"), digest_of(b"b\n")])

    proc = himo("fsck", ok=False)

    assert proc.stdout == f"Checked 2 objects, 2 corrupted\n  corrupted: {first}\n  corrupted: {second}\n"
    assert_error(proc, "2 corrupted object(s) in the cache")
    proc = himo("fsck", "--repair", "--json")
    assert json.loads(proc.stdout) == {"checked": 2, "corrupted": [first, second], "removed": True}
    assert not os.path.lexists(looping) and not os.path.lexists(outside)
    assert elsewhere.read_text() == "b\n"
