"""A correctly hashed directory manifest whose entries leave the directory (issue 12).

`himo pull` in a fresh clone wrote such entries outside the repository, and `checkout -f`
overwrote files there. Every entry is now checked where a manifest is loaded: nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.helpers import assert_error, digest_of, object_path
from tests.conftest import Himo, git, write
from tests.remotes.helpers import FolderStore

HINT = "Hint: run `himo fsck`, or re-create the pointer with `himo add`"


def _plant(repo: Path, entries: list[str]) -> str:
    """Replace data/'s manifest by one listing `entries` (each holding b"evil\\n"); its digest."""
    evil = b"evil\n"
    write(object_path(repo, digest_of(evil)), evil)
    files = [[path, digest_of(evil), len(evil)] for path in entries]
    manifest = json.dumps({"himo-manifest": 1, "hash": "blake3", "files": files},
                          separators=(",", ":")).encode()
    oid = digest_of(manifest)
    write(object_path(repo, oid), manifest)
    write(repo / "data.himo", f"path: data\nhash: blake3\ndigest: {oid}\nsize: {len(evil) * len(files)}\n"
                              f"nfiles: {len(files)}\n")
    return oid


@pytest.fixture
def hostile(repo: Path, himo: Himo, tmp_path: Path) -> tuple[str, list[str]]:
    write(repo / "data" / "good.txt", "good\n")
    himo("add", "data")
    entries = ["good.txt", "../../escaped.txt", f"{tmp_path}/absolute.txt"]
    oid = _plant(repo, entries)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hostile manifest")
    return oid, entries


def test_pull_in_a_fresh_clone_writes_nothing_outside(
    repo: Path, himo: Himo, hostile: tuple[str, list[str]], folder_store: FolderStore, tmp_path: Path
) -> None:
    oid, _ = hostile
    folder_store.configure(himo)
    git(repo, "commit", "-qam", "remote")
    # The remote gets the objects as a hostile himo (or any copy tool) would put them there:
    # this himo's push refuses the manifest too.
    for obj in (repo / ".himo" / "cache").glob("??/*"):
        folder_store.write(obj.parent.name + obj.name, obj.read_bytes())
    clone = tmp_path / "clone" / "repo"
    clone.parent.mkdir()
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    proc = Himo(clone)("pull", ok=False)
    assert_error(proc, f"data.himo: directory manifest {oid[:12]}: entry 2 path '../../escaped.txt' goes up"
                       " with '..': entries must stay inside the directory")
    assert proc.stderr.splitlines()[1] == HINT
    assert not (tmp_path / "clone" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "absolute.txt").exists()
    assert not (clone / "data").exists()


def test_forced_checkout_overwrites_nothing_outside(
    repo: Path, himo: Himo, hostile: tuple[str, list[str]], tmp_path: Path, folder_store: FolderStore
) -> None:
    oid, _ = hostile
    folder_store.configure(himo)
    write(tmp_path / "escaped.txt", "precious\n")
    write(tmp_path / "absolute.txt", "precious too\n")
    for command in (("checkout", "-f"), ("status",), ("push",), ("gc", "-w", "-f")):
        proc = himo(*command, ok=False)
        assert_error(proc, f"data.himo: directory manifest {oid[:12]}: entry 2 path '../../escaped.txt'"
                           " goes up with '..': entries must stay inside the directory")
    assert (tmp_path / "escaped.txt").read_text() == "precious\n"
    assert (tmp_path / "absolute.txt").read_text() == "precious too\n"
    assert (repo / "data" / "good.txt").read_text() == "good\n"
    assert folder_store.stored() == []


def test_absolute_entry_is_refused_too(repo: Path, himo: Himo, tmp_path: Path) -> None:
    write(repo / "data" / "good.txt", "good\n")
    himo("add", "data")
    oid = _plant(repo, [f"{tmp_path}/absolute.txt"])
    proc = himo("checkout", "-f", "data", ok=False)
    assert_error(proc, f"data.himo: directory manifest {oid[:12]}: entry 1 path '{tmp_path}/absolute.txt'"
                       " is absolute: entries must stay inside the directory")
    assert not (tmp_path / "absolute.txt").exists()


@pytest.mark.parametrize(("manifest", "problem"), [
    (b"[[1,2,3]]", "digest {short} names a file, not a directory manifest"),
    (b'{"himo-manifest":1,"hash":"blake3","files":[[1,2,3]]}',
     "directory manifest {short}: entry 1 has path 1, not a string"),
    (b'{"himo-manifest":1,"hash":"blake3","files":[1]}',
     "directory manifest {short}: entry 1 is 1, not [path, digest, size]"),
])
def test_malformed_manifest_is_one_line_error(repo: Path, himo: Himo, manifest: bytes, problem: str) -> None:
    write(repo / "data" / "good.txt", "good\n")
    himo("add", "data")
    oid = digest_of(manifest)
    write(object_path(repo, oid), manifest)
    write(repo / "data.himo", f"path: data\nhash: blake3\ndigest: {oid}\nsize: 1\nnfiles: 1\n")
    for command in ("checkout", "status"):
        proc = himo(command, "-f" if command == "checkout" else "-q", ok=False)
        assert_error(proc, f"data.himo: {problem.format(short=oid[:12])}")
