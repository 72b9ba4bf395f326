"""`himo checkout`: make the workspace match the pointers, from the cache."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from himo.api.contents import (
    corrupt_error,
    outputs_left_out,
    read_manifest,
    tracked_despite_pipeline,
    workspace_files,
)
from himo.api.leftovers import clean_targets
from himo.errors import (
    CorruptCacheObjectError,
    LocalChangesError,
    MissingObjectError,
    WorkspaceIOError,
    workspace_io_error,
)
from himo.model import TreeEntry
from himo.objects.files import temp_name
from himo.objects.ingest import Ingester
from himo.objects.leftovers import Leftover
from himo.objects.tree import materialize
from himo.objects.walk import FileRef
from himo.progress import SILENT, Reporter
from himo.workspace.pointer import Pointer
from himo.workspace.repo import Repo


@dataclass
class Plan:
    """What checkout of one target will do."""

    pointer: Pointer
    place: list[TreeEntry] = field(default_factory=list)  # files to write from the cache
    remove: list[str] = field(default_factory=list)  # workspace files to delete
    unsaved: list[str] = field(default_factory=list)  # changes that are in no cache
    missing: list[str] = field(default_factory=list)  # objects the cache lacks


@dataclass(frozen=True)
class CheckoutResult:
    path: str
    written: int  # files written from the cache
    removed: int  # files deleted because the pointer does not list them
    cleaned: tuple[Leftover, ...] = ()  # temp entries an interrupted command had left


def checkout(
    repo: Repo,
    paths: list[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    reporter: Reporter = SILENT,
) -> list[CheckoutResult]:
    """Restore tracked paths; refuse (changing nothing) if that would lose unsaved changes.
    An unreadable himo.yaml or himo.lock stops only the stage outputs: the PATH.himo files are
    restored, then its error is raised."""
    found = tracked_despite_pipeline(repo, paths)
    with repo.lock():
        restored = restore(repo, found.pointers, force, jobs, reporter)
    if found.outputs_unknown is not None:
        raise outputs_left_out(found.outputs_unknown, "checked out", "checkout") from found.outputs_unknown
    return restored


def restore(repo: Repo, pointers: list[Pointer], force: bool = False, jobs: int | None = None,
            reporter: Reporter = SILENT) -> list[CheckoutResult]:
    """`checkout` of `pointers`, which need not be written yet (an import places its data before
    or after writing its pointer, see api.imports); the caller holds the repository lock. Each
    file lands whole (temp name + rename), an absent folder is built beside its place and renamed."""
    # Before planning: a file left only under a temp name is back in place, and is then
    # compared like any other.
    cleaned = [_clean(repo, p.target) for p in pointers]
    plans = [_plan(repo, p, jobs) for p in pointers]
    _refuse_if_unsafe(repo, plans, force)
    return [_apply(repo, plan, jobs, reporter, done) for plan, done in zip(plans, cleaned, strict=True)]


def _clean(repo: Repo, target: Path) -> tuple[Leftover, ...]:
    """Clean what an interrupted command left at `target` (a half-built folder beside it,
    half-written files in it)."""
    try:
        return tuple(clean_targets(repo, [target]))
    except OSError as exc:
        raise _restore_error(repo.rel(target), exc) from exc


def _plan(repo: Repo, pointer: Pointer, jobs: int | None) -> Plan:
    plan = Plan(pointer)
    if pointer.hash_info.isdir:
        wanted = read_manifest(repo, pointer)
    else:
        wanted = [TreeEntry(pointer.target.name, pointer.hash_info.digest, pointer.hash_info.size)]
    needed = {e.digest for e in wanted}
    plan.missing = sorted(needed - repo.odb.existing(needed))
    current = _current_files(repo, pointer, wanted)
    now = repo.ingester(jobs).hash_files(current) if current else {}
    recorded = {e.path: e.digest for e in wanted}
    plan.place = [e for e in wanted if now.get(e.path) != e.digest]
    plan.remove = sorted(set(now) - set(recorded))
    changed = [rel for rel, digest in now.items() if recorded.get(rel) != digest]
    plan.unsaved = sorted(rel for rel in changed if not repo.odb.exists(now[rel]))
    return plan


def _current_files(repo: Repo, pointer: Pointer, wanted: list[TreeEntry]) -> list[FileRef]:
    """The files at the target, and tracked ones .himoignore now hides (never overwritten blindly)."""
    target = pointer.target
    if not os.path.lexists(target) or target.is_dir() != pointer.hash_info.isdir:
        return []
    files = workspace_files(repo, target)
    seen = {f.rel for f in files}
    hidden = (_file_at(target, e.path) for e in wanted if e.path not in seen)
    return files + [f for f in hidden if f is not None]


def _file_at(base: Path, rel: str) -> FileRef | None:
    path = base / rel
    try:
        st = path.stat()
    except OSError:  # gone, or a parent is no longer a folder
        return None
    return FileRef(str(path), rel, st) if stat.S_ISREG(st.st_mode) else None


def _refuse_if_unsafe(repo: Repo, plans: list[Plan], force: bool) -> None:
    for plan in plans:
        rel = repo.rel(plan.pointer.target)
        if plan.missing:
            raise MissingObjectError(
                f"{rel}: {len(plan.missing)} object(s) missing from the cache"
                f" (first: {plan.missing[0][:12]})",
                f"run `himo pull {rel}` to fetch them, or `himo push` from the machine that has them",
            )
        if plan.unsaved and not force:
            shown = ", ".join(plan.unsaved[:3]) + (" ..." if len(plan.unsaved) > 3 else "")
            raise LocalChangesError(
                f"{rel}: checkout would overwrite changes that are not in the cache: {shown}",
                f"run `himo commit {rel}` to keep them, or `himo checkout --force {rel}` to discard them",
            )
        target = plan.pointer.target
        kind_clash = os.path.lexists(target) and target.is_dir() != plan.pointer.hash_info.isdir
        if kind_clash and not force:
            raise LocalChangesError(
                f"{rel}: is a {'directory' if target.is_dir() else 'file'} in the workspace",
                f"run `himo checkout --force {rel}` to replace it",
            )


def _apply(repo: Repo, plan: Plan, jobs: int | None, reporter: Reporter,
           cleaned: tuple[Leftover, ...]) -> CheckoutResult:
    target = plan.pointer.target
    isdir = plan.pointer.hash_info.isdir
    if os.path.lexists(target) and target.is_dir() != isdir:
        _delete(target)
    base = target if isdir else target.parent
    removed = [base / rel for rel in plan.remove]
    for path in removed:
        path.unlink()
    if isdir:  # before placing: a file may go where a folder was just emptied
        _prune_empty_parents(target, removed)
    reporter.start(f"Checking out {repo.rel(target)}", len(plan.place))
    try:
        if isdir and not os.path.lexists(target):
            bad = _materialize_folder(repo.ingester(jobs), target, plan.place, reporter)
        else:
            bad = materialize(repo.ingester(jobs), base, plan.place, reporter.advance)
    except OSError as exc:
        raise _restore_error(repo.rel(target), exc) from exc
    finally:
        reporter.finish()
    if isdir:
        target.mkdir(parents=True, exist_ok=True)
    if bad:
        rel = repo.rel(target)
        raise corrupt_error([(f"{rel}/{e.path}" if isdir else rel, err) for e, err in bad],
                            f"run `himo pull {rel}` to fetch it again from a remote and check it out;"
                            " nothing corrupted was written to the workspace")
    return CheckoutResult(repo.rel(target), len(plan.place), len(plan.remove), cleaned)


def _materialize_folder(ingester: Ingester, target: Path, entries: list[TreeEntry],
                        reporter: Reporter) -> list[tuple[TreeEntry, CorruptCacheObjectError]]:
    """A whole tracked folder that is absent: built beside it under a temp name, then renamed
    into place, so its files need no temp name and rename each; an interruption leaves no
    half-made folder at `target` (and the temp one is removed). Files whose object is bad
    are left out (returned)."""
    staging = target.parent / temp_name(target.name)
    try:
        bad = materialize(ingester, staging, entries, reporter.advance, fresh=True)
        staging.mkdir(parents=True, exist_ok=True)  # an empty folder has no entries
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return bad


def _restore_error(rel: str, exc: OSError) -> WorkspaceIOError:
    where = f" ({exc.filename})" if exc.filename else ""
    return workspace_io_error(f"cannot restore {rel}: {exc.strerror}{where}", exc,
                              full="free space in the workspace's filesystem, then run the command again",
                              denied=f"check the permissions of {rel}, of its folder and of .himo/cache",
                              other="fix the cause and run the command again")


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _prune_empty_parents(root: Path, removed: list[Path]) -> None:
    """Delete folders that the removed files leave empty (never `root` itself)."""
    for path in removed:
        for folder in path.parents:
            if folder == root or not folder.exists() or any(folder.iterdir()):
                break
            folder.rmdir()
