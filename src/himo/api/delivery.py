"""Deliveries: `export_artifact` copies tracked bytes to a folder or URL and records where;
`where` lists every place an artifact's bytes are known to be (cache, remotes, exports, releases).

    from himo import api
    repo = api.Repo.find()
    api.export_artifact(repo, "predictions.csv", "s3://bucket/deliveries")
    for place in api.where(repo, "models/model.pkl").places:
        print(place.kind, place.url, place.first_at)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from himo.api.contents import corrupt_error
from himo.api.history import digest_by_prefix
from himo.api.recording import reading, recording
from himo.api.release import Tracked, needed_objects, resolve
from himo.api.revisions import artifact_path
from himo.api.transfer import get_remote
from himo.errors import CorruptCacheObjectError, HimoError, MissingObjectError, RemoteError
from himo.meta.records import ArtifactRef
from himo.model import HashInfo
from himo.model.urls import mask_url
from himo.objects.manifest import load_manifest
from himo.objects.parallel import run_parallel
from himo.objects.verify import Verifier
from himo.remotes.destination import open_destination
from himo.remotes.registry import scheme_of
from himo.workspace.pointer import SUFFIX
from himo.workspace.repo import Repo

__all__ = ["ExportResult", "Place", "WhereResult", "export_artifact", "where"]


@dataclass(frozen=True)
class ExportResult:
    path: str  # the tracked path exported
    digest: str
    url: str  # where its copy now is: DEST/NAME (a folder for a directory)
    files: int
    size: int  # bytes copied


@dataclass(frozen=True)
class Place:
    """One place the bytes of an artifact are known to be."""

    kind: str  # cache | remote | export | release
    url: str  # cache folder, remote or export URL; for a release: ENV
    first_at: datetime | None  # naive UTC: first recorded there (release: released_at)
    last_at: datetime | None  # last confirmed there (release: retired_at, None while live)
    who: str = ""
    detail: str = ""  # cache: complete or what is missing; release: name version, live or retired


@dataclass(frozen=True)
class WhereResult:
    target: str
    digest: str
    path: str | None  # when TARGET named a tracked path
    places: list[Place] = field(default_factory=list)


def export_artifact(repo: Repo, target: str, dest: str, remote: str | None = None,
                    jobs: int | None = None) -> ExportResult:
    """Copy the tracked bytes of TARGET (PATH or PATH@REV; a file or a directory), from the
    cache, into the folder or URL `dest` (as DEST/NAME), and record a Location (kind export).

    remote: the configured remote whose connection settings (endpoint, credentials) reach
    `dest`; default: a remote on the same host or bucket. Nothing is recorded if a copy fails.
    """
    tracked = resolve(repo, target)
    files = _export_files(repo, tracked)
    destination = open_destination(dest, _connection(repo, dest, remote), os.getcwd())
    name = PurePosixPath(tracked.path).name
    verifier = Verifier.prepare(repo.odb, repo.state, {digest: size for _, digest, size in files})

    def put(file: tuple[str, str, int]) -> CorruptCacheObjectError | None:
        """Copy one file out, verified as it leaves the cache (a bad one is not copied)."""
        rel, digest, size = file
        try:
            source = verifier.read(digest, size, whole=False)
        except CorruptCacheObjectError as exc:
            return exc
        with source:
            destination.put(source.readable_path(), f"{name}/{rel}" if rel else name)
        return None

    try:
        bad = [error for error in run_parallel(put, files, jobs or repo.jobs) if error is not None]
    except HimoError:
        raise
    except Exception as exc:  # boundary: OSError, botocore, aiohttp ... one message
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise RemoteError(mask_url(f"cannot export {tracked.path} to {dest}: {detail}"),
                          "check that DEST exists or can be created and is writable (for a bucket: its "
                          "name, the credentials, and -r NAME for a remote's endpoint)",
                          remote=remote, url=mask_url(str(dest))) from exc
    if bad:
        moved = [repo.odb.corrupt(e.oid, e.reason, repo.odb.quarantine(e.oid)) for e in bad]
        paths = {digest: rel for rel, digest, _ in files}
        raise corrupt_error([(f"{tracked.path}/{paths[e.oid]}" if paths[e.oid] else tracked.path, e)
                             for e in moved],
                            f"run `himo pull {tracked.path}` to fetch it again from a remote, then export;"
                            " the other files were exported, this one was not")
    url = destination.url_of(name)
    info = tracked.hash_info
    with recording(repo, "export", [target, dest]) as recorder:
        recorder.location(ArtifactRef(path=tracked.path, digest=info.digest, size=info.size,
                                      nfiles=info.nfiles, kind=tracked.kind), "export", url)
    return ExportResult(tracked.path, info.digest, mask_url(url), len(files), info.size)


def _export_files(repo: Repo, tracked: Tracked) -> list[tuple[str, str, int]]:
    """Every file as (path inside the export, "" for a file; digest; size); MissingObjectError
    if any is not cached."""
    info = tracked.hash_info
    needed = needed_objects(repo, info)
    if not repo.odb.exists(info.digest) or repo.odb.existing(needed) != needed:
        raise MissingObjectError(f"{tracked.path}: its bytes (digest {info.digest[:12]}) are not all in "
                                 "the cache", f"`himo pull {tracked.path}` first, then export")
    if not info.isdir:
        return [("", info.digest, info.size)]
    entries = load_manifest(repo.odb.read_bytes(info.digest), info.digest)
    return [(e.path, e.digest, e.size) for e in entries]


def _connection(repo: Repo, dest: str, remote: str | None) -> dict[str, Any]:
    """Connection settings for `dest`: those of `remote`, or of a remote on the same scheme and
    host/bucket; none for a folder."""
    if remote is not None:
        get_remote(repo, remote)  # ConfigError naming the known remotes
        return repo.config.remote(remote)
    if scheme_of(dest) in ("", "file"):
        return {}
    wanted = urlsplit(dest)[:2]
    for name in repo.config.remote_names():
        options = repo.config.remote(name)
        if urlsplit(str(options.get("url", "")))[:2] == wanted:
            return options
    return {}


def where(repo: Repo, target: str) -> WhereResult:
    """Every place the bytes of TARGET (PATH, PATH@REV, or a digest or its first characters) are
    known to be: the cache (checked now), remotes and exports recorded, releases. TARGET may also
    be the name of an artifact in himo.yaml (NAME, NAME@REV)."""
    path, info = None, None
    target = artifact_path(repo, target)[0]
    if "@" in target or not re.fullmatch(r"[0-9a-fA-F]{4,64}", target) or os.path.exists(target) \
            or os.path.exists(target + SUFFIX):
        tracked = resolve(repo, target)
        path, info = tracked.path, tracked.hash_info
    with reading(repo) as meta:
        digest = info.digest if info else digest_by_prefix(meta, target)
        stored = meta.artifact_info(digest)
        locations = meta.locations(digest)
        released = meta.releases_of_digest(digest)
    if info is None:
        info = HashInfo(digest, stored.size if stored else 0, stored.nfiles if stored else None)
    places = [_cache_place(repo, info)]
    places += [Place(loc.kind, loc.url, loc.first_at, loc.last_at, loc.who) for loc in locations]
    places += [Place("release", r.env, r.released_at, r.retired_at, r.who,
                     f"{r.name} {r.version}, {'live' if r.live else 'retired'}") for r in released]
    return WhereResult(target, digest, path, places)


def _cache_place(repo: Repo, info: HashInfo) -> Place:
    needed = needed_objects(repo, info)
    have = repo.odb.existing(needed)
    if not repo.odb.exists(info.digest):
        detail = "not in the cache"
    elif have == needed:
        detail = "complete"
    else:
        detail = f"partial: {len(needed) - len(have)} of {len(needed)} objects missing"
    return Place("cache", str(repo.odb.root), None, None, "", detail)
