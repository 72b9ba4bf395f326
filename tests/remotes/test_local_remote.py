"""A folder as a remote: sharing through git + a folder, choosing remotes, file:// URLs, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.helpers import cache_temp_files, drop_root_powers
from tests.conftest import Himo, git, make_tree, write
from tests.remotes.helpers import FolderStore, cache_objects, digest_of, errors_of, pushed


def test_a_clone_gets_the_data_through_the_remote(repo: Path, himo: Himo, tmp_path: Path):
    make_tree(repo / "data", files=8)
    himo("add", "data")
    himo("remote", "add", "-d", "store", "../remote")  # relative: beside every clone
    himo("push")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data v1")
    git(tmp_path, "clone", "-q", str(repo), "clone")
    clone = tmp_path / "clone"
    other = Himo(clone)

    assert other("status").stdout == (
        "data:\n    deleted\n    not in cache: 1 object(s) (run `himo pull`)\n"
    )
    assert other("fetch").stdout == "Fetched 9 object(s) from store\n"
    assert not (clone / "data").exists()
    assert other("pull").stdout == "Fetched 0 object(s) from store\nRestored data (8 written, 0 removed)\n"
    for path in (repo / "data").rglob("*.bin"):
        assert (clone / path.relative_to(repo)).read_bytes() == path.read_bytes()
    assert other("status").stdout == "Everything is up to date.\n"


def test_remote_flag_picks_the_named_remote(repo: Path, himo: Himo, tmp_path: Path):
    one, two = FolderStore(tmp_path / "one"), FolderStore(tmp_path / "two")
    himo("remote", "add", "-d", "one", str(one.root))
    himo("remote", "add", "two", f"file://{two.root}")
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")

    assert himo("push", "-r", "two", "-j", "1").stdout == "Pushed 1 object(s) to two (0 already there)\n"
    assert two.objects() == {digest_of(b"alpha\n")} and one.objects() == set()
    assert pushed(himo("push").stdout) == (1, 0)
    assert one.objects() == two.objects()

    two.write(digest_of(b"beta\n"), b"beta\n")  # pushed by someone else, to `two` only
    write(repo / "a.txt", "beta\n")
    himo("commit")
    (repo / "a.txt").unlink()
    (repo / ".himo" / "cache" / digest_of(b"beta\n")[:2] / digest_of(b"beta\n")[2:]).unlink()
    assert himo("pull", "-r", "two").stdout == (
        "Fetched 1 object(s) from two\nRestored a.txt (1 written, 0 removed)\n"
    )
    assert (repo / "a.txt").read_text() == "beta\n"


def test_pull_keeps_local_changes_unless_forced(repo: Path, himo: Himo, folder_store: FolderStore):
    folder_store.configure(himo)
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    himo("push")
    write(repo / "a.txt", "edited, not committed\n")
    proc = himo("pull", ok=False)
    assert proc.returncode == 1
    assert errors_of(proc.stderr) == [
        "Error: a.txt: checkout would overwrite changes that are not in the cache: a.txt",
        "Hint: run `himo commit a.txt` to keep them, or `himo checkout --force a.txt` to discard them",
    ]
    assert (repo / "a.txt").read_text() == "edited, not committed\n"
    himo("pull", "--force")
    assert (repo / "a.txt").read_text() == "alpha\n"


def test_push_of_data_missing_from_the_cache(repo: Path, himo: Himo, folder_store: FolderStore):
    folder_store.configure(himo)
    write(repo / "a.txt", "alpha\n")
    write(repo / "b.txt", "beta\n")
    himo("add", "a.txt", "b.txt")
    lost = digest_of(b"beta\n")
    (repo / ".himo" / "cache" / lost[:2] / lost[2:]).unlink()

    proc = himo("push", ok=False)
    assert proc.returncode == 1
    assert proc.stdout == "Pushed 1 object(s) to store (0 already there)\n"
    assert errors_of(proc.stderr) == [
        f"Error: 1 object(s) not found in the cache, first {lost[:12]} (b.txt)",
        "Hint: run `himo pull` on a machine that has them, or `himo add` again",
    ]
    assert folder_store.objects() == {digest_of(b"alpha\n")}


@pytest.mark.slow
def test_permission_denied_on_the_remote_folder(repo: Path, himo: Himo, folder_store: FolderStore):
    folder_store.configure(himo)
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    folder_store.root.mkdir()
    folder_store.root.chmod(0o555)
    try:
        proc = subprocess.run([sys.executable, "-m", "himo", "push"], cwd=repo, capture_output=True,
                              text=True, preexec_fn=drop_root_powers)
    finally:
        folder_store.root.chmod(0o755)
    assert proc.returncode == 1
    shard = folder_store.root / digest_of(b"alpha\n")[:2]
    assert errors_of(proc.stderr) == [
        f"Error: remote 'store' ({folder_store.root}): permission denied:"
        f" [Errno 13] Permission denied: '{shard}'",
        "Hint: check the remote's permissions or credentials",
    ]
    assert folder_store.stored() == []


def test_remote_folder_that_is_a_file(repo: Path, himo: Himo, tmp_path: Path):
    write(tmp_path / "remote", "not a folder")
    himo("remote", "add", "-d", "store", str(tmp_path / "remote"))
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    proc = himo("push", ok=False)
    assert proc.returncode == 1
    lines = errors_of(proc.stderr)
    assert lines[0].startswith(f"Error: remote 'store' ({tmp_path / 'remote'}): NotADirectoryError: ")
    assert len(lines) == 2 and lines[1].startswith("Hint: ")
    assert (tmp_path / "remote").read_text() == "not a folder"


def test_fetch_leaves_no_temp_files(repo: Path, himo: Himo, folder_store: FolderStore):
    folder_store.configure(himo)
    make_tree(repo / "data", files=30)
    himo("add", "data")
    himo("push", "-j", "4")
    cached = cache_objects(repo)
    for oid in cached:
        os.chmod(repo / ".himo" / "cache" / oid[:2] / oid[2:], 0o644)
        (repo / ".himo" / "cache" / oid[:2] / oid[2:]).unlink()
    assert himo("fetch", "-j", "4").stdout == "Fetched 31 object(s) from store\n"
    assert cache_objects(repo) == cached
    assert cache_temp_files(repo) == []
