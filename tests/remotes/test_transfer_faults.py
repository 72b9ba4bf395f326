"""Faults during transfers: corrupted or missing remote objects, kill -9, unreachable servers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.helpers import cache_temp_files
from tests.conftest import Himo, make_tree, write
from tests.remotes.helpers import (
    FolderStore,
    S3Store,
    Store,
    cache_objects,
    digest_of,
    errors_of,
    pointer_digest,
    pushed,
)


def push_tree(repo: Path, himo: Himo, files: int = 6) -> str:
    """data/ of `files` files plus a.txt, pushed, then gone locally; data/'s manifest digest."""
    make_tree(repo / "data", files=files)
    write(repo / "a.txt", "alpha\n")
    himo("add", "data", "a.txt")
    himo("push")
    shutil.rmtree(repo / ".himo" / "cache")
    shutil.rmtree(repo / "data")
    (repo / "a.txt").unlink()
    return pointer_digest(repo / "data.himo")


def pull_fails(himo: Himo) -> tuple[str, list[str]]:
    proc = himo("pull", ok=False)
    assert proc.returncode == 1, proc.stderr
    return proc.stdout, errors_of(proc.stderr)


def test_corrupted_object_on_the_remote_never_enters_the_cache(repo: Path, himo: Himo, store: Store):
    manifest = push_tree(repo, himo)
    good = store.objects()
    bad = sorted(good - {manifest, digest_of(b"alpha\n")})[0]
    store.write(bad, store.read(bad)[:-1] + b"!")  # same size, one byte changed

    stdout, errors = pull_fails(himo)
    assert errors == [
        f"Error: 1 object(s) on remote 'store' are corrupted (digest mismatch), first {bad[:12]}"
        f" (data/{_path_in(repo, bad)}); none entered the cache",
        f"Hint: delete the bad object(s) from the remote (such as {bad[:2]}/{bad[2:]}),"
        " then `himo push` from a machine with a good copy",
    ]
    assert cache_objects(repo) == good - {bad}  # everything else arrived
    assert not (repo / ".himo" / "cache" / bad[:2] / bad[2:]).exists()
    assert cache_temp_files(repo) == []
    assert stdout == "Fetched 7 object(s) from store\nRestored a.txt (1 written, 0 removed)\n"
    assert not (repo / "data").exists()  # incomplete: not checked out


def _path_in(repo: Path, oid: str) -> str:
    """Which file of data/ has digest `oid`, from the (fetched) manifest."""
    manifest = pointer_digest(repo / "data.himo")
    doc = json.loads((repo / ".himo" / "cache" / manifest[:2] / manifest[2:]).read_bytes())
    return next(path for path, digest, _ in doc["files"] if digest == oid)


def test_corrupted_manifest_is_reported_once(repo: Path, himo: Himo, folder_store: FolderStore):
    folder_store.configure(himo)
    manifest = push_tree(repo, himo)
    folder_store.write(manifest, b'{"himo-manifest": 1, "hash": "blake3", "files": []}')

    stdout, errors = pull_fails(himo)
    assert errors[0] == (
        f"Error: 1 object(s) on remote 'store' are corrupted (digest mismatch), first {manifest[:12]}"
        " (data); none entered the cache"
    )
    assert cache_objects(repo) == {digest_of(b"alpha\n")}
    assert stdout == "Fetched 1 object(s) from store\nRestored a.txt (1 written, 0 removed)\n"


def test_manifest_missing_from_the_remote_is_reported_once(repo: Path, himo: Himo, folder_store: FolderStore):
    folder_store.configure(himo)
    manifest = push_tree(repo, himo)
    folder_store.delete(manifest)

    _, errors = pull_fails(himo)
    assert errors == [
        f"Error: 1 object(s) not found on remote 'store', first {manifest[:12]} (data)",
        "Hint: run `himo push` from the machine that has them",
    ]


@pytest.mark.slow
def test_push_killed_then_run_again(repo: Path, himo: Himo, folder_store: FolderStore):
    folder_store.configure(himo)
    for i in range(2000):
        write(repo / "data" / f"d{i % 20}" / f"f{i}", f"file {i}\n")
    himo("add", "data")
    total = len(cache_objects(repo))
    assert total == 2001

    proc = subprocess.Popen([sys.executable, "-m", "himo", "push", "-j", "2"], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_files(folder_store, 200, proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    arrived = len(folder_store.objects())
    assert 100 <= arrived < total, "the push finished before it could be killed"

    shard = folder_store.root / "ab"
    shard.mkdir(exist_ok=True)
    (shard / ".himo-tmp-0123456789abcdef").write_bytes(b"half an upl")  # as a kill leaves it
    sent, present = pushed(himo("push", "-j", "2").stdout)
    assert (sent, present) == (total - arrived, arrived)
    objects = folder_store.objects()
    assert objects == cache_objects(repo)
    folder_store.verify()
    others = [k for k in folder_store.stored() if k.replace("/", "") not in objects]
    assert all(".himo-tmp-" in k for k in others), others  # only temp files of killed copies
    assert himo("gc", "--cloud", "--dry").stdout == "Nothing to remove.\n"


def _wait_for_files(store: FolderStore, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(len(files) for _, _, files in os.walk(store.root)) >= count:
            return
        time.sleep(0.002)
    raise AssertionError(f"push exited {proc.poll()} before {count} objects arrived")


def dead_remote(repo: Path, himo: Himo) -> None:
    """A default S3 remote on a closed port, and data/ (enough objects that the existence
    check lists shards on several threads)."""
    himo("remote", "add", "-d", "dead", "s3://bucket/store")
    himo("remote", "modify", "dead", "endpointurl", "http://127.0.0.1:9")  # nothing listens
    make_tree(repo / "data", files=100)
    himo("add", "data")


def fails_fast(himo: Himo, *args: str, limit: float, env: dict[str, str] | None = None) -> None:
    started = time.monotonic()
    proc = himo(*args, ok=False, env=env)
    assert proc.returncode == 1
    assert time.monotonic() - started < limit, f"`himo {' '.join(args)}` took too long to give up"
    message, hint = errors_of(proc.stderr)  # one line each, no traceback
    assert message.startswith(
        "Error: remote 'dead' (s3://bucket/store): EndpointConnectionError:"
        ' Could not connect to the endpoint URL: "http://127.0.0.1:9/bucket'
    ), message
    assert hint == "Hint: check the URL, endpointurl and credentials, and that the server is reachable"


@pytest.mark.slow
def test_unreachable_s3_endpoint_on_push(repo: Path, himo: Himo):
    dead_remote(repo, himo)
    fails_fast(himo, "push", "-j", "4", limit=7)  # default retries: one, and the first failure stops all


@pytest.mark.slow
def test_unreachable_s3_endpoint_on_gc_and_pull(repo: Path, himo: Himo):
    dead_remote(repo, himo)
    no_retries = {**os.environ, "AWS_MAX_ATTEMPTS": "1"}  # the standard AWS setting is honoured
    fails_fast(himo, "gc", "--cloud", "-f", limit=4, env=no_retries)
    assert len(cache_objects(repo)) == 101  # gc deleted nothing
    shutil.rmtree(repo / ".himo" / "cache")
    fails_fast(himo, "pull", limit=4, env=no_retries)


def test_missing_bucket(repo: Path, himo: Himo, s3_server: str):
    S3Store(s3_server, "no-such-bucket").configure(himo)
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    proc = himo("push", ok=False)
    assert proc.returncode == 1
    assert errors_of(proc.stderr)[0] == (
        "Error: remote 'store' (s3://no-such-bucket/store): FileNotFoundError:"
        " The specified bucket does not exist"
    )
