"""`himo add` and `himo commit`: record the workspace content of paths in the cache and pointers.

Each is a run in the metadata store, with one execution per target whose output is the
artifact (kind `dataset` unless its name says otherwise, see himo.meta.kinds).
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path

from himo.api.contents import workspace_files
from himo.api.leftovers import clean_targets
from himo.api.recording import recording
from himo.api.status import remember_directory
from himo.errors import HimoError, PathError, PipelineError, WorkspaceIOError, workspace_io_error
from himo.meta.kinds import infer_kind
from himo.meta.recorder import Recorder
from himo.meta.records import ArtifactRef
from himo.model import HashInfo, TreeEntry
from himo.model.paths import name_problem
from himo.objects.ingest import Ingester
from himo.objects.leftovers import Leftover
from himo.objects.manifest import dump_manifest
from himo.objects.walk import FileRef
from himo.progress import SILENT, Reporter
from himo.workspace.gitignore import ignore_target
from himo.workspace.pointer import SUFFIX, load_pointer, pointer_file_for, write_pointer
from himo.workspace.repo import Repo
from himo.workspace.tracked import pointers_for, tracked_ancestor


@dataclass(frozen=True)
class AddResult:
    path: str  # the tracked path, relative to the repository root
    pointer: str  # its pointer file, relative to the root
    hash_info: HashInfo  # what the pointer now records
    files: int  # files looked at
    hashed: int  # files whose content was read (the rest came from the stat cache)
    changed: bool  # whether the pointer file was written
    gitignore: str  # the .gitignore that keeps the target out of git, relative to the root
    git_ignored: frozenset[str] = frozenset()  # of pointer and gitignore, those git ignores (`git add -f`)
    cleaned: tuple[Leftover, ...] = ()  # temp entries an interrupted command had left, cleaned first


def add(
    repo: Repo, paths: list[str], jobs: int | None = None, reporter: Reporter = SILENT
) -> list[AddResult]:
    """Track `paths` (files or directories): store their bytes and write PATH.himo beside each."""
    targets = [_check_addable(repo, p) for p in paths]
    with repo.lock(), recording(repo, "add", list(paths)) as recorder:
        results = [_recorded(repo, recorder, "add", t, jobs, reporter) for t in targets]
        return _marked_git_ignored(repo, results)


def commit(
    repo: Repo, paths: list[str], jobs: int | None = None, reporter: Reporter = SILENT
) -> list[AddResult]:
    """Record the current workspace content of already tracked paths (all if none given)."""
    pointers = pointers_for(repo, paths)
    for pointer in pointers:
        if not pointer.target.exists():
            rel = repo.rel(pointer.target)
            raise PathError(
                f"{rel}: missing from the workspace, nothing to commit",
                f"run `himo checkout {rel}` to restore it, or `himo remove {rel}{SUFFIX}`",
            )
    with repo.lock(), recording(repo, "commit", list(paths)) as recorder:
        results = [_recorded(repo, recorder, "commit", p.target, jobs, reporter) for p in pointers]
        return _marked_git_ignored(repo, results)


def _marked_git_ignored(repo: Repo, results: list[AddResult]) -> list[AddResult]:
    """Note the pointers (and .gitignore files) git ignores: a pointer in a git-ignored folder is
    not committed by a plain `git add`, and a clone would not know the data."""
    if repo.git is None:
        return results
    files = {(repo.root / f).relative_to(repo.git.root).as_posix(): f
             for r in results for f in (r.pointer, r.gitignore)}
    ignored = {files[p] for p in repo.git.ignored(sorted(files))}
    return [dataclasses.replace(r, git_ignored=frozenset({r.pointer, r.gitignore} & ignored))
            for r in results]


def _check_addable(repo: Repo, user_path: str) -> Path:
    named_pointer = Path(user_path).name.endswith(SUFFIX) and Path(user_path).name != SUFFIX
    target = repo.resolve(user_path.removesuffix(SUFFIX) if named_pointer else user_path)
    if not target.exists():
        raise PathError(f"{user_path}: no such file or directory")
    problem = name_problem(target.name)
    if problem is not None:  # it could not be written back into the pointer and .gitignore
        raise PathError(f"cannot track {user_path!r}: its name {problem}", "rename it, then add it")
    if not (target.is_file() or target.is_dir()):
        raise PathError(f"{user_path}: not a regular file or directory")
    owner = tracked_ancestor(repo, target)
    if owner is not None:
        raise PathError(
            f"{user_path}: inside tracked directory {repo.rel(owner)}",
            f"run `himo add {repo.rel(owner)}` (or `himo commit`) to record the whole directory",
        )
    _refuse_dvc_tracked(repo, user_path, target)
    _refuse_stage_output(repo, user_path, repo.rel(target))
    return target


def _refuse_dvc_tracked(repo: Repo, user_path: str, target: Path) -> None:
    """A DVC pointer file is no data, and data a `.dvc` file tracks (not taken over yet) is
    taken over by `himo migrate dvc`, which keeps DVC's record where its md5 still holds."""
    from himo.workspace import dvc

    if target.is_file() and target.name.endswith(dvc.DVC_SUFFIX):
        try:
            tracks = dvc.parse_dvc_file(target.read_text(encoding="utf-8"), repo.rel(target)).out.path
        except (HimoError, OSError, UnicodeDecodeError):
            return  # not DVC's: a file that happens to end in .dvc
        raise PathError(f"{user_path}: a DVC pointer file (for {tracks}), not data",
                        f"`himo add {tracks}` tracks its data; `himo migrate dvc` turns every .dvc file"
                        " into a .himo pointer")
    for path in (target, *target.parents):
        if path == repo.root or not path.is_relative_to(repo.root):
            return
        dvc_file = path.parent / (path.name + dvc.DVC_SUFFIX)
        if dvc_file.is_file() and not pointer_file_for(path).exists():
            raise PathError(f"{user_path}: tracked by DVC ({repo.rel(dvc_file)})",
                            "run `himo migrate dvc` to take over what DVC tracks (its record is kept), "
                            "then `himo add` changes")


def _refuse_stage_output(repo: Repo, user_path: str, rel: str) -> None:
    """A stage's output is recorded in himo.lock when the stage runs; a pointer as well would give
    it two owners, and every pipeline command would refuse the pipeline from then on."""
    if not (repo.root / "himo.yaml").exists():
        return  # no pipeline: spare the import of the pipeline modules
    from himo.pipeline.loader import load_stages

    try:
        stages = load_stages(repo.root)
    except PipelineError as error:
        raise PipelineError(f"{error.message} (himo add checks that no stage writes {user_path})",
                            error.hint) from error
    for stage in stages:
        for out in stage.outs:
            if rel == out.path or rel.startswith(out.path + "/"):
                where = "an output" if rel == out.path else f"inside {out.path}, an output"
                raise PathError(f"{user_path}: {where} of stage '{stage.name}' in himo.yaml, which himo.lock "
                                "records", f"run `himo repro {stage.name}` to record it, not `himo add`")
            if out.path.startswith(rel + "/"):
                raise PathError(f"{user_path}: contains {out.path}, an output of stage '{stage.name}' in "
                                "himo.yaml", f"add the other paths in {rel} one by one; `himo repro "
                                f"{stage.name}` records {out.path}")


def _recorded(repo: Repo, recorder: Recorder, verb: str, target: Path, jobs: int | None,
              reporter: Reporter) -> AddResult:
    """_record, as one execution of stage `verb` ("add" or "commit") in the metadata store."""
    rel = repo.rel(target)
    exec_id = recorder.start_execution(verb, f"himo {verb} {shlex.quote(rel)}")
    try:
        result = _record(repo, target, jobs, reporter)
    except BaseException as exc:
        recorder.end_execution(exec_id, "aborted" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    info = result.hash_info
    output = ArtifactRef(path=rel, digest=info.digest, size=info.size, nfiles=info.nfiles,
                         kind=infer_kind(rel, data=True))
    recorder.end_execution(exec_id, "succeeded", outputs=[output])
    return result


def _record(repo: Repo, target: Path, jobs: int | None, reporter: Reporter) -> AddResult:
    try:  # first: a file an interrupted command left only under a temp name is put back
        cleaned = tuple(clean_targets(repo, [target]))
    except OSError as exc:
        raise _storage_error(repo, target, exc) from exc
    files = workspace_files(repo, target)
    nested = next((f.rel for f in files if f.rel.endswith(SUFFIX)), None)
    if target.is_dir() and nested:
        raise PathError(
            f"{repo.rel(target)}: contains the pointer file {nested} of another tracked path",
            "track its parts separately, or `himo remove` the inner pointer first",
        )
    ingester = repo.ingester(jobs)
    try:
        info = _store(repo, target, files, ingester, reporter)
        changed = _write_if_changed(repo, target, info)
        ignore_target(target)
    except OSError as exc:
        raise _storage_error(repo, target, exc) from exc
    return AddResult(
        repo.rel(target), repo.rel(pointer_file_for(target)), info, len(files), ingester.hashed, changed,
        repo.rel(target.parent / ".gitignore"), cleaned=cleaned,
    )


def _store(
    repo: Repo, target: Path, files: list[FileRef], ingester: Ingester, reporter: Reporter
) -> HashInfo:
    """Put the files in the cache (and a manifest, for a directory); what the pointer will record."""
    reporter.start(f"Adding {repo.rel(target)}", len(files))
    try:
        digests = ingester.store_files(files, on_done=reporter.advance)
    finally:
        reporter.finish()
    if not target.is_dir():
        return HashInfo(digests[target.name], files[0].stat.st_size)
    entries = [TreeEntry(f.rel, digests[f.rel], f.stat.st_size) for f in files]
    manifest_oid = repo.odb.add_bytes(dump_manifest(entries, repo.rel(target)))
    if ingester.linker.preferred not in ("hardlink", "symlink"):  # copies left the files as walked
        remember_directory(repo, repo.rel(target), manifest_oid, files, [e.digest for e in entries])
    return HashInfo(manifest_oid, sum(e.size for e in entries), len(entries))


def _write_if_changed(repo: Repo, target: Path, info: HashInfo) -> bool:
    file = pointer_file_for(target)
    if file.exists():
        try:
            if load_pointer(file, repo.root).hash_info == info:
                return False
        except HimoError:
            pass  # a broken pointer is replaced by a good one
    write_pointer(target, info)
    return True


def _storage_error(repo: Repo, target: Path, exc: OSError) -> WorkspaceIOError:
    rel = repo.rel(target)
    # Name the file only when it is not the one being added (shutil names the source even
    # when writing the copy failed).
    named = Path(exc.filename) if exc.filename else None
    where = f" ({exc.filename})" if named and not (named == target or named.is_relative_to(target)) else ""
    return workspace_io_error(f"cannot store {rel}: {exc.strerror}{where}", exc,
                              full="free space in the cache's filesystem, then run the command again",
                              denied="check the permissions of the file and of .himo/cache",
                              other="nothing was recorded; fix the cause and run the command again")
