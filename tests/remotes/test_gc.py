"""`himo gc`: which objects go, which stay (workspace, branches, tags, history), and --cloud."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.helpers import cache_temp_files
from tests.conftest import Himo, git, make_tree, write
from tests.faults.helpers import writers_lock_holders
from tests.remotes.helpers import Store, cache_objects, digest_of, errors_of, pointer_digest

V1, V2 = b"version 1\n", b"version 2\n"


def track_two_versions(repo: Path, himo: Himo, commit: bool = False) -> tuple[str, str]:
    """a.txt recorded at V1, then at V2 (each committed to git if `commit`); both digests."""
    write(repo / "a.txt", V1)
    himo("add", "a.txt")
    if commit:
        commit_all(repo, "a.txt v1")
    write(repo / "a.txt", V2)
    himo("commit")
    if commit:
        commit_all(repo, "a.txt v2")
    return digest_of(V1), digest_of(V2)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def gc_output(himo: Himo, *args: str) -> str:
    return himo("gc", *args).stdout


def test_gc_removes_what_no_pointer_uses(repo: Path, himo: Himo):
    make_tree(repo / "data", files=5)
    himo("add", "data")
    old, new = track_two_versions(repo, himo)
    kept = cache_objects(repo) - {old}
    assert len(kept) == 7  # 5 files, the manifest, a.txt v2
    write(repo / ".himo" / "cache" / "tmp" / "left-by-a-crash", b"partial")
    write(repo / ".himo" / "cache" / new[:2] / ".himo-tmp-left-beside-an-object", b"partial")

    assert gc_output(himo, "--workspace", "-f") == "Removed 1 object(s)\n"
    assert cache_objects(repo) == kept and new in kept
    assert cache_temp_files(repo) == [], writers_lock_holders(repo)
    assert himo("status").stdout == "Everything is up to date.\n"
    assert gc_output(himo, "-w", "-f") == "Nothing to remove.\n"


def test_gc_of_an_old_directory_version(repo: Path, himo: Himo):
    make_tree(repo / "data", files=4)
    himo("add", "data")
    old_manifest = pointer_digest(repo / "data.himo")
    changed = next((repo / "data").rglob("*.bin"))
    old_file = digest_of(changed.read_bytes())
    write(changed, b"new content")
    himo("commit")

    assert gc_output(himo, "-w", "--dry") == (
        "".join(f"cache: {oid}\n" for oid in sorted([old_manifest, old_file]))
        + "Would remove 2 object(s)\n"
    )
    assert gc_output(himo, "-w", "-f") == "Removed 2 object(s)\n"
    assert old_manifest not in cache_objects(repo) and old_file not in cache_objects(repo)
    assert len(cache_objects(repo)) == 5


def test_dry_run_lists_and_deletes_nothing(repo: Path, himo: Himo):
    old, _ = track_two_versions(repo, himo)
    before = cache_objects(repo)
    assert gc_output(himo, "-w", "--dry") == f"cache: {old}\nWould remove 1 object(s)\n"
    assert json.loads(gc_output(himo, "--dry", "--json")) == {
        "cache": [old], "remote": [], "remote_name": None, "routed": {},
    }
    assert cache_objects(repo) == before


def test_without_force_and_without_a_terminal_gc_refuses(repo: Path, himo: Himo):
    track_two_versions(repo, himo)
    before = cache_objects(repo)
    proc = himo("gc", ok=False)
    assert proc.returncode == 2
    assert errors_of(proc.stderr) == [
        "Error: gc would remove 1 object(s); refusing without confirmation",
        "Hint: run with -f to confirm, or --dry to see the list",
    ]
    assert cache_objects(repo) == before


def answer_on_a_terminal(repo: Path, answer: str) -> str:
    """Run `himo gc` with a terminal as stdin, type `answer`; return what it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "himo", "gc"], cwd=repo, stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    os.write(master, answer.encode() + b"\n")
    out, err = proc.communicate(timeout=30)
    os.close(master)
    assert proc.returncode == 0, err
    return out


@pytest.mark.slow
def test_on_a_terminal_gc_asks(repo: Path, himo: Himo):
    old, _ = track_two_versions(repo, himo)
    question = "Remove 1 cache and 0 remote object(s)? [y/N]: "
    assert answer_on_a_terminal(repo, "n") == question + "Nothing removed.\n"
    assert old in cache_objects(repo)
    assert answer_on_a_terminal(repo, "y") == question + "Removed 1 object(s)\n"
    assert old not in cache_objects(repo)


def test_all_commits_keeps_what_history_uses(repo: Path, himo: Himo):
    old, new = track_two_versions(repo, himo, commit=True)
    assert gc_output(himo, "--all-commits", "-f") == "Nothing to remove.\n"
    assert gc_output(himo, "--all-branches", "--dry") == f"cache: {old}\nWould remove 1 object(s)\n"
    assert gc_output(himo, "--workspace", "-f") == "Removed 1 object(s)\n"
    assert cache_objects(repo) == {new}


def test_all_branches_keeps_what_another_branch_uses(repo: Path, himo: Himo):
    write(repo / "a.txt", V1)
    himo("add", "a.txt")
    commit_all(repo, "v1")
    git(repo, "checkout", "-q", "-b", "experiment")
    write(repo / "a.txt", V2)
    himo("commit")
    commit_all(repo, "v2 on a branch")
    git(repo, "checkout", "-q", "main")
    himo("checkout")
    assert (repo / "a.txt").read_bytes() == V1

    assert gc_output(himo, "--all-tags", "--dry") == f"cache: {digest_of(V2)}\nWould remove 1 object(s)\n"
    assert gc_output(himo, "--all-branches", "-f") == "Nothing to remove.\n"
    assert digest_of(V2) in cache_objects(repo)
    git(repo, "branch", "-q", "-D", "experiment")
    assert gc_output(himo, "--all-branches", "-f") == "Removed 1 object(s)\n"
    assert cache_objects(repo) == {digest_of(V1)}


def test_all_tags_keeps_what_a_tag_uses(repo: Path, himo: Himo):
    write(repo / "a.txt", V1)
    himo("add", "a.txt")
    commit_all(repo, "v1")
    git(repo, "tag", "-a", "v1.0", "-m", "first release")  # annotated: peeled to its commit
    write(repo / "a.txt", V2)
    himo("commit")
    commit_all(repo, "v2")

    assert gc_output(himo, "--all-branches", "--dry") == f"cache: {digest_of(V1)}\nWould remove 1 object(s)\n"
    assert gc_output(himo, "--all-tags", "-f") == "Nothing to remove.\n"
    assert cache_objects(repo) == {digest_of(V1), digest_of(V2)}


def test_history_scopes_need_git(make_repo):
    plain = make_repo("plain", scm=False)
    proc = Himo(plain)("gc", "--all-commits", "-f", ok=False)
    assert proc.returncode == 2
    assert errors_of(proc.stderr) == [
        "Error: --all-branches, --all-tags and --all-commits need a git repository"
    ]


def test_gc_refuses_when_a_manifest_is_missing(repo: Path, himo: Himo):
    make_tree(repo / "data", files=3)
    himo("add", "data")
    write(repo / "a.txt", V1)
    himo("add", "a.txt")
    manifest = pointer_digest(repo / "data.himo")
    (repo / ".himo" / "cache" / manifest[:2] / manifest[2:]).unlink()
    before = cache_objects(repo)

    proc = himo("gc", "-f", ok=False)
    assert proc.returncode == 1
    assert errors_of(proc.stderr) == [
        f"Error: data: manifest {manifest[:12]} (from data.himo) is not in the cache,"
        " so gc cannot tell what it needs",
        "Hint: run `himo fetch` first, or gc a narrower scope",
    ]
    assert cache_objects(repo) == before


def test_cloud_deletes_unused_remote_objects(repo: Path, himo: Himo, store: Store):
    write(repo / "a.txt", V1)
    himo("add", "a.txt")
    himo("push")
    write(repo / "a.txt", V2)
    himo("commit")
    store.write(digest_of(V2), V2)  # as `himo push` would (one push less: S3 calls are slow)
    stray = digest_of(b"pushed by someone else")
    store.write(stray, b"pushed by someone else")
    old = digest_of(V1)

    assert gc_output(himo, "--cloud", "--dry") == (
        f"cache: {old}\n" + "".join(f"store: {oid}\n" for oid in sorted([old, stray]))
        + "Would remove 3 object(s)\n"
    )
    assert store.objects() == {old, digest_of(V2), stray}
    assert gc_output(himo, "-w", "--cloud", "-r", "store", "-f") == "Removed 3 object(s)\n"
    new = digest_of(V2)
    assert store.objects() == {new} and store.stored() == [f"{new[:2]}/{new[2:]}"]
    assert cache_objects(repo) == {digest_of(V2)}
