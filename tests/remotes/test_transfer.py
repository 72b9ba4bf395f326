"""push / fetch / pull against each kind of remote: a local folder and S3 (moto server)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import Himo, make_tree, write
from tests.remotes.helpers import (
    FolderStore,
    Store,
    cache_objects,
    digest_of,
    errors_of,
    pointer_digest,
    pushed,
)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def track(repo: Path, himo: Himo, files: int = 12) -> dict[str, bytes]:
    """data/ (a directory of `files` files) and a.txt, added; their bytes by path."""
    make_tree(repo / "data", files=files)
    write(repo / "a.txt", "alpha\n")
    himo("add", "data", "a.txt")
    return {**{f"data/{k}": v for k, v in snapshot(repo / "data").items()}, "a.txt": b"alpha\n"}


def forget_locally(repo: Path, *paths: str) -> None:
    """As on a fresh clone: no cache, no workspace copies; only the pointers."""
    shutil.rmtree(repo / ".himo" / "cache")
    for path in paths:
        target = repo / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()


def test_push_sends_only_missing_objects(repo: Path, himo: Himo, store: Store):
    track(repo, himo)
    assert himo("push").stdout == "Pushed 14 object(s) to store (0 already there)\n"
    assert store.objects() == cache_objects(repo) and len(store.objects()) == 14
    assert pushed(himo("push").stdout) == (0, 14)
    old = store.objects()

    write(repo / "data" / "sub0" / "f0.bin", b"changed bytes")
    himo("commit")
    assert pushed(himo("push", "-j", "3").stdout) == (2, 12)  # the file and the new manifest
    assert store.objects() - old == {digest_of(b"changed bytes"), pointer_digest(repo / "data.himo")}
    assert len(store.stored()) == len(store.objects())  # nothing but objects on the remote
    store.verify()


def test_fetch_fills_the_cache_and_pull_restores_the_workspace(repo: Path, himo: Himo, store: Store):
    files = track(repo, himo)
    himo("push")
    forget_locally(repo, "data", "a.txt")

    assert himo("fetch", "-j", "2").stdout == "Fetched 14 object(s) from store\n"
    assert cache_objects(repo) == store.objects()
    assert not (repo / "data").exists() and not (repo / "a.txt").exists()
    assert himo("pull").stdout == (
        "Fetched 0 object(s) from store\n"
        "Restored a.txt (1 written, 0 removed)\n"
        "Restored data (12 written, 0 removed)\n"
    )
    assert snapshot(repo / "data") == {k[5:]: v for k, v in files.items() if k.startswith("data/")}
    assert (repo / "a.txt").read_bytes() == b"alpha\n"
    assert himo("status").stdout == "Everything is up to date.\n"


def test_push_and_pull_named_paths_only(repo: Path, himo: Himo, folder_store: FolderStore):
    store = folder_store
    store.configure(himo)
    track(repo, himo)
    assert pushed(himo("push", "a.txt").stdout) == (1, 0)
    assert store.objects() == {digest_of(b"alpha\n")}
    assert pushed(himo("push", "data").stdout) == (13, 0)
    forget_locally(repo, "data", "a.txt")

    assert himo("pull", "data.himo").stdout == (
        "Fetched 13 object(s) from store\nRestored data (12 written, 0 removed)\n"
    )
    assert not (repo / "a.txt").exists()
    assert digest_of(b"alpha\n") not in cache_objects(repo)
    assert himo("fetch", "a.txt").stdout == "Fetched 1 object(s) from store\n"
    assert not (repo / "a.txt").exists()


def test_pull_of_data_on_no_remote_names_push(repo: Path, himo: Himo, folder_store: FolderStore):
    folder_store.configure(himo)
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    himo("push")
    write(repo / "b.txt", "never pushed\n")
    himo("add", "b.txt")
    forget_locally(repo, "a.txt", "b.txt")

    proc = himo("pull", ok=False)
    assert proc.returncode == 1
    lost = digest_of(b"never pushed\n")
    assert errors_of(proc.stderr) == [
        f"Error: 1 object(s) not found on remote 'store', first {lost[:12]} (b.txt)",
        "Hint: run `himo push` from the machine that has them",
    ]
    assert proc.stdout == "Fetched 1 object(s) from store\nRestored a.txt (1 written, 0 removed)\n"
    assert not (repo / "b.txt").exists()
