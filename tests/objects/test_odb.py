"""The object database, manifests and the directory walk, on a real filesystem."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from himo.errors import ManifestError
from himo.model import TreeEntry
from himo.objects.manifest import dump_manifest, load_manifest
from himo.objects.odb import ObjectDB
from himo.objects.walk import fingerprint, walk_files
from tests.api.helpers import digest_of, is_read_only
from tests.conftest import write


@pytest.fixture
def odb(tmp_path: Path) -> ObjectDB:
    return ObjectDB(tmp_path / "cache")


def test_add_bytes_stores_read_only_object_by_digest(odb: ObjectDB) -> None:
    oid = odb.add_bytes(b"hello\n")
    assert oid == digest_of(b"hello\n")
    path = Path(odb.path(oid))
    assert path == odb.root / oid[:2] / oid[2:]
    assert path.read_bytes() == b"hello\n"
    assert is_read_only(path)
    assert odb.read_bytes(oid) == b"hello\n"
    assert list(odb.root.rglob(".himo-tmp-*")) == []


def test_adding_the_same_bytes_again_keeps_the_object(odb: ObjectDB) -> None:
    oid = odb.add_bytes(b"same")
    before = os.stat(odb.path(oid))
    assert odb.add_bytes(b"same") == oid
    after = os.stat(odb.path(oid))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_exists_existing_and_remove(odb: ObjectDB) -> None:
    oids = [odb.add_bytes(f"object {i}".encode()) for i in range(300)]
    absent = [digest_of(f"absent {i}".encode()) for i in range(300)]
    assert odb.exists(oids[0]) and not odb.exists(absent[0])
    assert odb.existing(oids[:5] + absent[:5]) == set(oids[:5])  # few: one stat each
    assert odb.existing(oids + absent) == set(oids)  # many: shard listings
    odb.remove(oids[0])
    odb.remove(absent[0])  # removing what is not there is fine
    assert not odb.exists(oids[0])
    assert set(odb.all_oids()) == set(oids[1:])


def test_all_oids_skips_temp_and_stray_files(odb: ObjectDB) -> None:
    oid = odb.add_bytes(b"real")
    write(odb.tmp_dir / "0123abcd", b"half written")
    write(Path(odb.tmp_path(oid)), b"half written beside its object")
    write(odb.root / oid[:2] / "README", b"not an object")
    write(odb.root / "notes.txt", b"stray")
    assert list(odb.all_oids()) == [oid]
    assert odb.clear_tmp() == 2
    assert list(odb.tmp_dir.iterdir()) == []
    assert sorted(p.name for p in (odb.root / oid[:2]).iterdir()) == sorted([oid[2:], "README"])
    assert list(ObjectDB(odb.root.parent / "nothing").all_oids()) == []


def test_manifest_is_sorted_deterministic_and_round_trips() -> None:
    entries = [TreeEntry("b/z.csv", "1" * 64, 3), TreeEntry("a.csv", "2" * 64, 5),
               TreeEntry("données/é.txt", "3" * 64, 0)]
    data = dump_manifest(entries)
    assert data == dump_manifest(list(reversed(entries)))
    assert json.loads(data) == {
        "himo-manifest": 1, "hash": "blake3",
        "files": [["a.csv", "2" * 64, 5], ["b/z.csv", "1" * 64, 3], ["données/é.txt", "3" * 64, 0]],
    }
    assert b" " not in data
    assert load_manifest(data) == sorted(entries, key=lambda e: e.path)


@pytest.mark.parametrize("data", [b"plain bytes", b"[]", b'{"himo-manifest": 2, "files": []}'])
def test_load_manifest_rejects_what_is_not_one(data: bytes) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(data, "ab" * 32)
    assert info.value.message == "digest abababababab names a file, not a directory manifest"


def test_walk_lists_files_with_posix_paths(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for rel in ("a.txt", "sub/b.txt", "sub/deeper/c.txt", "other/d.txt"):
        write(root / rel, rel)
    write(root / "sub" / ".e.txt.himo-tmp-0123456789ab", "half placed")
    write(tmp_path / "elsewhere" / "x.txt", "outside")
    (root / "linked-dir").symlink_to(tmp_path / "elsewhere")
    (root / "linked-file.txt").symlink_to(root / "a.txt")
    files = {f.rel: f for f in walk_files(str(root))}
    assert sorted(files) == ["a.txt", "linked-file.txt", "other/d.txt", "sub/b.txt", "sub/deeper/c.txt"]
    assert files["sub/deeper/c.txt"].path == str(root / "sub" / "deeper" / "c.txt")
    assert files["sub/b.txt"].stat.st_size == len("sub/b.txt")
    assert files["linked-file.txt"].stat.st_ino == files["a.txt"].stat.st_ino  # files: followed


def test_walk_prunes_ignored_folders_and_files(tmp_path: Path) -> None:
    for rel in ("keep.csv", "skip.tmp", "scratch/x.csv", "sub/scratch/y.csv"):
        write(tmp_path / rel, rel)
    seen: list[tuple[str, bool]] = []

    def ignored(rel: str, isdir: bool) -> bool:
        seen.append((rel, isdir))
        return rel.endswith(".tmp") or rel == "scratch"

    files = sorted(f.rel for f in walk_files(str(tmp_path), ignored))
    assert files == ["keep.csv", "sub/scratch/y.csv"]
    assert ("scratch", True) in seen
    assert not any(rel.startswith("scratch/") for rel, _ in seen)  # never entered


def _settle(odb: ObjectDB, when: float) -> None:
    """Give every shard folder the mtime `when`, as if the cache had last changed then."""
    for shard in odb.root.iterdir():
        os.utime(shard, (when, when))


def test_stamp_changes_when_an_object_comes_or_goes(odb: ObjectDB) -> None:
    kept, gone = odb.add_bytes(b"kept"), odb.add_bytes(b"gone")
    assert odb.stamp() is None  # shards changed just now: a change in the same tick would not show
    _settle(odb, 1_000_000)
    stamp = odb.stamp()
    assert stamp is not None and odb.stamp() == stamp
    odb.remove(gone)
    assert odb.stamp() is None
    os.utime(odb.root / gone[:2], (1_000_050, 1_000_050))  # removed 50 s later
    later = odb.stamp()
    assert later not in (None, stamp)
    odb.remove(kept)
    (odb.root / kept[:2]).rmdir()
    _settle(odb, 1_000_050)
    assert odb.stamp() not in (None, stamp, later)  # a shard folder gone counts too


def test_stamp_waits_out_the_filesystem_clock_tick(odb: ObjectDB) -> None:
    odb.add_bytes(b"x")

    def changed(ago: float, whole_seconds: bool) -> str | None:
        now_ns = time.time_ns()
        mtime = now_ns - int(ago * 1e9)
        mtime -= mtime % 1_000_000_000 if whole_seconds else 0
        for shard in odb.root.iterdir():
            os.utime(shard, ns=(mtime, mtime))
        return odb.stamp()

    assert changed(0.01, whole_seconds=False) is None
    assert changed(0.3, whole_seconds=False) is not None  # nanosecond mtimes: a short tick
    assert changed(0.5, whole_seconds=True) is None  # whole-second mtimes (FAT, ext3): 2 s
    assert changed(3.5, whole_seconds=True) is not None


def test_stamp_of_a_missing_cache_is_none(tmp_path: Path) -> None:
    assert ObjectDB(tmp_path / "nothing").stamp() is None


def test_fingerprint_changes_with_any_file_change(tmp_path: Path) -> None:
    for rel in ("a.txt", "sub/b.txt"):
        write(tmp_path / rel, rel)
    listing = fingerprint(walk_files(str(tmp_path)))
    assert fingerprint(walk_files(str(tmp_path))) == listing
    changes = [
        lambda: os.utime(tmp_path / "a.txt", ns=(1, 1)),
        lambda: write(tmp_path / "a.txt", "A.TXT"),
        lambda: write(tmp_path / "sub" / "c.txt", "c"),
        lambda: (tmp_path / "sub" / "c.txt").rename(tmp_path / "sub" / "d.txt"),
        lambda: (tmp_path / "sub" / "d.txt").unlink(),
    ]
    for change in changes:
        change()
        before, listing = listing, fingerprint(walk_files(str(tmp_path)))
        assert listing != before


def lock_files_open(odb: ObjectDB) -> int:
    """How many of this process's file descriptors are open on the cache's writers' lock."""
    lock = str(odb.root / "tmp.lock")
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == lock
        except OSError:
            continue  # the descriptor of the listing itself, already closed
    return count


def test_threads_writing_at_once_open_the_writers_lock_once(
        odb: ObjectDB, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each thread that found no lock opened its own, and all but the last stayed open after close:
    # gc then kept temp files as if another process were writing (a flaky gc test found it).
    real_flock = fcntl.flock

    def slow_flock(fd: int, operation: int) -> None:  # as on a network filesystem: the race shows
        time.sleep(0.02)
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", slow_flock)
    start = threading.Barrier(8)

    def write_one(n: int) -> str:
        start.wait()
        return odb.add_bytes(f"object {n}".encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write_one, range(8)))
    assert lock_files_open(odb) == 1
    odb.close()
    assert lock_files_open(odb) == 0
    write(odb.root / "tmp" / "left-by-a-crash", b"partial")
    assert odb.clear_tmp() == 1
