"""Link types (`cache.type`): copy, hardlink and symlink; protection and `himo unprotect`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from himo.objects.links import Linker, parse_link_types
from tests.api.helpers import (
    assert_error,
    digest_of,
    drop_root_powers,
    is_read_only,
    object_path,
    pointer_doc,
)
from tests.conftest import Himo, write

DATA = b"weights: 0.1 0.2 0.3\n"


def _use(himo: Himo, kind: str) -> None:
    himo("config", "cache.type", kind)
    assert himo("config", "cache.type").stdout == f"{kind}\n"


def _is_linked(repo: Path, path: Path, digest: str, kind: str) -> bool:
    obj = object_path(repo, digest)
    if kind == "symlink":
        return path.is_symlink() and os.readlink(path) == str(obj)
    return not path.is_symlink() and os.stat(path).st_ino == os.stat(obj).st_ino


def _try_to_edit(path: Path) -> subprocess.CompletedProcess[str]:
    """Append to `path` in a process that obeys permission bits (as a user would)."""
    code = f"open({str(path)!r}, 'ab').write(b'oops')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          preexec_fn=drop_root_powers)


def _assert_object_intact(repo: Path, digest: str, data: bytes) -> None:
    obj = object_path(repo, digest)
    assert obj.read_bytes() == data
    assert digest_of(obj.read_bytes()) == digest
    assert is_read_only(obj)


def test_copy_mode_workspace_files_are_writable_and_separate(repo: Path, himo: Himo) -> None:
    _use(himo, "copy")
    write(repo / "model.bin", DATA)
    himo("add", "model.bin")
    digest = digest_of(DATA)
    assert not _is_linked(repo, repo / "model.bin", digest, "hardlink")
    assert not is_read_only(repo / "model.bin")
    write(repo / "model.bin", b"edited in place\n")
    _assert_object_intact(repo, digest, DATA)
    (repo / "model.bin").unlink()
    himo("checkout", "--force")
    assert (repo / "model.bin").read_bytes() == DATA
    assert not is_read_only(repo / "model.bin")
    assert os.stat(repo / "model.bin").st_nlink == 1


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_add_links_files_into_the_cache_read_only(repo: Path, himo: Himo, kind: str) -> None:
    _use(himo, kind)
    write(repo / "model.bin", DATA)
    write(repo / "d" / "a.txt", "a\n")
    write(repo / "d" / "sub" / "b.txt", "b\n")
    himo("add", "model.bin", "d")
    digest = digest_of(DATA)
    assert _is_linked(repo, repo / "model.bin", digest, kind)
    assert _is_linked(repo, repo / "d" / "sub" / "b.txt", digest_of(b"b\n"), kind)
    assert is_read_only(repo / "model.bin")
    _assert_object_intact(repo, digest, DATA)
    assert pointer_doc(repo / "model.bin.himo")["digest"] == digest
    proc = _try_to_edit(repo / "model.bin")
    assert proc.returncode == 1 and "PermissionError" in proc.stderr
    _assert_object_intact(repo, digest, DATA)
    assert himo("status").stdout == "Everything is up to date.\n"
    assert himo("add", "-v", "model.bin").stdout.splitlines()[1] == (
        "  read 0 of 1 files; the rest came from the stat cache"
    )


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_unprotect_gives_a_private_writable_copy(repo: Path, himo: Himo, kind: str) -> None:
    _use(himo, kind)
    write(repo / "model.bin", DATA)
    write(repo / "d" / "a.txt", "a\n")
    write(repo / "d" / "b.txt", "b\n")
    himo("add", "model.bin", "d")
    assert himo("unprotect", "model.bin", "d").stdout == "Unprotected 3 file(s)\n"
    digest = digest_of(DATA)
    path = repo / "model.bin"
    assert not path.is_symlink()
    assert not is_read_only(path)
    assert os.stat(path).st_nlink == 1
    assert _try_to_edit(path).returncode == 0
    assert path.read_bytes() == DATA + b"oops"
    _assert_object_intact(repo, digest, DATA)
    assert himo("status").stdout == "model.bin:\n    modified\n"
    himo("commit", "model.bin")
    _assert_object_intact(repo, digest_of(DATA + b"oops"), DATA + b"oops")
    _assert_object_intact(repo, digest, DATA)
    assert _is_linked(repo, path, digest_of(DATA + b"oops"), kind)


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_checkout_links_restored_files(repo: Path, himo: Himo, kind: str) -> None:
    _use(himo, kind)
    write(repo / "model.bin", DATA)
    write(repo / "d" / "a.txt", "a\n")
    himo("add", "model.bin", "d")
    (repo / "model.bin").unlink()
    (repo / "d" / "a.txt").unlink()
    assert himo("checkout").stdout == (
        "Restored d (1 written, 0 removed)\nRestored model.bin (1 written, 0 removed)\n"
    )
    assert _is_linked(repo, repo / "model.bin", digest_of(DATA), kind)
    assert _is_linked(repo, repo / "d" / "a.txt", digest_of(b"a\n"), kind)
    assert is_read_only(repo / "model.bin")
    assert himo("status").stdout == "Everything is up to date.\n"


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_remove_leaves_a_normal_writable_file(repo: Path, himo: Himo, kind: str) -> None:
    _use(himo, kind)
    write(repo / "model.bin", DATA)
    himo("add", "model.bin")
    assert himo("remove", "model.bin.himo").stdout == "Removed model.bin.himo\n"
    path = repo / "model.bin"
    assert not path.is_symlink()
    assert os.stat(path).st_nlink == 1
    assert not is_read_only(path)
    assert path.read_bytes() == DATA
    _assert_object_intact(repo, digest_of(DATA), DATA)


def test_switching_from_copy_to_hardlink_relinks_on_add(repo: Path, himo: Himo) -> None:
    write(repo / "model.bin", DATA)
    himo("add", "model.bin")
    _use(himo, "hardlink")
    himo("add", "model.bin")
    assert _is_linked(repo, repo / "model.bin", digest_of(DATA), "hardlink")


def test_invalid_cache_type_is_refused(repo: Path, himo: Himo) -> None:
    config = (repo / ".himo" / "config").read_text()
    proc = himo("config", "cache.type", "hardlink,teleport", ok=False)
    assert_error(proc, "cache.type: unknown link type 'teleport'")
    assert proc.stderr.splitlines()[1] == "Hint: use a comma list of reflink, copy, hardlink, symlink"
    assert (repo / ".himo" / "config").read_text() == config


def test_invalid_cache_type_written_by_hand_is_a_config_error(repo: Path, himo: Himo) -> None:
    write(repo / ".himo" / "config", '[cache]\ntype = "teleport"\n')
    write(repo / "a.txt", "a\n")
    proc = himo("add", "a.txt", ok=False)
    assert_error(proc, ".himo/config: cache.type: unknown link type 'teleport'")
    assert not (repo / "a.txt.himo").exists()


# -- the Linker itself ------------------------------------------------------------------------

def test_parse_link_types() -> None:
    assert parse_link_types("reflink, copy") == ("reflink", "copy")
    assert parse_link_types("symlink") == ("symlink",)
    for bad, kind in (("copy,teleport", "'teleport'"), ("", "''"), (" , ", "' , '")):
        with pytest.raises(ValueError) as info:
            parse_link_types(bad)
        assert str(info.value) == f"unknown link type {kind}"


@pytest.mark.parametrize("kind", ["copy", "hardlink", "symlink"])
def test_place_replaces_the_destination_atomically(tmp_path: Path, kind: str) -> None:
    src = write(tmp_path / "object", DATA)
    dst = write(tmp_path / "work" / "model.bin", b"old contents")
    linker = Linker((kind,))
    assert linker.place(str(src), str(dst)) == kind
    assert dst.read_bytes() == DATA
    assert sorted(p.name for p in dst.parent.iterdir()) == ["model.bin"]  # no temp file left
    assert dst.is_symlink() == (kind == "symlink")
    assert (os.stat(dst).st_ino == os.stat(src).st_ino) == (kind != "copy")
    assert Linker.is_placed(kind, str(src), str(dst), os.stat(dst))


def another_filesystem(path: Path) -> Path:
    """A writable folder on another filesystem than `path`'s: tmpfs, or the system's temp folder
    when the suite's folders are on tmpfs themselves (tests/conftest.py)."""
    for candidate in (Path("/dev/shm"), Path(tempfile.gettempdir()), Path("/var/tmp")):
        if os.access(candidate, os.W_OK) and os.stat(candidate).st_dev != os.stat(path).st_dev:
            return candidate
    pytest.fail(f"no writable folder on another filesystem than {path}'s (/dev/shm, temp folder, /var/tmp)")


def test_place_falls_back_to_the_next_kind_and_remembers_it(tmp_path: Path) -> None:
    src = write(tmp_path / "object", DATA)
    other_fs = Path(tempfile.mkdtemp(dir=another_filesystem(tmp_path)))  # a hardlink there fails (EXDEV)
    try:
        linker = Linker(("hardlink", "copy"))
        assert os.stat(other_fs).st_dev != os.stat(tmp_path).st_dev
        assert linker.place(str(src), str(other_fs / "a")) == "copy"
        assert linker.preferred == "copy"
        assert (other_fs / "a").read_bytes() == DATA
    finally:
        shutil.rmtree(other_fs)


def test_reflink_or_copy_gives_an_independent_file(tmp_path: Path) -> None:
    src = write(tmp_path / "object", DATA)
    kind = Linker(("reflink", "copy")).place(str(src), str(tmp_path / "work"))
    assert kind in ("reflink", "copy")  # reflink where the filesystem clones (btrfs, xfs)
    write(tmp_path / "work", b"changed")
    assert src.read_bytes() == DATA


def test_place_over_a_folder_fails_and_leaves_no_temp_file(tmp_path: Path) -> None:
    src = write(tmp_path / "object", DATA)
    write(tmp_path / "work" / "model.bin" / "inside.txt", "a folder is in the way")
    with pytest.raises(IsADirectoryError):
        Linker(("copy",)).place(str(src), str(tmp_path / "work" / "model.bin"))
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["model.bin"]
