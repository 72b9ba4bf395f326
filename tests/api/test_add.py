"""`himo add`: pointers, .gitignore entries, cache objects, the stat cache, bad paths."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from himo.api.add import add
from himo.errors import PathError
from himo.workspace.repo import Repo
from tests.api.helpers import (
    assert_error,
    digest_of,
    is_read_only,
    object_path,
    pointer_doc,
    snapshot,
)
from tests.conftest import Himo, git, make_tree, write


def test_add_file_writes_pointer_gitignore_and_read_only_object(repo: Path, himo: Himo) -> None:
    data = b"id,label\n1,cat\n2,dog\n"
    write(repo / "data.csv", data)
    proc = himo("add", "data.csv")
    digest = digest_of(data)
    assert proc.stdout.splitlines() == [
        f"Recorded data.csv ({len(data)} bytes, {digest[:12]})",
        "To track the changes with git, run:",
        "  git add data.csv.himo .gitignore",
    ]
    text = (repo / "data.csv.himo").read_text()
    assert text.startswith("# himo pointer: data.csv is tracked by content")
    assert pointer_doc(repo / "data.csv.himo") == {
        "path": "data.csv", "hash": "blake3", "digest": digest, "size": len(data),
    }
    assert (repo / ".gitignore").read_text() == "/data.csv\n"
    obj = object_path(repo, digest)
    assert obj.read_bytes() == data
    assert is_read_only(obj)
    # default link type (reflink,copy): the workspace copy is separate and stays writable
    assert not is_read_only(repo / "data.csv")
    assert os.stat(repo / "data.csv").st_ino != os.stat(obj).st_ino
    assert git(repo, "check-ignore", "data.csv").strip() == "data.csv"


def test_add_directory_records_manifest_nfiles_and_every_file(repo: Path, himo: Himo) -> None:
    tree = make_tree(repo / "images", files=12, subdirs=3, size=64)
    himo("add", "images")
    doc = pointer_doc(repo / "images.himo")
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    assert doc["path"] == "images"
    assert doc["hash"] == "blake3"
    assert doc["nfiles"] == 12
    assert doc["size"] == 12 * 64
    manifest = object_path(repo, str(doc["digest"])).read_bytes()
    assert digest_of(manifest) == doc["digest"]
    expected = [[p.relative_to(tree).as_posix(), digest_of(p.read_bytes()), 64] for p in files]
    assert json.loads(manifest) == {"himo-manifest": 1, "hash": "blake3", "files": expected}
    for _, digest, _ in expected:
        assert object_path(repo, digest).is_file()
        assert is_read_only(object_path(repo, digest))
    assert (repo / ".gitignore").read_text() == "/images\n"


def test_add_nested_path_ignores_it_in_its_own_folder(repo: Path, himo: Himo) -> None:
    write(repo / "data" / "raw" / ".gitignore", "*.log\n")
    write(repo / "data" / "raw" / "train.csv", "x\n")
    proc = himo("add", "data/raw/train.csv")
    assert proc.stdout.splitlines()[-1] == "  git add data/raw/train.csv.himo data/raw/.gitignore"
    assert pointer_doc(repo / "data" / "raw" / "train.csv.himo")["path"] == "train.csv"
    assert (repo / "data" / "raw" / ".gitignore").read_text() == "*.log\n/train.csv\n"
    assert not (repo / ".gitignore").exists()
    assert not (repo / "data" / ".gitignore").exists()
    himo("add", "data/raw/train.csv")  # no duplicate line
    assert (repo / "data" / "raw" / ".gitignore").read_text() == "*.log\n/train.csv\n"
    assert git(repo, "status", "--porcelain", "-uall").splitlines() == [
        "?? .himo/.gitignore", "?? .himo/config", "?? .himoignore",
        "?? data/raw/.gitignore", "?? data/raw/train.csv.himo",
    ]


@pytest.mark.parametrize("name", ["my data.csv", "#notes.txt", "a[1].csv", "star*.txt", "!bang"])
def test_add_ignores_exactly_that_name_in_git(repo: Path, himo: Himo, name: str) -> None:
    write(repo / name, "payload\n")
    write(repo / "a1.csv", "lookalike\n")
    write(repo / "star-other.txt", "lookalike\n")
    hint = himo("add", name).stdout.splitlines()[-1]
    git(repo, *shlex.split(hint)[1:])  # the printed command works as it is
    assert git(repo, "check-ignore", "--no-index", name).strip() == name
    untracked = git(repo, "status", "--porcelain", "-uall").splitlines()
    assert "?? a1.csv" in untracked
    assert "?? star-other.txt" in untracked
    assert sorted(git(repo, "ls-files", "--cached").splitlines()) == sorted([".gitignore", f"{name}.himo"])


def test_readd_unchanged_reads_no_file_content(
    repo: Path, himo: Himo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    make_tree(repo / "d", files=40, subdirs=4)
    himo("add", "d")
    pointer_before = (repo / "d.himo").stat().st_mtime_ns
    proc = himo("add", "-v", "d")
    nbytes = pointer_doc(repo / "d.himo")["size"]
    digest = str(pointer_doc(repo / "d.himo")["digest"])
    assert proc.stdout.splitlines() == [
        f"Unchanged d (40 files, {nbytes} bytes, {digest[:12]})",
        "  read 0 of 40 files; the rest came from the stat cache",
    ]
    assert (repo / "d.himo").stat().st_mtime_ns == pointer_before
    [result] = add(Repo(repo), ["d"])
    assert (result.hashed, result.files, result.changed) == (0, 40, False)


def test_changing_one_file_of_500_rereads_exactly_one(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    make_tree(repo / "big", files=500, subdirs=10, size=32)
    first = add(Repo(repo), ["big"])[0]
    assert (first.hashed, first.files, first.changed) == (500, 500, True)
    write(repo / "big" / "sub3" / "f13.bin", b"changed, and longer than before: " * 3)
    [again] = add(Repo(repo), ["big"])
    assert (again.hashed, again.files, again.changed) == (1, 500, True)
    assert again.hash_info.digest != first.hash_info.digest
    assert again.hash_info.nfiles == 500
    assert pointer_doc(repo / "big.himo")["digest"] == again.hash_info.digest


def test_himoignore_excludes_files_inside_tracked_dirs(repo: Path, himo: Himo) -> None:
    write(repo / ".himoignore", "# scratch files\n*.tmp\ndata/cache/\n")
    write(repo / "data" / "a.csv", "a\n")
    write(repo / "data" / "b.tmp", "temp\n")
    write(repo / "data" / "cache" / "c.csv", "cached\n")
    write(repo / "data" / "sub" / "d.csv", "d\n")
    himo("add", "data")
    doc = pointer_doc(repo / "data.himo")
    assert doc["nfiles"] == 2
    manifest = json.loads(object_path(repo, str(doc["digest"])).read_bytes())
    assert [f[0] for f in manifest["files"]] == ["a.csv", "sub/d.csv"]
    write(repo / "data" / "new.tmp", "more scratch\n")
    assert himo("status").stdout == "Everything is up to date.\n"


def test_add_many_paths_at_once(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    write(repo / "b" / "c.txt", "c\n")
    proc = himo("add", "a.txt", "b")
    assert proc.stdout.splitlines()[-1] == "  git add a.txt.himo b.himo .gitignore"
    assert (repo / ".gitignore").read_text() == "/a.txt\n/b\n"


def test_add_pointer_name_adds_its_target(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    himo("add", "a.txt")
    write(repo / "a.txt", "a, changed\n")
    himo("add", "a.txt.himo")
    assert pointer_doc(repo / "a.txt.himo")["digest"] == digest_of(b"a, changed\n")


def test_add_path_inside_tracked_dir_is_an_error(repo: Path, himo: Himo) -> None:
    make_tree(repo / "d", files=3, subdirs=1)
    himo("add", "d")
    before = snapshot(repo)
    proc = himo("add", "d/sub0/f0.bin", ok=False)
    assert_error(proc, "d/sub0/f0.bin: inside tracked directory d")
    assert "Hint: run `himo add d` (or `himo commit`) to record the whole directory" in proc.stderr
    assert snapshot(repo) == before


def test_add_directory_holding_a_tracked_path_is_an_error(repo: Path, himo: Himo) -> None:
    write(repo / "d" / "inner.csv", "x\n")
    himo("add", "d/inner.csv")
    proc = himo("add", "d", ok=False)
    assert_error(proc, "d: contains the pointer file inner.csv.himo of another tracked path")
    assert not (repo / "d.himo").exists()


def test_add_missing_path_is_an_error_and_adds_nothing(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    before = snapshot(repo)
    proc = himo("add", "a.txt", "nope.csv", ok=False)
    assert_error(proc, "nope.csv: no such file or directory")
    assert snapshot(repo) == before


def test_add_path_outside_repo_is_an_error(repo: Path, himo: Himo, tmp_path: Path) -> None:
    write(tmp_path / "outside.csv", "x\n")
    proc = himo("add", "../outside.csv", ok=False)
    assert_error(proc, f"../outside.csv: outside the repository {repo}")
    assert "Hint: himo tracks files inside the repository only" in proc.stderr
    proc = himo("add", str(tmp_path / "outside.csv"), ok=False)
    assert_error(proc, f"{tmp_path / 'outside.csv'}: outside the repository {repo}")


def test_add_through_a_symlink_leaving_the_repo_is_an_error(
    repo: Path, himo: Himo, tmp_path: Path
) -> None:
    write(tmp_path / "elsewhere" / "x.csv", "x\n")
    (repo / "link").symlink_to(tmp_path / "elsewhere")
    proc = himo("add", "link/x.csv", ok=False)
    assert_error(proc, f"link/x.csv: outside the repository {repo}")


@pytest.mark.parametrize("path", [".himo", ".himo/config", ".himo/cache"])
def test_add_path_under_himo_dir_is_an_error(repo: Path, himo: Himo, path: str) -> None:
    proc = himo("add", path, ok=False)
    assert_error(proc, f"{path}: inside .himo/, which himo manages itself")


def test_add_repository_root_is_an_error(repo: Path, himo: Himo) -> None:
    proc = himo("add", ".", ok=False)
    assert_error(proc, ".: is the repository root itself")


def test_add_api_raises_path_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    with pytest.raises(PathError) as info:
        add(Repo(repo), ["missing.bin"])
    assert info.value.message == "missing.bin: no such file or directory"
    assert info.value.exit_code == 1
