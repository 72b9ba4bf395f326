"""`himo fsck`: re-hash every object in the cache and report those whose bytes changed."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from himo.objects.hashing import hash_file
from himo.objects.parallel import run_parallel
from himo.progress import SILENT, Reporter
from himo.workspace.repo import Repo


@dataclass(frozen=True)
class FsckResult:
    checked: int  # objects re-hashed
    corrupted: list[str]  # digests whose bytes no longer match
    removed: bool  # whether the corrupted objects were deleted (--repair)


def fsck(
    repo: Repo, repair: bool = False, jobs: int | None = None, reporter: Reporter = SILENT
) -> FsckResult:
    oids = list(repo.odb.all_oids())
    reporter.start("Checking cache", len(oids))

    def bad(oid: str) -> bool:
        reporter.advance()
        return not _intact(repo.odb.path(oid), oid)

    try:
        flags = run_parallel(bad, oids, jobs or repo.jobs)
    finally:
        reporter.finish()
    corrupted = sorted(oid for oid, is_bad in zip(oids, flags, strict=True) if is_bad)
    if repair and corrupted:
        with repo.lock():
            for oid in corrupted:
                repo.odb.remove(oid)
    return FsckResult(len(oids), corrupted, repair and bool(corrupted))


def _intact(path: str, oid: str) -> bool:
    """Whether the object at `path` is a plain file holding the bytes `oid` names.

    A link is corrupt whatever it points to: links in the cache are never followed (one to
    itself would fail with ELOOP, one to a file outside would vouch for bytes the cache does
    not hold).
    """
    if not stat.S_ISREG(os.lstat(path).st_mode):
        return False
    return hash_file(path) == oid
