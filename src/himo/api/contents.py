"""What a pointer's target holds: its objects in the cache, and its files in the workspace."""

from __future__ import annotations

from pathlib import Path

from himo.errors import MissingObjectError, PointerError
from himo.model import HashInfo, TreeEntry
from himo.objects.manifest import load_manifest
from himo.objects.walk import FileRef, walk_files
from himo.workspace.ignore import load_ignore
from himo.workspace.pointer import Pointer
from himo.workspace.repo import Repo


def read_manifest(repo: Repo, pointer: Pointer) -> list[TreeEntry]:
    """The entries of a tracked directory, from its manifest object in the cache."""
    oid = pointer.hash_info.digest
    if not repo.odb.exists(oid):
        raise MissingObjectError(
            f"{repo.rel(pointer.target)}: directory manifest {oid[:12]} is not in the cache",
            f"run `himo pull {repo.rel(pointer.target)}`",
        )
    try:
        return load_manifest(repo.odb.read_bytes(oid))
    except (ValueError, KeyError, TypeError):
        raise PointerError(
            f"{repo.rel(pointer.file)}: digest {oid[:12]} names a file, not a directory manifest",
            "run `himo fsck`, or re-create the pointer with `himo add`",
        ) from None


def object_ids(repo: Repo, info: HashInfo, entries: list[TreeEntry] | None) -> set[str]:
    """Every object a target needs: the file's, or the manifest's and each file's."""
    oids = {info.digest}
    if entries:
        oids.update(e.digest for e in entries)
    return oids


def workspace_files(repo: Repo, target: Path) -> list[FileRef]:
    """The files now at `target` (one for a file, all not ignored for a directory)."""
    if target.is_dir():
        return walk_files(str(target), load_ignore(repo.root, target))
    return [FileRef(str(target), target.name, target.stat())]
