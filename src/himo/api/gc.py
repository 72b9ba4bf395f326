"""`himo gc`: delete objects that no pointer in the chosen scopes refers to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from himo.api.contents import read_manifest, tracked
from himo.api.transfer import get_remote, remote_errors
from himo.errors import HimoError, MissingObjectError, UsageError
from himo.model import HashInfo
from himo.pipeline.lockfile import LOCK_FILE, parse_lock
from himo.workspace.pointer import Pointer, parse_pointer
from himo.workspace.repo import Repo


@dataclass(frozen=True)
class Scopes:
    workspace: bool = True  # pointers in the working tree (always kept)
    branches: bool = False  # pointers at the tip of every branch
    tags: bool = False  # ... of every tag
    commits: bool = False  # ... of every commit in history


@dataclass
class GcPlan:
    referenced: set[str]  # objects some scope needs
    cache: list[str] = field(default_factory=list)  # cache objects to delete
    remote: list[str] = field(default_factory=list)  # remote objects to delete (with --cloud)
    remote_name: str | None = None  # the remote of `remote`
    scopes: Scopes = Scopes()  # what the plan keeps


def plan_gc(repo: Repo, scopes: Scopes, cloud: bool = False, remote: str | None = None) -> GcPlan:
    """What gc would delete; nothing is changed."""
    plan = GcPlan(referenced_objects(repo, scopes), scopes=scopes)
    plan.cache = sorted(set(repo.odb.all_oids()) - plan.referenced)
    if cloud:
        store = get_remote(repo, remote)
        with remote_errors(store):
            plan.remote = sorted(store.all_oids() - plan.referenced)
        plan.remote_name = store.name
    return plan


def referenced_objects(repo: Repo, scopes: Scopes) -> set[str]:
    """Every object some pointer of the scopes needs."""
    pointers = tracked(repo)  # pointer files and the stage outputs in himo.lock
    if scopes.branches or scopes.tags or scopes.commits:
        pointers += _history_pointers(repo, scopes)
    return _referenced(repo, pointers)


def run_gc(repo: Repo, plan: GcPlan) -> int:
    """Delete what the plan lists and is still unused; return how many objects went.

    The scopes are read again under the repository lock: a pointer that changed since the
    plan was made (a `git checkout` while gc asked for confirmation) keeps its objects.
    """
    with repo.lock():
        used = referenced_objects(repo, plan.scopes)
        cache = [oid for oid in plan.cache if oid not in used]
        for oid in cache:
            repo.odb.remove(oid)
        repo.odb.clear_tmp()
        remote = [oid for oid in plan.remote if oid not in used]
        if remote:
            store = get_remote(repo, plan.remote_name)
            with remote_errors(store):
                store.delete(remote)
    return len(cache) + len(remote)


def _history_pointers(repo: Repo, scopes: Scopes) -> list[Pointer]:
    if repo.git is None:
        raise UsageError("--all-branches, --all-tags and --all-commits need a git repository")
    git = repo.git
    blobs: dict[str, str] = {}
    lock_path = (repo.root / LOCK_FILE).relative_to(git.root).as_posix()
    for rev in git.revisions(scopes.branches, scopes.tags, scopes.commits):
        blobs.update((blob, path) for path, blob in git.pointer_blobs(rev, also=(lock_path,)))
    texts = git.read_blobs(sorted(blobs))
    pointers = []
    for blob, path in blobs.items():
        text = texts[blob].decode("utf-8", "replace")
        try:
            if path == lock_path:
                pointers.extend(_lock_pointers(repo, text))
            else:
                pointers.append(parse_pointer(text, git.root / path, repo.root))
        except HimoError:
            continue  # an old broken pointer or lock file protects nothing
    return pointers


def _lock_pointers(repo: Repo, text: str) -> list[Pointer]:
    """Every output an old himo.lock records (cached or not: an uncached one is in no cache)."""
    return [
        Pointer(repo.root / LOCK_FILE, repo.root / out.path, HashInfo(out.digest, out.size, out.nfiles))
        for entry in parse_lock(text).values() for out in entry.outs if out.digest
    ]


def _referenced(repo: Repo, pointers: list[Pointer]) -> set[str]:
    oids: set[str] = set()
    for pointer in pointers:
        oids.add(pointer.hash_info.digest)
        if pointer.hash_info.isdir:
            oids.update(e.digest for e in _entries(repo, pointer))
    return oids


def _entries(repo: Repo, pointer: Pointer):  # type: ignore[no-untyped-def]
    try:
        return read_manifest(repo, pointer)
    except MissingObjectError:
        # Without the manifest we cannot tell which files the directory needs: deleting
        # anything could lose them, so refuse rather than guess.
        raise MissingObjectError(
            f"{repo.rel(pointer.target)}: manifest {pointer.hash_info.digest[:12]} (from"
            f" {repo.rel(Path(pointer.file))}) is not in the cache, so gc cannot tell what it needs",
            "run `himo fetch` first, or gc a narrower scope",
        ) from None
