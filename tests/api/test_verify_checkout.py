"""checkout verifies what leaves the cache: a corrupted object is never written to the workspace,
in any cache type; it is moved aside and `himo pull` restores it (issue 12, "Corruption that
spreads")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.api.corruption import CORRUPTIONS, HOSTILE, corrupt, moved_aside, reason
from tests.api.helpers import assert_error, digest_of, object_path, tree_bytes
from tests.conftest import Himo, make_tree, write
from tests.remotes.helpers import pointer_digest

KINDS = ("copy", "hardlink", "symlink")


def tracked_and_pushed(repo: Path, himo: Himo, kind: str, tmp_path: Path) -> dict[str, bytes]:
    """data/ added in cache type `kind` and pushed to a folder remote; its files' bytes."""
    himo("config", "cache.type", kind)
    himo("remote", "add", "-d", "backup", str(tmp_path / "backup"))
    make_tree(repo / "data", files=6)
    files = tree_bytes(repo / "data")
    himo("add", "data")
    himo("push")
    return files


def no_hostile_bytes(root: Path) -> bool:
    return all(HOSTILE not in data for data in tree_bytes(root).values())


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_checkout_never_writes_a_corrupted_object(repo: Path, himo: Himo, kind: str, how: str,
                                                  tmp_path: Path):
    files = tracked_and_pushed(repo, himo, kind, tmp_path)
    shutil.rmtree(repo / "data")
    bad = digest_of(files["sub0/f0.bin"])
    corrupt(repo, bad, how, tmp_path / "hostname")

    proc = himo("checkout", "data", ok=False)
    assert_error(proc, f"cache object {bad[:12]} (data/sub0/f0.bin) is corrupted: {reason(how, 100)};"
                       " moved aside to .himo/cache/corrupt/")
    assert proc.stderr.splitlines()[1:] == [
        "Hint: run `himo pull data` to fetch it again from a remote and check it out;"
        " nothing corrupted was written to the workspace"]
    assert not os.path.lexists(repo / "data" / "sub0" / "f0.bin")
    assert tree_bytes(repo / "data") == {k: v for k, v in files.items() if k != "sub0/f0.bin"}
    assert no_hostile_bytes(repo / "data")
    assert os.path.lexists(moved_aside(repo, bad)) and not os.path.lexists(object_path(repo, bad))

    status = himo("status", "data").stdout
    assert "deleted" in status and "not in cache: 1 object(s)" in status  # never "up to date"
    himo("pull")  # the fix the hint names
    assert tree_bytes(repo / "data") == files
    assert himo("status").stdout == "Everything is up to date.\n"


@pytest.mark.parametrize("kind", KINDS)
def test_a_cache_object_replaced_by_a_symlink_is_never_followed(repo: Path, himo: Himo, kind: str,
                                                                 tmp_path: Path):
    """The issue's case: checkout wrote /etc/hostname's bytes into the workspace."""
    himo("config", "cache.type", kind)
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    (repo / "a.txt").unlink()
    digest = digest_of(b"alpha\n")
    corrupt(repo, digest, "symlink", tmp_path / "hostname")

    proc = himo("checkout", "a.txt", ok=False)
    assert_error(proc, f"cache object {digest[:12]} (a.txt) is corrupted: {reason('symlink', 6)};"
                       " moved aside to .himo/cache/corrupt/")
    assert not os.path.lexists(repo / "a.txt")
    assert (tmp_path / "hostname").read_bytes() == HOSTILE  # the link's target is untouched
    assert os.path.islink(moved_aside(repo, digest))


def test_checkout_over_an_existing_file_keeps_it_when_the_object_is_bad(repo: Path, himo: Himo,
                                                                       tmp_path: Path):
    """`checkout --force` of a modified file whose recorded object is bad: the file stays as it is."""
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    write(repo / "a.txt", "my edit\n")
    corrupt(repo, digest_of(b"alpha\n"), "bitflip", tmp_path / "hostname")

    proc = himo("checkout", "--force", "a.txt", ok=False)
    assert proc.returncode == 1, proc.stderr
    assert (repo / "a.txt").read_bytes() == b"my edit\n"
    assert not list(repo.glob(".a.txt.himo-tmp-*"))


def test_a_corrupted_manifest_is_refused(repo: Path, himo: Himo, tmp_path: Path):
    tracked_and_pushed(repo, himo, "copy", tmp_path)
    manifest = pointer_digest(repo / "data.himo")
    shutil.rmtree(repo / "data")
    corrupt(repo, manifest, "bitflip", tmp_path / "hostname")

    proc = himo("checkout", "data", ok=False)
    assert_error(proc, f"cache object {manifest[:12]} (manifest of data) is corrupted: its bytes do not match"
                       " its digest; moved aside to .himo/cache/corrupt/")
    assert proc.stderr.splitlines()[1:] == ["Hint: run `himo pull data` to fetch it again from a remote"]
    assert not (repo / "data").exists()
    himo("pull")
    assert himo("status").stdout == "Everything is up to date.\n"


def test_a_shard_folder_replaced_by_a_link_is_never_followed(repo: Path, himo: Himo, tmp_path: Path):
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    (repo / "a.txt").unlink()
    digest = digest_of(b"alpha\n")
    shard = repo / ".himo" / "cache" / digest[:2]
    elsewhere = tmp_path / "elsewhere"
    shutil.move(shard, elsewhere)
    os.symlink(elsewhere, shard)

    proc = himo("checkout", "a.txt", ok=False)
    assert_error(proc, f"cache object {digest[:12]} (a.txt) is corrupted: its folder"
                       f" {repo}/.himo/cache/{digest[:2]} is not a folder (a link is not followed);"
                       " move that away")
    assert not os.path.lexists(repo / "a.txt")
    assert (elsewhere / digest[2:]).read_bytes() == b"alpha\n"  # nothing moved through the link


def test_large_object_bit_flip_is_caught_at_checkout(repo: Path, himo: Himo, tmp_path: Path):
    data = os.urandom(3 << 20)
    write(repo / "big.bin", data)
    himo("add", "big.bin")
    (repo / "big.bin").unlink()
    corrupt(repo, digest_of(data), "bitflip", tmp_path / "hostname")

    proc = himo("checkout", "big.bin", ok=False)
    assert_error(proc, f"cache object {digest_of(data)[:12]} (big.bin) is corrupted: its bytes do not match"
                       " its digest; moved aside to .himo/cache/corrupt/")
    assert not (repo / "big.bin").exists()


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_export_never_copies_a_corrupted_object(repo: Path, himo: Himo, how: str, tmp_path: Path):
    make_tree(repo / "data", files=6)
    files = tree_bytes(repo / "data")
    himo("add", "data")
    bad = digest_of(files["sub1/f1.bin"])
    corrupt(repo, bad, how, tmp_path / "hostname")

    proc = himo("export", "data", str(tmp_path / "out"), ok=False)
    assert_error(proc, f"cache object {bad[:12]} (data/sub1/f1.bin) is corrupted: {reason(how, 100)};"
                       " moved aside to .himo/cache/corrupt/")
    assert proc.stderr.splitlines()[1:] == [
        "Hint: run `himo pull data` to fetch it again from a remote, then export;"
        " the other files were exported, this one was not"]
    assert tree_bytes(tmp_path / "out" / "data") == {k: v for k, v in files.items() if k != "sub1/f1.bin"}
    assert os.path.lexists(moved_aside(repo, bad))
