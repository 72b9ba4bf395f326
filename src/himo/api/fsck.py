"""`himo fsck`: re-hash every object in the cache and report those whose bytes changed."""

from __future__ import annotations

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
        return hash_file(repo.odb.path(oid)) != oid

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
