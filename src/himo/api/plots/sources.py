"""Where the bytes of a plot file come from: the workspace, a git revision, or a run's outputs.

A file committed to git is read from the commit; a file himo caches (a stage output, or a file
inside an output folder) by the digest that revision's himo.lock records, from the cache
(`Revision.read_data_bytes`, which `metrics show -r` uses too). A run's outputs (the dashboard)
are found by the digests the run recorded. Nothing here raises for a file that is not there:
`read` answers None, and the caller says which file at which revision is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from himo.api.revisions import Revision, revision
from himo.errors import HimoError
from himo.model import is_digest
from himo.objects.hashing import hash_bytes
from himo.objects.manifest import manifest_digests
from himo.pipeline.lockfile import LOCK_FILE, parse_lock
from himo.workspace.repo import Repo


@dataclass(frozen=True)
class Source:
    """The files of one revision, as plots read them."""

    label: str  # what the legend and the JSON call it: "workspace", "HEAD~1", a run's short id
    read: Callable[[str], bytes | None]  # repository-relative path -> bytes (None: not there)
    # repository-relative folder -> the files in it (repository-relative; none: not a folder)
    files: Callable[[str], list[str]] = lambda folder: []


def at_revision(rev: Revision) -> Source:
    """Files at a git revision, or in the workspace when `rev.commit` is None."""
    if rev.commit is None:
        return Source(rev.label, rev.read_bytes, lambda folder: _walk(rev.repo.root, folder))
    return Source(rev.label, rev.read_data_bytes, lambda folder: _git_files(rev, folder))


def from_digests(repo: Repo, label: str, digests: Mapping[str, str]) -> Source:
    """Files by the digests a run recorded for its outputs ({path: digest}; folders too): from the
    cache, else the workspace file when it still has that digest."""
    workspace = revision(repo, None)

    def read(path: str) -> bytes | None:
        digest = _digest_in(repo, digests, path)
        data = None if digest is None else _cached(repo, digest)
        if data is None and digest is not None:
            data = workspace.read_bytes(path)
            data = data if data is not None and hash_bytes(data) == digest else None
        return data

    return Source(label, read, lambda folder: _manifest_files(repo, digests.get(folder), folder))


def _git_files(rev: Revision, folder: str) -> list[str]:
    """The files in `folder` at `rev`: committed to git, else in the cached folder himo.lock records."""
    assert rev.repo.git is not None and rev.commit is not None
    git_root, root = rev.repo.git.root, rev.repo.root
    listed = rev.repo.git.run("ls-tree", "-r", "-z", "--name-only", rev.commit, "--",
                              (root / folder).relative_to(git_root).as_posix())
    found = [(git_root / name).relative_to(root).as_posix() for name in listed.decode().split("\0") if name]
    return found or _manifest_files(rev.repo, _lock_digests(rev).get(folder), folder)


def _lock_digests(rev: Revision) -> dict[str, str]:
    lock = rev.read(LOCK_FILE)
    if not lock:
        return {}
    with rev.naming():
        entries = parse_lock(lock)
    return {o.path: o.digest for e in entries.values() for o in e.outs if o.digest}


def _manifest_files(repo: Repo, digest: str | None, folder: str) -> list[str]:
    data = None if digest is None else _cached(repo, digest)
    try:
        return [f"{folder}/{name}" for name in sorted(manifest_digests(data, digest or ""))] if data else []
    except HimoError:  # the digest of a file, not of a folder's manifest
        return []


def _walk(root: Path, folder: str) -> list[str]:
    found = []
    for here, dirs, names in os.walk(root / folder):
        dirs.sort()
        rel = Path(here).relative_to(root).as_posix()
        found += [f"{rel}/{name}" for name in sorted(names)]
    return found


def _digest_in(repo: Repo, digests: Mapping[str, str], path: str) -> str | None:
    """The digest of `path`: its own, or its entry in the manifest of a folder above it."""
    if path in digests:
        return digests[path]
    for folder, digest in digests.items():
        if path.startswith(folder + "/"):
            manifest = _cached(repo, digest)
            try:
                return manifest_digests(manifest, digest).get(path[len(folder) + 1:]) if manifest else None
            except HimoError:
                return None
    return None


def _cached(repo: Repo, digest: str) -> bytes | None:
    if not is_digest(digest):
        return None
    try:
        return repo.odb.read_bytes(digest)
    except (OSError, HimoError):  # not in the cache (or corrupt, and moved aside): not there
        return None
