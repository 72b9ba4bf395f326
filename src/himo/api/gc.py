"""`himo gc`: delete objects that no pointer in the chosen scopes refers to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from himo.api.contents import read_manifest
from himo.api.transfer import get_remote, remote_errors
from himo.errors import HimoError, MissingObjectError, UsageError
from himo.workspace.pointer import Pointer, parse_pointer
from himo.workspace.repo import Repo
from himo.workspace.tracked import pointers_for


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
    remote_name: str | None = None


def plan_gc(repo: Repo, scopes: Scopes, cloud: bool = False, remote: str | None = None) -> GcPlan:
    """What gc would delete; nothing is changed."""
    pointers = pointers_for(repo, [])
    if scopes.branches or scopes.tags or scopes.commits:
        pointers += _history_pointers(repo, scopes)
    plan = GcPlan(_referenced(repo, pointers))
    plan.cache = sorted(set(repo.odb.all_oids()) - plan.referenced)
    if cloud:
        store = get_remote(repo, remote)
        with remote_errors(store):
            plan.remote = sorted(store.all_oids() - plan.referenced)
        plan.remote_name = store.name
    return plan


def run_gc(repo: Repo, plan: GcPlan) -> int:
    """Delete what the plan lists; return how many objects went."""
    with repo.lock():
        for oid in plan.cache:
            repo.odb.remove(oid)
        repo.odb.clear_tmp()
        if plan.remote:
            store = get_remote(repo, plan.remote_name)
            with remote_errors(store):
                for oid in plan.remote:
                    store.delete(oid)
    return len(plan.cache) + len(plan.remote)


def _history_pointers(repo: Repo, scopes: Scopes) -> list[Pointer]:
    if repo.git is None:
        raise UsageError("--all-branches, --all-tags and --all-commits need a git repository")
    git = repo.git
    blobs: dict[str, str] = {}
    for rev in git.revisions(scopes.branches, scopes.tags, scopes.commits):
        blobs.update((blob, path) for path, blob in git.pointer_blobs(rev))
    texts = git.read_blobs(sorted(blobs))
    pointers = []
    for blob, path in blobs.items():
        file = git.root / path
        try:
            pointers.append(parse_pointer(texts[blob].decode("utf-8", "replace"), file, repo.root))
        except HimoError:
            continue  # an old broken pointer protects nothing
    return pointers


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
