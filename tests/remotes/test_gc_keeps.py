"""What `himo gc` keeps: it refuses when it cannot read what refers to objects (himo.yaml,
himo.lock, pointers, the metadata store), keeps what an unreadable file in old history names,
and keeps every release's bytes, in the cache and on the remote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Himo, git, make_tree, write
from tests.remotes.helpers import Store, cache_objects, digest_of, errors_of, pointer_digest

PIPELINE = ("stages:\n  train:\n    cmd: cp params.yaml model.bin\n    deps: [params.yaml]\n"
            "    outs: [model.bin]\n")


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def trained(repo: Path, himo: Himo, seed: int) -> str:
    """Train (the stage copies params.yaml to model.bin), commit; the model's digest."""
    write(repo / "params.yaml", f"seed: {seed}\n")
    himo("repro")
    commit_all(repo, f"model of seed {seed}")
    return digest_of(f"seed: {seed}\n".encode())


def pipeline(repo: Path, himo: Himo) -> str:
    write(repo / "himo.yaml", PIPELINE)
    return trained(repo, himo, 1)


# -- refusing when a reference cannot be read -----------------------------------------------


UNUSED = " (gc cannot tell which objects are in use, so it deleted nothing)"
BROKEN = {  # file: (what is appended, the error, its hint)
    "himo.yaml": ("stages: [\n", "himo.yaml:7: invalid YAML: did not find expected node content",
                  "fix the syntax of himo.yaml"),
    "himo.lock": ("stages: [\n", "himo.lock: unreadable: invalid YAML on line 15: did not find expected"
                  " node content", "restore it with `git checkout -- himo.lock`, or delete it and run"
                  " `himo repro`"),
    "data.himo": ("<<<<<<< HEAD\n", "data.himo: unresolved git merge conflict (line 7)",
                  "keep one side (`git checkout --ours -- data.himo` or `--theirs`), then `himo checkout`"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_gc_refuses_when_a_file_that_refers_to_objects_cannot_be_read(repo: Path, himo: Himo, broken: str):
    model = pipeline(repo, himo)
    make_tree(repo / "data", files=3)
    himo("add", "data")
    write(repo / "old.txt", b"unused")
    himo("add", "old.txt")
    himo("remove", "old.txt.himo")
    before = cache_objects(repo)
    assert model in before and digest_of(b"unused") in before
    text, message, hint = BROKEN[broken]
    with open(repo / broken, "a") as f:  # an edit in progress, a merge conflict
        f.write(text)

    proc = himo("gc", "-w", "-f", ok=False)

    assert proc.returncode == 1
    assert errors_of(proc.stderr) == [f"Error: {message}{UNUSED}", f"Hint: {hint}, then run gc again"]
    assert cache_objects(repo) == before


def test_gc_keeps_the_cached_output_himo_lock_records(repo: Path, himo: Himo):
    old = pipeline(repo, himo)
    new = trained(repo, himo, 2)
    assert himo("gc", "-w", "--exclude-releases", "-f").stdout == "Removed 1 object(s)\n"
    assert old not in cache_objects(repo) and new in cache_objects(repo)


def test_an_unreadable_pointer_in_history_keeps_every_digest_it_names(repo: Path, himo: Himo):
    """A merge conflict committed in a pointer long ago cannot be fixed: gc keeps what it names."""
    make_tree(repo / "data", files=3)
    himo("add", "data")
    ours = (repo / "data.himo").read_text()
    files = cache_objects(repo)
    (repo / "data" / "sub0" / "f0.bin").chmod(0o644)
    write(repo / "data" / "sub0" / "f0.bin", b"theirs")
    himo("commit", "data")
    theirs = (repo / "data.himo").read_text()
    write(repo / "data.himo", f"<<<<<<< HEAD\n{ours}=======\n{theirs}>>>>>>> other\n")
    commit_all(repo, "a conflict, committed")
    (repo / "data.himo").unlink()
    commit_all(repo, "data dropped")
    kept = files | cache_objects(repo)

    proc = himo("gc", "--all-commits", "-f")

    assert proc.stdout == "Nothing to remove.\n"
    commit = git(repo, "rev-parse", "HEAD~1").strip()
    assert errors_of(proc.stderr) == [
        "Warning: 1 pointer or himo.lock file(s) in git history cannot be read"
        f" (first {commit[:12]}:data.himo); gc keeps every digest written in them"]
    assert cache_objects(repo) == kept and len(kept) == 4 + 2
    assert himo("gc", "-w", "--exclude-releases", "-f").stdout == f"Removed {len(kept)} object(s)\n"


# -- releases -------------------------------------------------------------------------------


def test_gc_cloud_keeps_the_bytes_of_every_release(repo: Path, himo: Himo, store: Store):
    """Release, retrain, release, rollback, retrain, then gc as a new user would: every
    released model stays in the cache and on the remote, and the next rollback works."""
    one = pipeline(repo, himo)
    himo("push")
    himo("release", "model.bin", "--env", "production")
    two = trained(repo, himo, 2)
    himo("push")
    himo("release", "model.bin", "--env", "production")
    himo("rollback", "--env", "production")
    three = trained(repo, himo, 3)
    himo("push")
    released = {one, two}

    assert himo("gc", "-w", "--cloud", "--exclude-releases", "--dry").stdout == (
        "".join(f"cache: {oid}\n" for oid in sorted(released))
        + "".join(f"store: {oid}\n" for oid in sorted(released)) + "Would remove 4 object(s)\n")
    assert himo("gc", "-w", "--cloud", "-f").stdout == "Nothing to remove.\n"

    assert released | {three} <= cache_objects(repo) and released | {three} <= store.objects()
    rolled = himo("rollback", "--env", "production", "--json")
    assert f'"digest": "{two}"' in rolled.stdout


def test_gc_keeps_the_files_of_a_released_directory(repo: Path, himo: Himo, meta_url: str):
    himo("config", "--local", "meta.url", meta_url)  # SQLite, then PostgreSQL
    make_tree(repo / "model", files=4)
    himo("add", "model")
    commit_all(repo, "model v1")
    himo("release", "model", "--env", "staging")
    manifest = pointer_digest(repo / "model.himo")
    first = cache_objects(repo)
    (repo / "model" / "sub0" / "f0.bin").chmod(0o644)
    write(repo / "model" / "sub0" / "f0.bin", b"retrained")
    himo("commit", "model")
    commit_all(repo, "model v2")

    assert himo("gc", "-w", "-f").stdout == "Nothing to remove.\n"
    assert first <= cache_objects(repo) and manifest in first
    assert himo("gc", "-w", "--exclude-releases", "-f").stdout == "Removed 2 object(s)\n"


def test_gc_refuses_when_the_metadata_store_cannot_be_read(repo: Path, himo: Himo):
    pipeline(repo, himo)
    himo("release", "model.bin", "--env", "production")
    trained(repo, himo, 2)
    store = repo / ".himo" / "meta.db"
    for extra in (".himo/meta.db-wal", ".himo/meta.db-shm"):
        (repo / extra).unlink(missing_ok=True)
    store.write_bytes(b"this is not a database" * 200)
    before = cache_objects(repo)

    proc = himo("gc", "-w", "-f", ok=False)

    assert proc.returncode == 1
    assert errors_of(proc.stderr) == [
        f"Error: the metadata store {store} is corrupt (file is not a database) (gc cannot tell which"
        " objects releases use, so it deleted nothing)",
        f"Hint: move it aside (mv {store} {store}.broken) and run `himo meta sync`: a new store is made;"
        " history before is lost unless restored from a backup; pipeline files, cache and himo.lock are"
        " untouched; or run gc with --exclude-releases"]
    assert cache_objects(repo) == before
    assert himo("gc", "-w", "--exclude-releases", "-f").stdout == "Removed 1 object(s)\n"


def test_gc_refuses_when_the_metadata_store_server_is_down(repo: Path, himo: Himo):
    old = pipeline(repo, himo)
    trained(repo, himo, 2)
    url = "postgresql+psycopg://postgres@127.0.0.1:9/himo"  # nothing listens on port 9
    himo("config", "--local", "meta.url", url)

    proc = himo("gc", "-w", "-f", ok=False)

    assert proc.returncode == 1
    message, hint = errors_of(proc.stderr)
    assert message.startswith(f"Error: cannot reach the metadata store {url}: connection failed: ")
    assert message.endswith(" (gc cannot tell which objects releases use, so it deleted nothing)")
    assert hint == ("Hint: start the database server or fix meta.url; records wait in .himo/journal/; or run"
                    " gc with --exclude-releases")
    assert old in cache_objects(repo)


def test_checkout_says_himo_yaml_is_broken_instead_of_skipping_the_outputs(repo: Path, himo: Himo):
    pipeline(repo, himo)
    (repo / "model.bin").unlink()
    with open(repo / "himo.yaml", "a") as f:
        f.write("stages: [\n")
    proc = himo("checkout", ok=False)
    assert proc.returncode == 1
    assert errors_of(proc.stderr) == [
        "Error: himo.yaml:7: invalid YAML: did not find expected node content; stage outputs were not checked"
        " out (tracked files were)",
        "Hint: fix the syntax of himo.yaml, then run `himo checkout` again for the stage outputs"]
    assert not (repo / "model.bin").exists()
