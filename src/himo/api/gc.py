"""`himo gc`: delete objects that nothing in the chosen scopes refers to.

What refers to objects, and so what gc keeps:
- the workspace: every pointer file (git-ignored ones too) and every output himo.lock records;
- with branches/tags/commits: the same files in those commits, read from git;
- every release in the metadata store, live or retired (unless `Scopes.releases` is off), so a
  rollback always finds its bytes;
- the outputs of every experiment of this repository (`.himo/exps/`), until `himo exp remove`.

A reference gc cannot read would make the objects it protects look unused, so gc refuses
(deleting nothing) when himo.yaml, himo.lock or a pointer in the workspace, or the metadata
store, cannot be read: those can be fixed now. A broken pointer or himo.lock in an old commit
cannot be fixed any more (refusing would block gc for good), so gc keeps every digest written in
it, and the files of any directory manifest among them, and says which files those were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from himo.api.contents import read_manifest, tracked
from himo.api.transfer import get_remote, output_remotes, remote_errors
from himo.errors import (
    HimoError,
    ManifestError,
    MetaError,
    MissingObjectError,
    PipelineError,
    PointerError,
    UsageError,
)
from himo.model import HashInfo
from himo.objects.manifest import load_manifest
from himo.pipeline.lockfile import LOCK_FILE, parse_lock
from himo.progress import SILENT, Reporter
from himo.workspace.pointer import Pointer, parse_pointer
from himo.workspace.repo import Repo

DIGEST_IN_TEXT = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
MANIFEST_START = b'{"himo-manifest"'  # how every directory manifest begins (objects.manifest)
UNUSED = "gc cannot tell which objects are in use, so it deleted nothing"


@dataclass(frozen=True)
class Scopes:
    workspace: bool = True  # pointers in the working tree (always kept)
    branches: bool = False  # pointers at the tip of every branch
    tags: bool = False  # ... of every tag
    commits: bool = False  # ... of every commit in history
    releases: bool = True  # artifacts of every release in the metadata store, live or retired


@dataclass
class References:
    oids: set[str] = field(default_factory=set)  # objects some scope needs
    unreadable: list[str] = field(default_factory=list)  # COMMIT:PATH of old files kept by their digests


@dataclass
class GcPlan:
    referenced: set[str]  # objects some scope needs
    cache: list[str] = field(default_factory=list)  # cache objects to delete
    remote: list[str] = field(default_factory=list)  # remote objects to delete (with --cloud)
    remote_name: str | None = None  # the remote of `remote`
    # With --cloud, the other remotes himo.yaml's outputs name (`remote:`), each with its
    # objects to delete: any object no scope references, as on `remote_name`
    routed: dict[str, list[str]] = field(default_factory=dict)
    scopes: Scopes = Scopes()  # what the plan keeps
    unreadable: list[str] = field(default_factory=list)  # old files gc kept every digest of


def plan_gc(repo: Repo, scopes: Scopes, cloud: bool = False, remote: str | None = None,
            reporter: Reporter = SILENT) -> GcPlan:
    """What gc would delete; nothing is changed."""
    on_remote: dict[str, set[str]] = {}
    if cloud:  # first: an unreachable remote fails before the metadata store is opened
        store = get_remote(repo, remote)
        for name in [store.name, *output_remotes(repo)]:
            other = store if name == store.name else get_remote(repo, name)
            with remote_errors(other):
                on_remote.setdefault(name, other.all_oids())
    refs = references(repo, scopes)
    plan = GcPlan(refs.oids, scopes=scopes, unreadable=refs.unreadable)
    if refs.unreadable:
        reporter.warn(f"{len(refs.unreadable)} pointer or {LOCK_FILE} file(s) in git history cannot be "
                      f"read (first {refs.unreadable[0]}); gc keeps every digest written in them")
    plan.cache = sorted(set(repo.odb.all_oids()) - plan.referenced)
    if cloud:
        unused = {name: sorted(oids - plan.referenced) for name, oids in on_remote.items()}
        plan.remote_name = store.name
        plan.remote = unused.pop(store.name)
        plan.routed = unused
    return plan


def referenced_objects(repo: Repo, scopes: Scopes) -> set[str]:
    """Every object something in the scopes needs."""
    return references(repo, scopes).oids


def references(repo: Repo, scopes: Scopes) -> References:
    refs = References()
    refs.oids = _pointer_objects(repo, _workspace_pointers(repo)) | _workspace_lock_objects(repo)
    if scopes.branches or scopes.tags or scopes.commits:
        pointers, salvaged = _history_pointers(repo, scopes)
        refs.oids |= _pointer_objects(repo, pointers)
        for label, text in salvaged:
            refs.oids |= _digests_in(repo, text)
            refs.unreadable.append(label)
    if scopes.releases:
        refs.oids |= _release_objects(repo)
    refs.oids |= _experiment_objects(repo)
    return refs


def _experiment_objects(repo: Repo) -> set[str]:
    """The outputs of this repository's experiments (and the files of those that are folders)."""
    from himo.api.exp import records

    return _digests_in(repo, " ".join(d for record in records(repo) for d in record.outputs.values()))


def run_gc(repo: Repo, plan: GcPlan, reporter: Reporter = SILENT) -> int:
    """Delete what the plan lists and is still unused; return how many objects went.

    The scopes are read again under the repository lock: a pointer that changed since the
    plan was made (a `git checkout` while gc asked for confirmation) keeps its objects.
    """
    with repo.lock():
        used = referenced_objects(repo, plan.scopes)
        cache = [oid for oid in plan.cache if oid not in used]
        for oid in cache:
            repo.odb.remove(oid)
        if repo.odb.clear_tmp() is None:
            reporter.warn("temporary files in .himo/cache were kept: another himo process is writing "
                          "to the cache (a later gc clears what it leaves)")
        deleted = 0
        for name, planned in {plan.remote_name: plan.remote, **plan.routed}.items():
            remote = [oid for oid in planned if oid not in used]
            if remote:
                store = get_remote(repo, name)
                with remote_errors(store):
                    store.delete(remote)
            deleted += len(remote)
    return len(cache) + deleted


# -- the workspace --------------------------------------------------------------------------


def _workspace_pointers(repo: Repo) -> list[Pointer]:
    """Pointer files and himo.lock's cached outputs; an error naming the file that cannot be read."""
    from himo.pipeline.loader import load_stages

    try:
        load_stages(repo.root)  # which outputs are cached: even without himo.lock, say it is broken
        return tracked(repo)
    except (PipelineError, PointerError) as error:
        hint = f"{error.hint}, then run gc again" if error.hint else "fix it, then run gc again"
        raise type(error)(f"{error.message} ({UNUSED})", hint) from error


def _workspace_lock_objects(repo: Repo) -> set[str]:
    """Every output of the workspace's himo.lock, uncached ones too: the cache keeps their bytes for
    the run-cache (a stage with `cache: false` outputs is restored, not re-run, when its inputs
    come back). An object that is not there is simply not kept."""
    from himo.pipeline.lockfile import read_lock

    oids: set[str] = set()
    for entry in read_lock(repo.root).values():
        for out in entry.outs:
            if out.digest:
                oids.add(out.digest)
                oids.update(_manifest_files(repo, out.digest))
    return oids


# -- git history ----------------------------------------------------------------------------


def _history_pointers(repo: Repo, scopes: Scopes) -> tuple[list[Pointer], list[tuple[str, str]]]:
    """Pointers of the commits in scope, and (COMMIT:PATH, text) of those that cannot be read."""
    if repo.git is None:
        raise UsageError("--all-branches, --all-tags and --all-commits need a git repository")
    git = repo.git
    first_seen: dict[str, tuple[str, str]] = {}  # blob -> (commit, path) where it was first met
    lock_path = (repo.root / LOCK_FILE).relative_to(git.root).as_posix()
    for rev in git.revisions(scopes.branches, scopes.tags, scopes.commits):
        for path, blob in git.pointer_blobs(rev, also=(lock_path,)):
            first_seen.setdefault(blob, (rev, path))
    texts = git.read_blobs(sorted(first_seen))
    pointers: list[Pointer] = []
    salvaged: list[tuple[str, str]] = []
    for blob, (rev, path) in sorted(first_seen.items(), key=lambda item: item[1][1]):
        text = texts[blob].decode("utf-8", "replace")
        try:
            if path == lock_path:
                pointers.extend(_lock_pointers(repo, text))
            else:
                pointers.append(parse_pointer(text, git.root / path, repo.root))
        except HimoError:
            salvaged.append((f"{rev[:12]}:{path}", text))
    return pointers, salvaged


def _lock_pointers(repo: Repo, text: str) -> list[Pointer]:
    """Every output an old himo.lock records (cached or not: an uncached one is in no cache)."""
    return [
        Pointer(repo.root / LOCK_FILE, repo.root / out.path, HashInfo(out.digest, out.size, out.nfiles))
        for entry in parse_lock(text).values() for out in entry.outs if out.digest
    ]


def _digests_in(repo: Repo, text: str) -> set[str]:
    """Every digest written in an unreadable file, and the files of those that are manifests."""
    oids = set(DIGEST_IN_TEXT.findall(text))
    for oid in list(oids):
        oids.update(_manifest_files(repo, oid))
    return oids


def _manifest_files(repo: Repo, oid: str) -> list[str]:
    """The file digests of cache object `oid` if it is a directory manifest, else none."""
    try:
        with open(repo.odb.path(oid), "rb") as f:
            if f.read(len(MANIFEST_START)) != MANIFEST_START:
                return []
            f.seek(0)
            return [e.digest for e in load_manifest(f.read(), oid)]
    except (OSError, ManifestError):
        return []  # not in the cache, or not a manifest: the digest alone is kept


# -- pointers -> objects --------------------------------------------------------------------


def _pointer_objects(repo: Repo, pointers: list[Pointer]) -> set[str]:
    oids: set[str] = set()
    for pointer in pointers:
        oids.add(pointer.hash_info.digest)
        if pointer.hash_info.isdir:
            oids.update(e.digest for e in _entries(repo, pointer))
    return oids


def _entries(repo: Repo, pointer: Pointer):  # type: ignore[no-untyped-def]
    try:
        return read_manifest(repo, pointer)
    except MissingObjectError as exc:
        # Without the manifest we cannot tell which files the directory needs: deleting
        # anything could lose them, so refuse rather than guess.
        raise MissingObjectError(
            f"{repo.rel(pointer.target)}: manifest {pointer.hash_info.digest[:12]} (from"
            f" {repo.rel(Path(pointer.file))}) is not in the cache, so gc cannot tell what it needs",
            "run `himo fetch` first, or gc a narrower scope",
        ) from exc


# -- releases -------------------------------------------------------------------------------


def _release_objects(repo: Repo) -> set[str]:
    """The objects of every release (live or retired), and of a directory release its files."""
    oids: set[str] = set()
    for row, nfiles in _releases(repo):
        oids.add(row.digest)
        if nfiles is None:
            continue
        if not repo.odb.exists(row.digest):
            raise MissingObjectError(
                f"{row.path}: manifest {row.digest[:12]} (released as {row.name} {row.version} in"
                f" {row.env}) is not in the cache, so gc cannot tell what it needs",
                f"fetch it (`git checkout {row.commit[:12] or 'COMMIT'}`, `himo fetch {row.path}`), or"
                " run gc with --exclude-releases",
            )
        oids.update(_manifest_files(repo, row.digest))
    return oids


def _releases(repo: Repo):  # type: ignore[no-untyped-def]
    """(ReleaseRow, nfiles) of every release in the store; none when the store was never made."""
    from himo.api.recording import store_source, store_url
    from himo.meta.store import Store

    try:
        store = Store(store_url(repo), store_source(repo))
        if store.url.get_backend_name() == "sqlite" and not Path(store.url.database or "").is_file():
            return []  # no store yet: nothing was ever released (and gc creates none)
        from himo.meta.reads import MetaReader

        reader = MetaReader(store.open())  # journals aside: a release is written to the store at once
        try:
            return reader.released()
        finally:
            reader.close()
    except MetaError as error:
        # MetaError and its subclass keep their class: an unreachable server stays one.
        raise type(error)(f"{error.message} (gc cannot tell which objects releases use, so it deleted"
                          " nothing)",
                          f"{error.hint.rstrip('.') or 'fix the store'}; or run gc with --exclude-releases"
                          ) from error
