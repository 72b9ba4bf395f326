"""`himo push`, `himo fetch`, `himo pull`: move objects between the cache and a remote.

Only objects the other side lacks are sent (one batched existence check), transfers run on
`jobs` threads, and every downloaded object is hashed before it may enter the cache. An
interrupted transfer is resumed by running it again: each object lands whole or not at all.
The first failed request stops the transfer (an unreachable remote fails fast).

Each is a run in the metadata store; every top-level tracked artifact now known to be on
the remote gets a Location there (kind `remote`, the remote's URL), and each one whose bytes
this run sent or fetched a Transfer (what the run moved).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from himo.api.checkout import CheckoutResult, corrupt_error, restore
from himo.api.contents import is_stage_output, outputs_left_out, read_manifest, tracked_despite_pipeline
from himo.api.recording import RunRecorder, recording
from himo.errors import (
    ConfigError,
    CorruptCacheObjectError,
    CorruptObjectError,
    HimoError,
    MissingObjectError,
    RemoteError,
    WorkspaceIOError,
    workspace_io_error,
)
from himo.meta.kinds import infer_kind
from himo.meta.records import ArtifactRef
from himo.model import HashInfo, TreeEntry
from himo.model.stage import Output
from himo.model.urls import mask_url
from himo.objects.files import unlink_quietly
from himo.objects.hashing import MMAP_THRESHOLD, hash_bytes, hash_file
from himo.objects.parallel import run_forked, run_parallel
from himo.objects.tree import tree_objects
from himo.objects.verify import Verifier
from himo.pipeline.loader import load_stages
from himo.progress import SILENT, Reporter
from himo.remotes.base import Remote
from himo.remotes.local import LocalRemote
from himo.remotes.registry import open_remote
from himo.workspace.pointer import SUFFIX, Pointer
from himo.workspace.repo import Repo

R = TypeVar("R")


@dataclass
class TransferResult:
    remote: str  # remote name
    transferred: int = 0  # objects sent or received
    present: int = 0  # objects the destination already had
    missing: list[str] = field(default_factory=list)  # objects the source does not have
    corrupted: list[str] = field(default_factory=list)  # downloads whose digest did not match
    # cache objects found bad as they were to be sent (not sent, moved aside), with a path needing each
    bad_cache: list[tuple[str, CorruptCacheObjectError]] = field(default_factory=list)
    bad_targets: list[str] = field(default_factory=list)  # the tracked paths needing them
    paths: dict[str, str] = field(default_factory=dict)  # object -> a tracked path needing it
    confirmed: set[str] = field(default_factory=set)  # objects seen on the remote (sent, there, fetched)
    moved: set[str] = field(default_factory=set)  # objects this transfer sent or fetched
    # why stage outputs were left out (himo.yaml or himo.lock unreadable); tracked files were not
    outputs_unknown: HimoError | None = None

    @property
    def complete(self) -> bool:
        return not self.missing and not self.corrupted and not self.bad_cache and not self.outputs_unknown


def get_remote(repo: Repo, name: str | None = None, jobs: int | None = None) -> Remote:
    """The remote `name` (default: core.remote), with `jobs` or its configured concurrency."""
    name = name or repo.config.get("core.remote")
    if not name:
        raise ConfigError(
            "no remote given and no default remote set",
            "use `-r NAME`, or set one with `himo remote add -d NAME URL`",
        )
    if name not in repo.config.remote_names():
        known = ", ".join(repo.config.remote_names()) or "none"
        raise ConfigError(f"no remote named {name!r} (known: {known})",
                          "list remotes with `himo remote list`")
    options = repo.config.remote(name)
    return open_remote(name, options, jobs or options.get("jobs") or repo.jobs, str(repo.root))


@contextlib.contextmanager
def remote_errors(remote: Remote) -> Iterator[None]:
    """Translate a storage library's errors into one RemoteError naming the remote."""
    try:
        yield
    except HimoError:
        raise
    except PermissionError as exc:
        raise RemoteError(mask_url(f"remote {remote.name!r} ({remote.url}): permission denied: {exc}"),
                          "check the remote's permissions or credentials",
                          remote=remote.name, url=mask_url(remote.url)) from exc
    except Exception as exc:  # boundary: botocore, aiohttp, OSError ... all end here
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever it says
        raise RemoteError(
            mask_url(f"remote {remote.name!r} ({remote.url}): {detail}".rstrip(": ")),
            "check the URL, endpointurl and credentials, and that the server is reachable",
            remote=remote.name, url=mask_url(remote.url),
        ) from exc


Route = tuple[Remote, list[Pointer]]  # a remote, and the tracked paths that go to it


def routes(repo: Repo, pointers: list[Pointer], remote: str | None = None,
           jobs: int | None = None, outs: list[Output] | None = None) -> list[Route]:
    """The remotes `pointers` go to: a stage output's own (its `remote:` in himo.yaml, which wins
    over `remote` and the default, as in DVC), else `remote` (None: core.remote). Each remote is
    opened before anything moves, so a misnamed one fails first; with no pointers, `remote`.
    `outs`: himo.yaml's outputs when the caller read them already."""
    own = {o.path: o.remote for o in (_outs(repo) if outs is None else outs) if o.remote}
    groups: dict[str | None, list[Pointer]] = {}
    for pointer in pointers:
        groups.setdefault(own.get(repo.rel(pointer.target)) or remote, []).append(pointer)
    return [(get_remote(repo, name, jobs), group) for name, group in (groups or {remote: []}).items()]


def output_remotes(repo: Repo) -> list[str]:
    """The remotes himo.yaml's outputs name (`remote:`), each once."""
    return sorted({o.remote for o in _outs(repo) if o.remote})


def _outs(repo: Repo) -> list[Output]:
    return [o for s in load_stages(repo.root) for o in s.outs]


def _outs_of(repo: Repo, pointers: list[Pointer]) -> list[Output]:
    """himo.yaml's outputs when `pointers` hold any stage output (their `remote:` and `push:`);
    PATH.himo files alone need no himo.yaml, so a broken one does not stop their transfer."""
    return _outs(repo) if any(is_stage_output(p) for p in pointers) else []


def _left_out(result: TransferResult, error: HimoError | None, recorder: RunRecorder) -> TransferResult:
    result.outputs_unknown = error
    if error is not None:
        recorder.outcome = "failed"
    return result


def push(
    repo: Repo, paths: list[str] | None = None, remote: str | None = None,
    jobs: int | None = None, reporter: Reporter = SILENT,
) -> TransferResult:
    found = tracked_despite_pipeline(repo, paths)
    outs = _outs_of(repo, found.pointers)
    kept_back = {o.path for o in outs if not o.push}  # `push: false` keeps them out, as in DVC
    pointers = [p for p in found.pointers if repo.rel(p.target) not in kept_back]
    stores = routes(repo, pointers, remote, jobs, outs)
    with recording(repo, "push", _args(paths, remote)) as recorder:
        results = [_push_to(repo, store, group, recorder, reporter) for store, group in stores]
        return _left_out(_merged(results), found.outputs_unknown, recorder)


def _push_to(repo: Repo, store: Remote, pointers: list[Pointer], recorder: RunRecorder,
             reporter: Reporter) -> TransferResult:
    sizes: dict[str, int | None] = {}
    targets: dict[str, str] = {}
    manifests: Manifests = {}
    wanted = _needed(repo, pointers, manifests, sizes, targets)
    local = repo.odb.existing(wanted)
    result = TransferResult(store.name, missing=sorted(set(wanted) - local), paths=wanted)
    with remote_errors(store):
        todo = sorted(local - store.existing(local))
        result.present = len(local) - len(todo)
        sent = _upload(repo, store, todo, sizes, reporter)
    bad = _moved_aside(repo, todo, sent)
    result.bad_cache = [(wanted[error.oid], error) for error in bad]
    result.bad_targets = sorted({targets[error.oid] for error in bad})
    result.transferred = len(todo) - len(bad)
    result.confirmed = set(local) - {error.oid for error in bad}
    result.moved = set(todo) - {error.oid for error in bad}
    _record_locations(repo, recorder, store, pointers, result, manifests)
    return result


def _merged(results: list[TransferResult]) -> TransferResult:
    """One result for a transfer that used several remotes (their names joined)."""
    if len(results) == 1:
        return results[0]
    merged = TransferResult(", ".join(r.remote for r in results))
    for r in results:
        merged.transferred += r.transferred
        merged.present += r.present
        merged.missing += r.missing
        merged.corrupted += r.corrupted
        merged.bad_cache += r.bad_cache
        merged.bad_targets += r.bad_targets
        merged.paths.update(r.paths)
        merged.confirmed |= r.confirmed
        merged.moved |= r.moved
        merged.outputs_unknown = merged.outputs_unknown or r.outputs_unknown
    return merged


def _upload(repo: Repo, store: Remote, oids: list[str], sizes: dict[str, int | None],
            reporter: Reporter) -> list[SendResult]:
    """Send each object, verified as it leaves the cache (`objects.verify`); a bad one is not
    sent, and its error comes back in its place."""
    verifier = Verifier.prepare(repo.odb, repo.state, {oid: sizes.get(oid) for oid in oids})

    def send(oid: str) -> SendResult:
        try:
            source = verifier.read(oid, sizes.get(oid))
        except CorruptCacheObjectError as exc:
            return exc
        with source:
            if source.data is not None:
                store.put_bytes(oid, source.data)
            else:
                store.upload(source.readable_path(), oid)
        return source.hashed

    sent = _run(f"Pushing to {store.name}", oids, send, store, reporter)
    # Large objects hashed now: their stat vouches for them next time.
    repo.state.save((st, oid) for oid, st in zip(oids, sent, strict=True) if isinstance(st, os.stat_result))
    return sent


SendResult = os.stat_result | CorruptCacheObjectError | None


def _moved_aside(repo: Repo, oids: list[str], results: list[SendResult]) -> list[CorruptCacheObjectError]:
    """The objects found bad, each moved aside out of the cache (so a fetch restores it)."""
    bad = [r for r in results if isinstance(r, CorruptCacheObjectError)]
    return [repo.odb.corrupt(error.oid, error.reason, repo.odb.quarantine(error.oid)) for error in bad]


def fetch(
    repo: Repo, paths: list[str] | None = None, remote: str | None = None,
    jobs: int | None = None, reporter: Reporter = SILENT,
) -> TransferResult:
    found = tracked_despite_pipeline(repo, paths)
    stores = routes(repo, found.pointers, remote, jobs, _outs_of(repo, found.pointers))
    with recording(repo, "fetch", _args(paths, remote)) as recorder:
        result = _merged([_fetch_from(repo, store, group, recorder, reporter, {}) for store, group in stores])
        return _left_out(result, found.outputs_unknown, recorder)


def pull(
    repo: Repo, paths: list[str] | None = None, remote: str | None = None, force: bool = False,
    jobs: int | None = None, reporter: Reporter = SILENT,
) -> tuple[TransferResult, list[CheckoutResult]]:
    found = tracked_despite_pipeline(repo, paths)
    pointers = found.pointers
    stores = routes(repo, pointers, remote, jobs, _outs_of(repo, pointers))
    with recording(repo, "pull", _args(paths, remote)) as recorder:
        manifests: Manifests = {}
        result = _merged([_fetch_from(repo, store, group, recorder, reporter, manifests)
                          for store, group in stores])
        complete = [p for p in pointers if _all_cached(repo, p, manifests)]
        with repo.lock():
            restored = restore(repo, complete, force, jobs, reporter) if complete else []
        _left_out(result, found.outputs_unknown, recorder)
    return result, restored


def _fetch_from(repo: Repo, store: Remote, pointers: list[Pointer], recorder: RunRecorder,
                reporter: Reporter, manifests: Manifests) -> TransferResult:
    result = _fetch(repo, store, pointers, reporter, manifests)
    _record_locations(repo, recorder, store, pointers, result, manifests)
    return result


def _fetch(repo: Repo, store: Remote, pointers: list[Pointer], reporter: Reporter,
           manifests: Manifests) -> TransferResult:
    result = TransferResult(store.name)
    listings = {p.hash_info.digest: repo.rel(p.target) for p in pointers if p.hash_info.isdir}
    _download(repo, store, listings, result, reporter)  # directory listings first
    failed = set(result.missing) | set(result.corrupted)
    needed = _needed(repo, pointers, manifests)
    _download(repo, store, {o: p for o, p in needed.items() if o not in failed}, result, reporter)
    return result


def _url(store: Remote) -> str:
    """The remote's URL; for a folder, its absolute path (a relative one means nothing in the store)."""
    return store.root if isinstance(store, LocalRemote) else store.url


def _args(paths: list[str] | None, remote: str | None) -> list[str]:
    return (["--remote", remote] if remote else []) + list(paths or [])


def _record_locations(repo: Repo, recorder: RunRecorder, store: Remote, pointers: list[Pointer],
                      result: TransferResult, manifests: Manifests) -> None:
    """A Location for each artifact whose objects were all seen on the remote; a transfer that
    left objects behind ends its run `failed`."""
    bad = set(result.missing) | set(result.corrupted) | {error.oid for _, error in result.bad_cache}
    for pointer in pointers:
        needed = set(_needed(repo, [pointer], manifests))
        if needed & bad or not needed & result.confirmed:
            continue
        rel, info = repo.rel(pointer.target), pointer.hash_info
        kind = infer_kind(rel, data=pointer.file.name.endswith(SUFFIX))  # else a stage output
        ref = ArtifactRef(path=rel, digest=info.digest, size=info.size, nfiles=info.nfiles, kind=kind)
        recorder.location(ref, "remote", _url(store), moved=bool(needed & result.moved))
    if not result.complete:
        recorder.outcome = "failed"


def raise_for(result: TransferResult, verb: str) -> None:
    """After a transfer that did what it could: an error if anything was left behind."""
    if result.bad_cache:
        tracked_path = " ".join(result.bad_targets)
        raise corrupt_error(result.bad_cache, "nothing corrupted was sent; fetch a good copy from a remote"
                            f" that has it (`himo fetch -r NAME {tracked_path}`), or record the workspace"
                            f" file as it is now with `himo add {tracked_path}`")
    if result.corrupted:
        first = result.corrupted[0]
        raise CorruptObjectError(
            f"{len(result.corrupted)} object(s) on remote {result.remote!r} are corrupted"
            f" (digest mismatch), first {first[:12]} ({result.paths.get(first, '?')});"
            " none entered the cache",
            f"delete the bad object(s) from the remote (such as {first[:2]}/{first[2:]}),"
            " then `himo push` from a machine with a good copy",
        )
    if result.missing:
        first = result.missing[0]
        where = "in the cache" if verb == "push" else f"on remote {result.remote!r}"
        hint = "run `himo pull` on a machine that has them, or `himo add` again" if verb == "push" \
            else "run `himo push` from the machine that has them"
        raise MissingObjectError(
            f"{len(result.missing)} object(s) not found {where},"
            f" first {first[:12]} ({result.paths.get(first, '?')})", hint
        )
    if result.outputs_unknown is not None:
        done = {"push": "pushed", "fetch": "fetched", "pull": "pulled"}[verb]
        raise outputs_left_out(result.outputs_unknown, done, verb) from result.outputs_unknown


Manifests = dict[str, list[TreeEntry]]  # manifests read so far in one command, by digest


def _needed(repo: Repo, pointers: list[Pointer], manifests: Manifests,
            sizes: dict[str, int | None] | None = None,
            targets: dict[str, str] | None = None) -> dict[str, str]:
    """Every object the pointers need (a directory's manifest, and its files when it is
    cached), each with the file that needs it, for messages. `sizes` gets each one's recorded
    size (None for a manifest: its pointer records the files' total), `targets` the tracked
    path needing it. Each manifest is read (and verified) once per command: `manifests`."""
    oids: dict[str, str] = {}
    sizes = {} if sizes is None else sizes
    targets = {} if targets is None else targets
    for pointer in pointers:
        rel, info = repo.rel(pointer.target), pointer.hash_info
        oids.setdefault(info.digest, rel)
        targets.setdefault(info.digest, rel)
        sizes[info.digest] = None if info.isdir else info.size
        if info.isdir and (info.digest in manifests or repo.odb.exists(info.digest)):
            if info.digest not in manifests:
                manifests[info.digest] = read_manifest(repo, pointer)
            for entry in manifests[info.digest]:
                oids.setdefault(entry.digest, f"{rel}/{entry.path}")
                targets.setdefault(entry.digest, rel)
                sizes[entry.digest] = entry.size
    return oids


def _all_cached(repo: Repo, pointer: Pointer, manifests: Manifests) -> bool:
    needed = _needed(repo, [pointer], manifests)
    return len(repo.odb.existing(needed)) == len(needed)


def _download(
    repo: Repo, store: Remote, oids: dict[str, str], result: TransferResult, reporter: Reporter
) -> None:
    """Fetch the `oids` the cache lacks; record what the remote lacks or holds corrupted."""
    result.paths.update(oids)
    wanted = set(oids) - repo.odb.existing(oids)
    with remote_errors(store):
        available = sorted(store.existing(wanted)) if wanted else []
        result.missing.extend(sorted(wanted - set(available)))
        verified = _run(f"Fetching from {store.name}", available,
                        lambda oid: _download_one(repo, store, oid), store, reporter)
    result.corrupted.extend(oid for oid, ok in zip(available, verified, strict=True) if not ok)
    fetched = {oid for oid, ok in zip(available, verified, strict=True) if ok}
    result.confirmed.update(fetched)
    result.moved.update(fetched)
    result.transferred += sum(verified)


def _download_one(repo: Repo, store: Remote, oid: str) -> bool:
    """Download, verify, then commit to the cache; False (and nothing kept) if corrupted."""
    data = store.read_small(oid, MMAP_THRESHOLD)
    if data is not None:
        if hash_bytes(data) != oid:
            return False
        repo.odb.add_bytes(data, oid)
        return True
    tmp = repo.odb.tmp_path(oid)
    try:
        store.download(oid, tmp)
        if hash_file(tmp) != oid:
            unlink_quietly(tmp)
            return False
        repo.odb.commit_tmp(tmp, oid)
        return True
    except OSError as exc:
        unlink_quietly(tmp)
        if tmp in (exc.filename, exc.filename2):  # our side failed, not the remote
            raise _cache_write_error(oid, tmp, exc) from exc
        raise
    except BaseException:
        unlink_quietly(tmp)
        raise


def _cache_write_error(oid: str, tmp: str, exc: OSError) -> WorkspaceIOError:
    """A download that could not be written into the cache: say so, not "check the credentials"."""
    permissions = "check the permissions of .himo/cache, then run the command again"
    deleted = "another process deleted it (an older himo's gc, or by hand); run the command again"
    return workspace_io_error(f"cannot write object {oid[:12]} into the cache: {exc.strerror} ({tmp})", exc,
                              full="free space in the cache's filesystem, then run the command again",
                              denied=permissions, other=deleted if exc.errno == errno.ENOENT else permissions)


def _run(
    description: str, oids: list[str], action: Callable[[str], R], store: Remote, reporter: Reporter
) -> list[R]:
    """`action` on every object, the remote's jobs at a time, with progress; stops at the first
    error. Folder remotes run on processes, others on threads."""
    reporter.start(description, len(oids))
    try:
        if store.forkable:
            return run_forked(action, oids, store.jobs, reporter.advance)

        def step(oid: str) -> R:
            value = action(oid)
            reporter.advance()
            return value

        return run_parallel(step, oids, store.jobs)
    finally:
        reporter.finish()


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # never probe cloud metadata hosts


def fetch_objects(repo: Repo, store: Remote, infos: dict[str, HashInfo]) -> None:
    """Bring everything `infos` (path -> identity) needs from `store` into the cache, each object
    verified by digest (a directory: its manifest, then its files); raise if any is missing or
    corrupted. For stages run elsewhere (Dask): no pointers, no records."""
    result = TransferResult(store.name)
    _download(repo, store, {info.digest: path for path, info in infos.items()}, result, SILENT)
    raise_for(result, "fetch")
    ingester = repo.ingester()
    files = {oid: path for path, info in infos.items() if info.isdir for oid in tree_objects(ingester, info)}
    _download(repo, store, files, result, SILENT)
    raise_for(result, "fetch")


def push_objects(repo: Repo, store: Remote, infos: dict[str, HashInfo]) -> int:
    """Send what `infos` need from the cache to `store`, only what it lacks; how many were sent."""
    ingester = repo.ingester()
    wanted = {oid: path for path, info in infos.items() for oid in tree_objects(ingester, info)}
    result = TransferResult(store.name, paths=wanted)
    with remote_errors(store):
        todo = sorted(set(wanted) - store.existing(wanted))
        sent = _upload(repo, store, todo, {}, SILENT)
    result.bad_cache = [(wanted[error.oid], error) for error in _moved_aside(repo, todo, sent)]
    result.bad_targets = [path for path, _ in result.bad_cache]
    raise_for(result, "push")
    return len(todo)
