"""What a pointer's target holds: its objects in the cache, and its files in the workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from himo.errors import (
    CorruptCacheObjectError,
    HimoError,
    ManifestError,
    MissingObjectError,
    PathError,
    PipelineError,
    PointerError,
)
from himo.model import HashInfo, TreeEntry
from himo.objects.manifest import load_manifest, manifest_digests
from himo.objects.odb import CORRUPT_DIR
from himo.objects.walk import FileRef, walk_files
from himo.workspace.ignore import load_ignore
from himo.workspace.pointer import SUFFIX, Pointer, pointer_file_for
from himo.workspace.repo import HIMO_DIR, Repo
from himo.workspace.tracked import pointers_for

T = TypeVar("T")


def read_manifest(repo: Repo, pointer: Pointer) -> list[TreeEntry]:
    """The entries of a tracked directory, from its manifest object in the cache."""
    return _parse_manifest(repo, pointer, load_manifest)


def read_manifest_digests(repo: Repo, pointer: Pointer) -> dict[str, str]:
    """{path: digest} of a tracked directory: the cheap form, for status on big trees."""
    return _parse_manifest(repo, pointer, manifest_digests)


def _parse_manifest(repo: Repo, pointer: Pointer, parse: Callable[[bytes, str], T]) -> T:
    oid = pointer.hash_info.digest
    if not repo.odb.exists(oid):
        raise MissingObjectError(
            f"{repo.rel(pointer.target)}: directory manifest {oid[:12]} is not in the cache",
            f"run `himo pull {repo.rel(pointer.target)}`",
        )
    try:
        return parse(repo.odb.read_bytes(oid), oid)
    except CorruptCacheObjectError as exc:  # re-raised naming the path: the cause would repeat it
        rel = repo.rel(pointer.target)
        raise corrupt_error([(f"manifest of {rel}", exc)],
                            f"run `himo pull {rel}` to fetch it again from a remote") from None
    except ManifestError as exc:
        raise PointerError(f"{repo.rel(pointer.file)}: {exc.message}", exc.hint) from exc


def corrupt_error(bad: list[tuple[str, CorruptCacheObjectError]], hint: str) -> HimoError:
    """One error for the cache objects found corrupted (and moved aside) while reading them out:
    the first, the path that needs it, why; `hint` says how to restore them."""
    path, first = bad[0]
    count = len({error.oid for _, error in bad})
    lead = f"cache object {first.oid[:12]} ({path}) is corrupted" if count == 1 else \
        f"{count} cache objects are corrupted, first {first.oid[:12]} ({path})"
    where = f"; moved aside to {HIMO_DIR}/cache/{CORRUPT_DIR}/" if first.moved else ""
    return CorruptCacheObjectError(first.oid, first.reason, f"{lead}: {first.reason}{where}",
                                   hint, first.moved)


def workspace_files(repo: Repo, target: Path) -> list[FileRef]:
    """The files now at `target` (one for a file, all not ignored for a directory)."""
    if target.is_dir():
        return walk_files(str(target), load_ignore(repo.root, target))
    return [FileRef(str(target), target.name, target.stat())]


def stage_outputs(repo: Repo, lock_text: str | None = None) -> list[Pointer]:
    """Cached stage outputs recorded in himo.lock (the workspace's, or `lock_text`), as pointers."""
    if lock_text is None and not (repo.root / "himo.lock").exists():
        return []  # no pipeline has run: spare the import of the pipeline modules
    from himo.pipeline.lockfile import LOCK_FILE, parse_lock, read_lock

    entries = read_lock(repo.root) if lock_text is None else parse_lock(lock_text)
    cached = _cached_out_paths(repo)
    lock_file = repo.root / LOCK_FILE
    return [
        Pointer(lock_file, repo.root / out.path, HashInfo(out.digest, out.size, out.nfiles))
        for entry in entries.values() for out in entry.outs
        if out.digest is not None and out.path in cached
    ]


def _cached_out_paths(repo: Repo) -> set[str]:
    """Outputs himo.yaml stores in the cache (`cache: false` ones are only recorded).

    A himo.yaml that cannot be read is an error, not "no cached outputs": status would hide
    the outputs, push would skip them and gc would delete their objects.
    """
    from himo.pipeline.loader import load_stages

    return {o.path for s in load_stages(repo.root) for o in s.outs if o.cache}


def tracked(repo: Repo, paths: list[str] | tuple[str, ...] | None = None) -> list[Pointer]:
    """Pointers of `paths` (all if none): PATH.himo files and cached outputs in himo.lock."""
    return _tracked(repo, paths, stage_outputs(repo))


@dataclass(frozen=True)
class Tracked:
    """What `tracked_despite_pipeline` found."""

    pointers: list[Pointer]
    # Why himo.lock's stage outputs are not in `pointers`: himo.yaml (or himo.lock) cannot be
    # read, and it says which outputs are data and where they go. None: they are in.
    outputs_unknown: HimoError | None = None


def tracked_despite_pipeline(repo: Repo, paths: list[str] | tuple[str, ...] | None = None) -> Tracked:
    """`tracked`, except that an unreadable himo.yaml or himo.lock leaves out only the stage
    outputs (and says why): PATH.himo files never depend on them, so moving their bytes
    (push, fetch, pull, checkout) goes on. A path that is no pointer may be an output the
    broken file names: then its error is raised, not "not tracked"."""
    try:
        outputs = stage_outputs(repo)
    except HimoError as error:
        try:
            pointers = pointers_for(repo, paths or [])
        except PathError:
            raise error from None
        named = bool(paths) and all(_names_a_pointer(repo, path) for path in paths or [])
        return Tracked(pointers, None if named else error)  # a folder may hold outputs too
    return Tracked(_tracked(repo, paths, outputs))


def _names_a_pointer(repo: Repo, path: str) -> bool:
    """Whether `path` is a PATH.himo file or the target of one (not a folder holding some)."""
    target = repo.resolve(path)
    return target.name.endswith(SUFFIX) or pointer_file_for(target).exists()


def outputs_left_out(error: HimoError, done: str, command: str) -> HimoError:
    """`error` (from himo.yaml or himo.lock), saying that the stage outputs were not `done`
    while the tracked files were, and how to finish."""
    return PipelineError(f"{error.message}; stage outputs were not {done} (tracked files were)",
                         f"{error.hint.rstrip('.')}, then run `himo {command}` again for the stage outputs")


def is_stage_output(pointer: Pointer) -> bool:
    """Whether `pointer` is a cached stage output recorded in himo.lock (not a PATH.himo)."""
    return pointer.file.name == "himo.lock"


def _tracked(repo: Repo, paths: list[str] | tuple[str, ...] | None,
             stage_outs: list[Pointer]) -> list[Pointer]:
    outputs = {repo.rel(p.target): p for p in stage_outs}
    if not paths:
        return pointers_for(repo, []) + list(outputs.values())
    found: list[Pointer] = []
    for path in paths:
        rel = repo.rel(repo.resolve(path))
        inside = [p for o, p in outputs.items() if o == rel or o.startswith(rel + "/")]
        found.extend(inside or pointers_for(repo, [path]))
    return found
