"""`himo push`, `himo fetch`, `himo pull`: move objects between the cache and a remote.

Only objects the other side lacks are sent (one batched existence check), transfers run on
`jobs` threads, and every downloaded object is hashed before it may enter the cache. An
interrupted transfer is resumed by running it again: each object lands whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from himo.api.checkout import CheckoutResult, checkout
from himo.api.contents import read_manifest
from himo.api.progress import SILENT, Reporter
from himo.errors import ConfigError, CorruptObjectError, HimoError, MissingObjectError, RemoteError
from himo.objects.hashing import hash_file
from himo.objects.ingest import parallel_map
from himo.objects.odb import _unlink_quietly
from himo.remotes.base import Remote
from himo.remotes.registry import open_remote
from himo.workspace.pointer import Pointer
from himo.workspace.repo import Repo
from himo.workspace.tracked import pointers_for


@dataclass
class TransferResult:
    remote: str  # remote name
    transferred: int = 0  # objects sent or received
    present: int = 0  # objects the destination already had
    missing: list[str] = field(default_factory=list)  # objects the source does not have
    corrupted: list[str] = field(default_factory=list)  # downloads whose digest did not match


def get_remote(repo: Repo, name: str | None = None, jobs: int | None = None) -> Remote:
    name = name or repo.config.get("core.remote")
    if not name:
        raise ConfigError(
            "no remote given and no default remote set",
            "use `-r NAME`, or set one with `himo remote add -d NAME URL`",
        )
    if name not in repo.config.remote_names():
        raise ConfigError(f"no remote named {name!r}", "list remotes with `himo remote list`")
    return open_remote(name, repo.config.remote(name), jobs or repo.jobs)


@contextlib.contextmanager
def remote_errors(remote: Remote) -> Iterator[None]:
    """Translate a storage library's errors into one RemoteError naming the remote."""
    try:
        yield
    except HimoError:
        raise
    except PermissionError as exc:
        raise RemoteError(f"remote {remote.name!r} ({remote.url}): permission denied: {exc}",
                          "check the remote's permissions or credentials") from None
    except Exception as exc:  # boundary: botocore, aiohttp, OSError ... all end here
        raise RemoteError(
            f"remote {remote.name!r} ({remote.url}): {type(exc).__name__}: {exc}".rstrip(": "),
            "check the URL, endpointurl and credentials, and that the server is reachable",
        ) from None


def push(
    repo: Repo, paths: list[str] | None = None, remote: str | None = None,
    jobs: int | None = None, reporter: Reporter = SILENT,
) -> TransferResult:
    store = get_remote(repo, remote, jobs)
    wanted = _needed(repo, pointers_for(repo, paths or []), fetching=False)
    local = {oid for oid in wanted if repo.odb.exists(oid)}
    result = TransferResult(store.name, missing=sorted(wanted - local))
    with remote_errors(store):
        todo = sorted(local - store.existing(local))
        result.present = len(local) - len(todo)
        _run(f"Pushing to {store.name}", todo, lambda oid: store.upload(repo.odb.path(oid), oid),
             jobs or repo.jobs, reporter)
    result.transferred = len(todo)
    return result


def fetch(
    repo: Repo, paths: list[str] | None = None, remote: str | None = None,
    jobs: int | None = None, reporter: Reporter = SILENT,
) -> TransferResult:
    store = get_remote(repo, remote, jobs)
    pointers = pointers_for(repo, paths or [])
    result = TransferResult(store.name)
    manifests = {p.hash_info.digest for p in pointers if p.hash_info.isdir}
    _download(repo, store, manifests, result, jobs, reporter)  # directory listings first
    _download(repo, store, _needed(repo, pointers, fetching=True), result, jobs, reporter)
    return result


def pull(
    repo: Repo, paths: list[str] | None = None, remote: str | None = None, force: bool = False,
    jobs: int | None = None, reporter: Reporter = SILENT,
) -> tuple[TransferResult, list[CheckoutResult]]:
    result = fetch(repo, paths, remote, jobs, reporter)
    complete = [repo.rel(p.target) for p in pointers_for(repo, paths or []) if _all_cached(repo, p)]
    restored = checkout(repo, complete, force, jobs, reporter) if complete else []
    return result, restored


def raise_for(result: TransferResult, verb: str) -> None:
    """After a transfer that did what it could: an error if anything was left behind."""
    if result.corrupted:
        raise CorruptObjectError(
            f"{len(result.corrupted)} object(s) on remote {result.remote!r} are corrupted"
            f" (digest mismatch, first: {result.corrupted[0][:12]}); none entered the cache",
            "push them again from a machine with a good copy (`himo push`)",
        )
    if result.missing:
        where = "in the cache" if verb == "push" else f"on remote {result.remote!r}"
        hint = "run `himo pull` on a machine that has them, or `himo add` again" if verb == "push" \
            else "run `himo push` from the machine that has them"
        raise MissingObjectError(
            f"{len(result.missing)} object(s) not found {where} (first: {result.missing[0][:12]})", hint
        )


def _needed(repo: Repo, pointers: list[Pointer], fetching: bool) -> set[str]:
    """Every object the pointers need (a directory's manifest and files, when it is cached)."""
    oids: set[str] = set()
    for pointer in pointers:
        oids.add(pointer.hash_info.digest)
        if pointer.hash_info.isdir and repo.odb.exists(pointer.hash_info.digest):
            oids.update(e.digest for e in read_manifest(repo, pointer))
    return oids


def _all_cached(repo: Repo, pointer: Pointer) -> bool:
    return all(repo.odb.exists(oid) for oid in _needed(repo, [pointer], fetching=True))


def _download(
    repo: Repo, store: Remote, oids: set[str], result: TransferResult, jobs: int | None, reporter: Reporter
) -> None:
    wanted = {oid for oid in oids if not repo.odb.exists(oid)}
    with remote_errors(store):
        available = store.existing(wanted) if wanted else set()
        result.missing.extend(sorted(wanted - available))
        verified = _run(f"Fetching from {store.name}", sorted(available),
                        lambda oid: _download_one(repo, store, oid), jobs or repo.jobs, reporter)
    result.corrupted.extend(oid for oid, ok in zip(sorted(available), verified, strict=True) if not ok)
    result.transferred += sum(verified)


def _download_one(repo: Repo, store: Remote, oid: str) -> bool:
    """Download, verify, then commit to the cache; False (and nothing kept) if corrupted."""
    tmp = repo.odb.tmp_path()
    try:
        store.download(oid, tmp)
        if hash_file(tmp) != oid:
            _unlink_quietly(tmp)
            return False
        repo.odb.commit_tmp(tmp, oid)
        return True
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _run(description, oids, action, jobs, reporter):  # type: ignore[no-untyped-def]
    reporter.start(description, len(oids))

    def step(oid: str):  # type: ignore[no-untyped-def]
        value = action(oid)
        reporter.advance()
        return value

    try:
        return list(parallel_map(step, oids, jobs))
    finally:
        reporter.finish()


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # never probe cloud metadata hosts
