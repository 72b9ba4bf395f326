"""Where the bytes of a plot file come from: the workspace, a git revision, or a run's outputs.

A file committed to git is read from the commit. A file himo caches (a stage output, a file
inside an output folder, a `himo add`ed file) is found by the digest that himo.lock or its
PATH.himo pointer records at that revision, then read from the cache; a run's outputs (the
dashboard) by the digests the run recorded. Nothing here raises for a file that is not there:
`read` answers None, and the caller says which file at which revision is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from himo.api.revisions import WORKSPACE, Revision
from himo.errors import HimoError
from himo.model import is_digest
from himo.objects.hashing import hash_bytes
from himo.objects.manifest import manifest_digests
from himo.pipeline.lockfile import LOCK_FILE, parse_lock
from himo.workspace.pointer import SUFFIX, parse_pointer
from himo.workspace.repo import Repo

MAX_BYTES = 64 * 1024 * 1024  # a plot file bigger than this is not drawn (a browser could not either)


@dataclass(frozen=True)
class Source:
    """The files of one revision, as plots read them."""

    label: str  # what the legend and the JSON call it: "workspace", "HEAD~1", a run's short id
    read: Callable[[str], bytes | None]  # repository-relative path -> bytes (None: not there)
    # repository-relative folder -> the files in it (repository-relative; none: not a folder)
    files: Callable[[str], list[str]] = lambda folder: []


def workspace(repo: Repo) -> Source:
    return Source(WORKSPACE, lambda path: _read_file(repo.root / path), lambda f: _walk(repo.root, f))


def at_revision(rev: Revision) -> Source:
    """Files at a git revision (the workspace when `rev.commit` is None)."""
    if rev.commit is None:
        return workspace(rev.repo)
    return Source(rev.label, lambda path: _git_or_cache(rev, path), lambda folder: _git_files(rev, folder))


def from_digests(repo: Repo, label: str, digests: Mapping[str, str]) -> Source:
    """Files by the digests a run recorded for its outputs ({path: digest}; folders too): from the
    cache, else the workspace file when it still has that digest."""

    def read(path: str) -> bytes | None:
        digest = _digest_in(repo, digests, path)
        data = None if digest is None else _cached(repo, digest)
        if data is None and digest is not None:
            data = _read_file(repo.root / path)
            data = data if data is not None and hash_bytes(data) == digest else None
        return data

    return Source(label, read, lambda folder: _manifest_files(repo, digests.get(folder), folder))


def _git_or_cache(rev: Revision, path: str) -> bytes | None:
    assert rev.repo.git is not None and rev.commit is not None
    git_root = rev.repo.git.root
    data = rev.repo.git.file_at(rev.commit, (rev.repo.root / path).relative_to(git_root).as_posix())
    if data is not None:
        return data
    digest = _digest_in(rev.repo, _recorded_digests(rev, path), path)
    return None if digest is None else _cached(rev.repo, digest)


def _git_files(rev: Revision, folder: str) -> list[str]:
    """The files in `folder` at `rev`: committed to git, else in the cached folder himo.lock records."""
    assert rev.repo.git is not None and rev.commit is not None
    git_root, root = rev.repo.git.root, rev.repo.root
    listed = rev.repo.git.run("ls-tree", "-r", "-z", "--name-only", rev.commit, "--",
                              (root / folder).relative_to(git_root).as_posix(), ok=(0, 128))
    found = [(git_root / name).relative_to(root).as_posix() for name in listed.decode().split("\0") if name]
    return found or _manifest_files(rev.repo, _recorded_digests(rev, folder).get(folder), folder)


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


def _recorded_digests(rev: Revision, path: str) -> dict[str, str]:
    """{path: digest} of the outputs in himo.lock at `rev`, and of the pointer of `path` or of a
    folder above it."""
    digests: dict[str, str] = {}
    lock = rev.read(LOCK_FILE)
    if lock:
        with rev.naming():
            entries = parse_lock(lock)
        digests.update({o.path: o.digest for e in entries.values() for o in e.outs if o.digest})
    parts = path.split("/")
    for end in range(len(parts), 0, -1):
        folder = "/".join(parts[:end])
        text = rev.read(folder + SUFFIX)
        if text is not None:
            try:
                pointer = parse_pointer(text, rev.repo.root / (folder + SUFFIX), rev.repo.root)
            except HimoError:
                continue
            digests.setdefault(folder, pointer.hash_info.digest)
    return digests


def _digest_in(repo: Repo, digests: Mapping[str, str], path: str) -> str | None:
    """The digest of `path`: its own, or its entry in the manifest of a folder above it."""
    if path in digests:
        return digests[path]
    for folder, digest in digests.items():
        if path.startswith(folder + "/"):
            manifest = _cached(repo, digest)
            if manifest is None:
                return None
            try:
                return manifest_digests(manifest, digest).get(path[len(folder) + 1:])
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


def _read_file(path: Path) -> bytes | None:
    try:
        if os.path.getsize(path) > MAX_BYTES:
            return None
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # absent, a folder, unreadable: not drawn, and said so by the caller
        return None
