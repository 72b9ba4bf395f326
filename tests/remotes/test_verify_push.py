"""push verifies what leaves the cache: a corrupted object is never sent, in any cache type, to
a folder or an S3 remote (issue 12, "Corruption that spreads")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.api.corruption import CORRUPTIONS, HOSTILE, corrupt, moved_aside, reason
from tests.api.helpers import assert_error, object_path
from tests.conftest import Himo, git, make_tree, write
from tests.remotes.helpers import Store, cache_objects, digest_of, pushed

KINDS = ("copy", "hardlink", "symlink")


def push_hint(target: str) -> str:
    return ("Hint: nothing corrupted was sent; fetch a good copy from a remote that has it"
            f" (`himo fetch -r NAME {target}`), or record the workspace file as it is now with"
            f" `himo add {target}`")


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_push_never_sends_a_corrupted_object(repo: Path, himo: Himo, store: Store, kind: str, how: str,
                                             tmp_path: Path):
    himo("config", "cache.type", kind)
    make_tree(repo / "data", files=6)
    bad = digest_of((repo / "data" / "sub0" / "f0.bin").read_bytes())
    himo("add", "data")
    everything = cache_objects(repo)
    corrupt(repo, bad, how, tmp_path / "hostname")

    proc = himo("push", ok=False)
    assert_error(proc, f"cache object {bad[:12]} (data/sub0/f0.bin) is corrupted: {reason(how, 100)};"
                       " moved aside to .himo/cache/corrupt/")
    assert proc.stderr.splitlines()[1:] == [push_hint("data")]
    assert pushed(proc.stdout) == (6, 0)  # the others went
    assert store.objects() == everything - {bad}
    store.verify()
    assert all(HOSTILE not in store.read(oid) for oid in store.objects())
    assert not os.path.lexists(object_path(repo, bad))  # out of the cache: a fetch may restore it
    assert os.path.lexists(moved_aside(repo, bad))  # its bytes kept for inspection


def test_an_edit_through_a_hardlink_never_reaches_the_remote_under_the_old_digest(
        repo: Path, himo: Himo, store: Store, tmp_path: Path):
    """The issue's case: a hardlinked workspace file edited in place is the cache object."""
    himo("config", "cache.type", "hardlink")
    write(repo / "model.bin", b"version 1\n")
    himo("add", "model.bin")
    old = digest_of(b"version 1\n")
    os.chmod(repo / "model.bin", 0o644)  # a user who makes it writable, then edits in place
    with open(repo / "model.bin", "ab") as f:
        f.write(b"edited in place\n")

    proc = himo("push", ok=False)
    assert_error(proc, f"cache object {old[:12]} (model.bin) is corrupted: it holds 26 bytes where 10"
                       " are recorded; moved aside to .himo/cache/corrupt/")
    assert proc.stderr.splitlines()[1:] == [push_hint("model.bin")]
    assert store.objects() == set()
    assert (repo / "model.bin").read_bytes() == b"version 1\nedited in place\n"  # the edit is kept

    himo("add", "model.bin")  # the fix the hint names: record the workspace file as it is
    assert pushed(himo("push").stdout) == (1, 0)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "model")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    assert himo("pull", cwd=clone).returncode == 0
    assert (clone / "model.bin").read_bytes() == b"version 1\nedited in place\n"


def test_bytes_read_for_a_push_are_always_hashed(repo: Path, himo: Himo, store: Store):
    """A bit flip that kept the object's mtime: the stat cache still vouches for the object
    (hardlink mode records it), but a small object is read whole to be sent, and hashed."""
    himo("config", "cache.type", "hardlink")
    write(repo / "a.txt", b"alpha bravo\n")
    himo("add", "a.txt")
    digest = digest_of(b"alpha bravo\n")
    path = object_path(repo, digest)
    before = os.stat(path)
    os.chmod(path, 0o644)
    path.write_bytes(b"alpha brave\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    proc = himo("push", ok=False)
    assert_error(proc, f"cache object {digest[:12]} (a.txt) is corrupted: its bytes do not match its digest;"
                       " moved aside to .himo/cache/corrupt/")
    assert store.objects() == set()


@pytest.mark.parametrize("how", ("truncated", "bitflip"))
def test_large_objects_are_verified_too(repo: Path, himo: Himo, store: Store, how: str, tmp_path: Path):
    """Objects of 1 MiB and more are streamed, not read whole: hashed unless the stat cache vouches."""
    data = os.urandom(3 << 20)
    write(repo / "big.bin", data)
    himo("add", "big.bin")
    digest = digest_of(data)
    corrupt(repo, digest, how, tmp_path / "hostname")

    proc = himo("push", ok=False)
    assert_error(proc, f"cache object {digest[:12]} (big.bin) is corrupted: {reason(how, len(data))};"
                       " moved aside to .himo/cache/corrupt/")
    assert store.objects() == set()
    himo("add", "big.bin")  # copy mode: the workspace file is intact, re-adding restores the object
    assert pushed(himo("push").stdout) == (1, 0)
    assert store.read(digest) == data
