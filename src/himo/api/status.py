"""`himo status`: how workspace, pointers and cache differ."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from himo.api.contents import read_manifest_digests, tracked, workspace_files
from himo.api.leftovers import stale_of
from himo.errors import MissingObjectError
from himo.model import TreeEntry
from himo.objects.manifest import dump_manifest
from himo.objects.state import DirFiles, DirRecord
from himo.objects.walk import FileRef, fingerprint
from himo.workspace.pointer import Pointer
from himo.workspace.repo import Repo

if TYPE_CHECKING:
    from himo.objects.ingest import Ingester  # imported when first used: start-up time


@dataclass
class TargetStatus:
    path: str  # tracked path, relative to the repository root
    pointer: str  # its pointer file
    state: str  # "unchanged", "modified" or "deleted" (workspace against pointer)
    added: list[str] = field(default_factory=list)  # new files inside a tracked directory
    modified: list[str] = field(default_factory=list)  # files whose content changed
    deleted: list[str] = field(default_factory=list)  # files gone from a tracked directory
    not_in_cache: list[str] = field(default_factory=list)  # digests missing from the cache
    # temp entries an interrupted command left beside or inside it (the next add, commit,
    # checkout or gc cleans them)
    leftovers: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.state == "unchanged" and not self.not_in_cache and not self.leftovers

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def status(repo: Repo, paths: list[str] | None = None, jobs: int | None = None) -> list[TargetStatus]:
    """The status of every tracked path (or of `paths`)."""
    return [_status_of(repo, p, jobs) for p in tracked(repo, paths)]


def _status_of(repo: Repo, pointer: Pointer, jobs: int | None) -> TargetStatus:
    result = TargetStatus(repo.rel(pointer.target), repo.rel(pointer.file), "unchanged")
    result.leftovers = [repo.rel(Path(path)) for path in stale_of(repo, [pointer.target])]
    if pointer.hash_info.isdir and pointer.target.is_dir():
        _dir_status(repo, pointer, result, jobs)
        return result
    recorded = _recorded_or_none(repo, pointer)
    if not pointer.target.exists():
        result.state = "deleted"
    elif pointer.hash_info.isdir:
        result.state = "modified"  # a file where a directory was tracked
    else:
        _compare_file(repo, pointer, result, repo.ingester(jobs))
    result.not_in_cache = _missing(repo, pointer, recorded)
    return result


def _dir_status(repo: Repo, pointer: Pointer, result: TargetStatus, jobs: int | None) -> None:
    """Compare a tracked directory, skipping what its record in the stat cache still vouches for.

    A listing unchanged since the directory last matched this manifest needs no digests; a cache
    stamp unchanged since all the manifest's objects were there needs no look-up either.
    """
    files = workspace_files(repo, pointer.target)
    listing = fingerprint(files)
    stamp = repo.odb.stamp()  # taken before looking objects up: a later change moves it
    digest = pointer.hash_info.digest
    seen = repo.state.dir_record(result.path)
    # The cache held every object of this manifest when it last had this stamp, whatever the
    # workspace holds now.
    cache_ok = seen is not None and seen.manifest == digest and stamp is not None \
        and seen.cache_stamp == stamp
    now: list[str] | None = None  # the digest of each of `files`, when known
    if seen is not None and (seen.listing, seen.manifest) == (listing, digest):
        if cache_ok:
            return
        recorded = _recorded_or_none(repo, pointer)
    else:
        snapshot = repo.state.dir_files(result.path, digest)
        if snapshot is not None:  # what the directory held when it matched: no manifest to read
            now = _compare_with_snapshot(snapshot, files, repo.ingester(jobs), result)
            recorded = None if cache_ok else dict(zip(snapshot.rels, snapshot.digests, strict=True))
        else:
            recorded = _recorded_or_none(repo, pointer)
            digests = repo.ingester(jobs).hash_files(files)
            _compare_dir(pointer, files, digests, recorded, result)
            now = [digests[f.rel] for f in files]
    if not cache_ok:
        result.not_in_cache = _missing(repo, pointer, recorded)
    cache_stamp = None if result.not_in_cache else stamp
    if result.state == "unchanged":
        record: DirRecord | None = DirRecord(listing, digest, cache_stamp)
    elif seen is not None and seen.manifest == digest:
        record = DirRecord(seen.listing, digest, cache_stamp)  # the listing that matched
    else:
        record = None
    if record is not None and record != seen:
        repo.state.save_dir_record(result.path, record)
        if result.state == "unchanged" and now is not None:
            _save_files(repo, result.path, digest, files, now)


def remember_directory(repo: Repo, rel: str, manifest: str, files: list[FileRef], digests: list[str]) -> None:
    """Record that directory `rel` holds `manifest` now, as `files` with `digests` (in walk order),
    so that the next status compares against it instead of reading digests (add, commit)."""
    repo.state.save_dir_record(rel, DirRecord(fingerprint(files), manifest, None))
    _save_files(repo, rel, manifest, files, digests)


def _save_files(repo: Repo, rel: str, manifest: str, files: list[FileRef], digests: list[str]) -> None:
    stats = [f.stat for f in files]
    repo.state.save_dir_files(rel, manifest, DirFiles(
        [f.rel for f in files], [st.st_ino for st in stats], [st.st_mtime_ns for st in stats],
        [st.st_size for st in stats], digests,
    ))


def _compare_with_snapshot(snapshot: DirFiles, files: list[FileRef], ingester: Ingester,
                           result: TargetStatus) -> list[str]:
    """Compare with the files the directory held when it matched its manifest: a file whose
    stat is unchanged is unchanged, only the others are read. The digest of each of `files`.

    Both lists are in walk order, so files are matched by position; where a file was added or
    removed the positions shift, and from there on they are matched by name.
    """
    rels, inodes, mtimes, sizes, digests = (snapshot.rels, snapshot.inodes, snapshot.mtimes,
                                             snapshot.sizes, snapshot.digests)
    count = len(rels)
    position: dict[str, int] | None = None
    now: list[str] = []
    stale: list[tuple[int, int | None, FileRef]] = []  # (position in files, in snapshot, file)
    matched = 0
    for i, f in enumerate(files):
        j: int | None = i
        if i >= count or rels[i] != f.rel:
            if position is None:
                position = {rel: k for k, rel in enumerate(rels)}
            j = position.get(f.rel)
        st = f.stat
        if j is not None:
            matched += 1
            if inodes[j] == st.st_ino and mtimes[j] == st.st_mtime_ns and sizes[j] == st.st_size:
                now.append(digests[j])
                continue
        now.append("")
        stale.append((i, j, f))
    fresh = ingester.hash_files([f for _, _, f in stale])
    for i, j, f in stale:
        now[i] = fresh[f.rel]
        if j is None:
            result.added.append(f.rel)
        elif digests[j] != now[i]:
            result.modified.append(f.rel)
    if matched != count:  # some file of the snapshot is gone
        result.deleted = sorted(set(rels) - {f.rel for f in files})
    result.added.sort()
    result.modified.sort()
    if result.added or result.deleted or result.modified:
        result.state = "modified"
    return now


def _missing(repo: Repo, pointer: Pointer, recorded: dict[str, str] | None) -> list[str]:
    """Digests of the pointer's objects (manifest and files) that are not in the cache."""
    needed = {pointer.hash_info.digest, *(recorded or {}).values()}
    return sorted(needed - repo.odb.existing(needed))


def _recorded_or_none(repo: Repo, pointer: Pointer) -> dict[str, str] | None:
    """{path: digest} a tracked directory should hold; None for a file or an uncached manifest."""
    if not pointer.hash_info.isdir:
        return None
    try:
        return read_manifest_digests(repo, pointer)
    except MissingObjectError:
        return None


def _compare_file(repo, pointer, result, ingester) -> None:  # type: ignore[no-untyped-def]
    if pointer.target.is_dir():
        result.state = "modified"
        return
    files = workspace_files(repo, pointer.target)
    if ingester.hash_files(files)[files[0].rel] != pointer.hash_info.digest:
        result.state = "modified"


def _compare_dir(pointer, files, now, recorded, result) -> None:  # type: ignore[no-untyped-def]
    if recorded is None:  # manifest not in cache: compare the whole tree's digest only
        sizes = {f.rel: f.stat.st_size for f in files}
        current = [TreeEntry(rel, d, sizes[rel]) for rel, d in now.items()]
        from himo.objects.hashing import hash_bytes

        if hash_bytes(dump_manifest(current, os.path.relpath(pointer.target))) != pointer.hash_info.digest:
            result.state = "modified"
        return
    result.added = sorted(set(now) - set(recorded))
    result.deleted = sorted(set(recorded) - set(now))
    result.modified = sorted(p for p, d in now.items() if recorded.get(p, d) != d)
    if result.added or result.deleted or result.modified:
        result.state = "modified"


@dataclass(frozen=True)
class StageStatus:
    name: str  # stage name in himo.yaml
    reasons: list[str]  # why `himo repro` would run it


def stage_status(repo: Repo, jobs: int | None = None) -> list[StageStatus]:
    """Stale stages of himo.yaml and why, in pipeline order (reads files, changes nothing)."""
    if not (repo.root / "himo.yaml").exists():
        return []  # no pipeline, no stages: spare the import of the pipeline modules
    from himo.api.repro import load_dag
    from himo.pipeline.changes import Snapshot, reasons_to_run
    from himo.pipeline.lockfile import read_lock

    dag = load_dag(repo)
    lock = read_lock(repo.root)
    snap = Snapshot(repo, jobs)
    stale: dict[str, list[str]] = {}
    for name in dag.order():
        stage = dag.stages[name]
        reasons = reasons_to_run(stage, lock.get(name), snap)
        if not stage.frozen:
            reasons += [f"upstream stage '{up}' is stale" for up in sorted(dag.upstream[name]) if up in stale]
        if reasons:
            stale[name] = reasons
    return [StageStatus(name, reasons) for name, reasons in stale.items()]
