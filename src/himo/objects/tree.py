"""A path (file or directory) as one HashInfo: hashing it, storing it, placing it back."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from himo.errors import CorruptCacheObjectError
from himo.model import HashInfo, TreeEntry
from himo.objects.hashing import hash_bytes
from himo.objects.ingest import Ingester
from himo.objects.manifest import dump_manifest, load_manifest
from himo.objects.odb import ObjectDB
from himo.objects.parallel import run_forked
from himo.objects.verify import Verifier
from himo.objects.walk import FileRef, IgnoreFn, walk_files


def files_at(path: Path, ignored: IgnoreFn | None = None) -> list[FileRef]:
    if path.is_dir():
        return walk_files(str(path), ignored)
    return [FileRef(str(path), path.name, path.stat())]


def _info(path: Path, files: list[FileRef], digests: dict[str, str], manifest_oid) -> HashInfo:  # type: ignore[no-untyped-def]
    if not path.is_dir():
        return HashInfo(digests[path.name], files[0].stat.st_size)
    entries = [TreeEntry(f.rel, digests[f.rel], f.stat.st_size) for f in files]
    manifest = dump_manifest(entries, os.path.relpath(path))  # named in errors, as the user sees it
    return HashInfo(manifest_oid(manifest), sum(e.size for e in entries), len(entries))


def hash_path(ingester: Ingester, path: Path, ignored: IgnoreFn | None = None) -> HashInfo | None:
    """The identity of what is at `path` now (None if nothing is), reading only changed files."""
    if not path.exists():
        return None
    files = files_at(path, ignored)
    return _info(path, files, ingester.hash_files(files), hash_bytes)


def store_path(ingester: Ingester, path: Path, ignored: IgnoreFn | None = None) -> HashInfo:
    """Put what is at `path` in the cache (a directory with its manifest); its identity."""
    files = files_at(path, ignored)
    return _info(path, files, ingester.store_files(files), ingester.odb.add_bytes)


def tree_objects(ingester: Ingester, info: HashInfo) -> set[str]:
    """Every object `info` needs; a directory's files are known only if its manifest is cached."""
    oids = {info.digest}
    if info.isdir and ingester.odb.exists(info.digest):
        oids.update(e.digest for e in load_manifest(ingester.odb.read_bytes(info.digest), info.digest))
    return oids


def place_path(ingester: Ingester, path: Path, info: HashInfo) -> None:
    """Write `info` at `path` from the cache, replacing whatever is there."""
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    if info.isdir:
        entries = load_manifest(ingester.odb.read_bytes(info.digest), info.digest)
        path.mkdir(parents=True)
        base = path
    else:
        entries = [TreeEntry(path.name, info.digest, info.size)]
        path.parent.mkdir(parents=True, exist_ok=True)
        base = path.parent

    bad = materialize(ingester, base, entries)
    if bad:
        raise bad[0][1]


def materialize(ingester: Ingester, base: Path, entries: list[TreeEntry],
                on_done: Callable[[int], None] | None = None,
                fresh: bool = False) -> list[tuple[TreeEntry, CorruptCacheObjectError]]:
    """Write each entry at base/entry.path from the cache (link kind per cache.type).

    Folders are made once up front; files are placed on the ingester's workers, and their new
    stat is recorded so the next status does not read them again. `fresh`: `base` is a new
    folder that nobody else sees yet (it is renamed into place when complete), so files are
    created directly, without a temp name and a rename each.

    Each object is verified as it leaves the cache (`objects.verify`). An entry whose object
    is bad is not written (what was at its place stays); the others are. Bad objects are
    moved aside; returns the entries skipped, each with its error.
    """
    for folder in sorted({os.path.dirname(e.path) for e in entries}):
        (base / folder).mkdir(parents=True, exist_ok=True)
    linker = ingester.linker
    put = linker.create if fresh else linker.place
    linking = linker.links
    verifier = Verifier.prepare(ingester.odb, ingester.state, {e.digest: e.size for e in entries}, linking)

    def place(entry: TreeEntry) -> PlaceResult:
        dest = str(base / entry.path)
        try:
            check = verifier.link if linking else verifier.read
            src = check(entry.digest, entry.size)
        except CorruptCacheObjectError as exc:
            return exc
        with src:
            put(src, dest)
        return os.stat(dest), entry.digest, src.hashed

    results = run_forked(place, entries, ingester.jobs, on_done)
    placed = [r for r in results if not isinstance(r, CorruptCacheObjectError)]
    # A copy's stat vouches for the copy; a large object hashed here vouches for itself too.
    ingester.state.save([(st, digest) for st, digest, _ in placed]
                        + [(hashed, digest) for _, digest, hashed in placed if hashed is not None])
    return _moved_aside(ingester.odb, entries, results)


PlaceResult = tuple[os.stat_result, str, os.stat_result | None] | CorruptCacheObjectError


def _moved_aside(odb: ObjectDB, entries: list[TreeEntry],
                 results: list[PlaceResult]) -> list[tuple[TreeEntry, CorruptCacheObjectError]]:
    bad = [(e, r) for e, r in zip(entries, results, strict=True) if isinstance(r, CorruptCacheObjectError)]
    moved: dict[str, bool] = {}
    for _, error in bad:
        if error.oid not in moved:
            moved[error.oid] = odb.quarantine(error.oid)
    return [(entry, odb.corrupt(error.oid, error.reason, moved[error.oid])) for entry, error in bad]
