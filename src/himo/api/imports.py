"""`himo import`, `himo get`, `himo update`: data that another git repository tracks.

The source repository (a URL or a local folder: the "data registry") is cloned into a temporary
folder and checked out at the asked revision. What it tracks is found there:

    with git    a file committed there (code, a metrics file a stage does not cache, a folder
                holding no tracked data): its bytes in that commit
    with himo   PATH.himo, or an output in himo.lock, or a path inside either folder; bytes from
                its default remote (or, for a local folder, from its own cache), verified by blake3
    with DVC    PATH.dvc, or an output in dvc.lock, or a path inside either folder; bytes from its
                default DVC remote if that is a folder (`files/md5/ab/cdef...`), or from its
                .dvc/cache, verified by md5

`import` writes PATH.himo with the source (URL, path, revision asked, commit resolved), so the
data is tracked like any other (status, checkout, push, gc) and `update` can move it to a newer
commit (never a `frozen` one). `get` only copies the bytes. An import is recorded as an
execution `import` whose params name the source repository and commit (see `himo lineage`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from himo.api.leftovers import scratch_folder
from himo.api.recording import recording
from himo.errors import CorruptObjectError, MissingObjectError, PathError, ScmError
from himo.meta.kinds import infer_kind
from himo.meta.records import ArtifactRef
from himo.model import HashInfo, TreeEntry
from himo.model.paths import path_problem
from himo.objects.files import temp_name
from himo.objects.manifest import dump_manifest, load_manifest
from himo.objects.tree import place_path, store_path
from himo.pipeline.lockfile import read_lock
from himo.remotes.base import Remote
from himo.workspace import dvc
from himo.workspace.git import Git
from himo.workspace.gitignore import ignore_target
from himo.workspace.pointer import (
    SUFFIX,
    ImportSource,
    Pointer,
    load_pointer,
    pointer_file_for,
    write_pointer,
)
from himo.workspace.repo import HIMO_DIR, Repo


@dataclass(frozen=True)
class ImportResult:
    path: str  # the target, relative to the repository root (for `get`: as given)
    source: ImportSource  # where it came from
    hash_info: HashInfo | None  # what the pointer records (None for a DVC `get`)
    status: str  # "imported", "updated", "unchanged", "frozen", "downloaded"


@dataclass
class _Found:
    """A path the source tracks, at one commit."""

    kind: str  # "himo", "dvc" or "git"
    info: HashInfo | None  # himo's record (of the tracked folder, when `inner`)
    md5: str | None  # DVC's record (of the tracked folder, when `inner`)
    inner: str = ""  # the path inside the tracked folder (""): the whole of it)
    path: str = ""  # the path in the source's checkout (the tracked folder, when `inner`)


class _Source:
    """The source repository, checked out at one commit in a temporary folder."""

    def __init__(self, url: str, folder: Path, local: Path | None) -> None:
        self.url = url  # as recorded in pointers
        self.folder = folder
        self.git = Git(folder)
        self.local = local  # a local folder: its caches are usable

    def checkout(self, rev: str | None) -> str:
        try:
            commit = self.git.resolve(rev or "HEAD")
        except ScmError as error:
            raise ScmError(f"{self.url}: unknown revision {rev or 'HEAD'!r}",
                           "name a branch, tag or commit of the source repository") from error
        self.git.run("checkout", "--quiet", "--detach", commit)
        return commit

    def find(self, path: str, commit: str) -> _Found:
        """Where `path`'s bytes are: git (committed: the checkout holds only what git has), or
        what himo or DVC records for it or for a tracked folder holding it."""
        path = path.rstrip("/")
        if (self.folder / path).is_file():
            return _Found("git", None, None, path=path)
        parts = path.split("/")
        for cut in range(len(parts), 0, -1):  # the path itself, then each folder holding it
            found = self._tracked("/".join(parts[:cut]), "/".join(parts[cut:]))
            if found is not None:
                return found
        if (self.folder / path).is_dir():
            return self._git_folder(path, commit)
        raise PathError(f"{path}: not tracked by himo, DVC or git in {self.url} at {commit[:12]}",
                        "name a file or folder committed there, a path with a .himo or .dvc file, a"
                        " pipeline output, or a path inside one of those")

    def _tracked(self, path: str, inner: str) -> _Found | None:
        pointer = self.folder / (path + SUFFIX)
        if pointer.is_file():
            return _Found("himo", load_pointer(pointer, self.folder).hash_info, None, inner, path)
        locked = _himo_lock_out(self.folder, path)
        if locked is not None:
            return _Found("himo", locked, None, inner, path)
        md5 = _dvc_md5(self.folder, path)
        if md5 is not None:
            return _Found("dvc", None, md5, inner, path)
        return None

    def _git_folder(self, path: str, commit: str) -> _Found:
        """A folder of git's, taken as git has it unless it holds tracked data (its pointers
        would be imported, not the data)."""
        inside = [f.relative_to(self.folder).as_posix() for f in (self.folder / path).rglob("*")
                  if f.name.endswith((SUFFIX, dvc.DVC_SUFFIX)) and f.is_file()]
        if inside:
            raise PathError(f"{path}: a folder of git's holding tracked data ({inside[0]}) in {self.url}"
                            f" at {commit[:12]}", "import the tracked paths in it one by one")
        return _Found("git", None, None, path=path)

    def base(self) -> Path:
        """What the source's relative remote URLs are relative to."""
        return self.local if self.local is not None else self.folder


@contextlib.contextmanager
def _cloned(url: str, base: Path | None = None, repo: Repo | None = None) -> Iterator[_Source]:
    """`url` cloned; a relative folder is relative to `base` (an import's repository root, where
    DVC also resolves it), else to the current folder. The URL is recorded as given. The clone
    goes into `repo`'s scratch folder when there is one: a killed import's clone is deleted by
    the next one (a system temp folder would keep it until reboot)."""
    where = Path(base or ".") / url
    local = os.path.abspath(where) if "://" not in url and where.is_dir() else None  # no ".."
    with _clone_folder(repo) as tmp:
        folder = tmp / "src"
        try:
            Git(tmp).run("clone", "--quiet", "--no-checkout", "--", local or url, str(folder))
        except ScmError as error:
            raise ScmError(f"{url}: cannot clone it as a git repository ({error.message})",
                           "give the URL or folder of a git repository") from error
        yield _Source(url if base else (local or url), folder, Path(local) if local else None)


@contextlib.contextmanager
def _clone_folder(repo: Repo | None) -> Iterator[Path]:
    if repo is not None:
        with scratch_folder(repo, "source") as folder:
            yield folder
        return
    with tempfile.TemporaryDirectory(prefix="himo-import-") as tmp:
        yield Path(tmp)


def _himo_lock_out(folder: Path, path: str) -> HashInfo | None:
    for entry in read_lock(folder).values():
        for out in entry.outs:
            if out.path == path and out.digest:
                return HashInfo(out.digest, out.size, out.nfiles)
    return None


def _dvc_md5(folder: Path, path: str) -> str | None:
    file = folder / (path + dvc.DVC_SUFFIX)
    if file.is_file():
        return dvc.parse_dvc_file(file.read_text(encoding="utf-8"), path + dvc.DVC_SUFFIX).out.md5
    lock = folder / dvc.LOCK_FILE
    if not lock.is_file():
        return None
    for stage in dvc.parse_dvc_lock(lock.read_text(encoding="utf-8"), {}).values():
        for out in stage.outs:
            if out.path == path:
                return out.md5
    return None


# -- bringing the bytes in --------------------------------------------------------------------------
def _fetch_himo(repo: Repo, src: _Source, found: _Found, target: Path) -> HashInfo:
    """The source's objects for `found` (named `target` in messages) into repo's cache, each
    verified by digest: from its default remote, else from its cache; nothing is placed."""
    from himo.api.transfer import fetch_objects
    from himo.remotes.registry import open_remote

    assert found.info is not None
    stores = _himo_stores(src)
    if not stores:
        raise PathError(f"{src.url}: has no himo remote to fetch from",
                        "set a default remote there (`himo remote add -d`) and `himo push` the data")
    for number, (name, options) in enumerate(stores):
        store = open_remote(name, options, repo.jobs, str(src.base()))
        try:
            info = _part(repo, store, found, target) if found.inner else found.info
            fetch_objects(repo, store, {repo.rel(target): info})
            return info
        except (MissingObjectError, CorruptObjectError):
            if number == len(stores) - 1:
                raise
            # the next store may have them
    raise AssertionError("unreachable")


def _part(repo: Repo, store: Remote, found: _Found, target: Path) -> HashInfo:
    """What is at `found.inner` inside the tracked folder `found.info`: its manifest fetched
    (verified), the entry (a file) or the entries below it (a folder, whose manifest is made
    here: the source never stored one) looked up; PathError if nothing is there."""
    from himo.api.transfer import fetch_objects

    folder = found.info
    assert folder is not None
    if not folder.isdir:
        raise _nothing_inside(found)
    fetch_objects(repo, store, {repo.rel(target): HashInfo(folder.digest, 0)})  # the manifest only
    entries = load_manifest(repo.odb.read_bytes(folder.digest), folder.digest)
    for entry in entries:
        if entry.path == found.inner:
            return HashInfo(entry.digest, entry.size)
    prefix = found.inner + "/"
    below = [TreeEntry(e.path[len(prefix):], e.digest, e.size) for e in entries if e.path.startswith(prefix)]
    if not below:
        raise _nothing_inside(found)
    digest = repo.odb.add_bytes(dump_manifest(below, repo.rel(target)))
    return HashInfo(digest, sum(e.size for e in below), len(below))


def _nothing_inside(found: _Found) -> PathError:
    return PathError(f"{found.path}/{found.inner}: nothing there in {found.path}, which the source tracks",
                     f"name a file or folder that {found.path} holds")


def _himo_stores(src: _Source) -> list[tuple[str, dict[str, object]]]:
    from himo.workspace.config import Config

    config = Config(src.folder / HIMO_DIR)
    stores: list[tuple[str, dict[str, object]]] = []
    default = config.get("core.remote")
    if default and default in config.remote_names():
        stores.append((default, config.remote(default)))
    if src.local is not None and (src.local / HIMO_DIR / "cache").is_dir():
        stores.append(("cache", {"url": str(src.local / HIMO_DIR / "cache")}))
    return stores


def _dvc_store(src: _Source, found: _Found) -> Path:
    """A DVC object store (its remote folder, or its cache) holding `found` whole."""
    md5, inner = found.md5 or "", found.inner
    remote = dvc.default_remote_folder(src.folder, src.base())
    candidates = [remote] if remote else []
    if src.local is not None:
        candidates.append(dvc.cache_dir(src.local))
    for store in candidates:
        if dvc.has_object(store, md5, inner):
            return store
        if inner and dvc.files_of(store, md5, inner) == {}:
            raise _nothing_inside(found)
    what = f"{inner} inside the DVC object {md5}" if inner else f"the DVC object {md5}"
    raise PathError(f"{src.url}: {what} is in no DVC remote folder or cache himo can read",
                    "`dvc push` it to the source's default remote (a folder), or use `dvc get`")


def _fetch_dvc(src: _Source, found: _Found, dest: Path) -> None:
    store = _dvc_store(src, found)
    dvc.materialise(store, found.md5 or "", dest, found.inner)


def _copy_from_git(src: _Source, path: str, dest: Path) -> None:
    """The file or folder as git has it in the source's checkout (git verified it)."""
    source = src.folder / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True)
    else:
        shutil.copy2(source, dest, follow_symlinks=False)


# -- the commands -------------------------------------------------------------------------------------
def import_(repo: Repo, url: str, path: str, out: str | None = None, rev: str | None = None) -> ImportResult:
    """Track `path` of the git repository `url` (at `rev`, default its HEAD) as `out`."""
    _check_source_path(path)
    target = repo.resolve(out or Path(path).name)
    existing = _existing_import(repo, target)
    if existing is None and (target.exists() or pointer_file_for(target).exists()):
        raise PathError(f"{repo.rel(target)}: already exists", "remove it, or import to another path with -o")
    with repo.lock(), recording(repo, "import", _args(url, path, out, rev)) as recorder:
        result = _import_into(repo, recorder, url, path, rev, target, frozen=False)
    return result if existing is None else _as(result, "updated")


def update(repo: Repo, targets: list[str] | None = None, rev: str | None = None) -> list[ImportResult]:
    """Move imports (all, or `targets`) to the newest commit of their revision (or `rev`)."""
    pointers = _import_pointers(repo, targets)
    results = []
    with repo.lock(), recording(repo, "update", [*(["--rev", rev] if rev else []), *(targets or [])]) as rec:
        for pointer in pointers:
            source = pointer.source
            assert source is not None
            if source.frozen:
                results.append(ImportResult(repo.rel(pointer.target), source, pointer.hash_info, "frozen"))
                continue
            result = _import_into(repo, rec, source.url, source.path, rev or source.rev, pointer.target,
                                  frozen=False, known=pointer)
            results.append(result)
    return results


def get(url: str, path: str, out: str | None = None, rev: str | None = None) -> ImportResult:
    """Copy `path` of the git repository `url` to `out` (default: its name, here), untracked."""
    _check_source_path(path)
    dest = Path(os.path.abspath(out or Path(path).name))
    if dest.exists():
        raise PathError(f"{out or Path(path).name}: already exists",
                        "remove it, or give another path with -o")
    with _cloned(url) as src:
        commit = src.checkout(rev)
        found = src.find(path, commit)
        source = ImportSource(src.url, path, rev, commit)
        if found.kind != "himo":
            with tempfile.TemporaryDirectory(prefix="himo-get-") as tmp:
                place = Path(tmp) / "data"
                if found.kind == "git":
                    _copy_from_git(src, path, place)
                else:
                    _fetch_dvc(src, found, place)
                _move_into_place(place, dest)
            return ImportResult(str(dest), source, None, "downloaded")
        with tempfile.TemporaryDirectory(prefix="himo-get-") as tmp:
            from himo.api.init import init

            scratch = init(tmp, no_scm=True)
            (scratch.himo_dir / "config").write_text('[cache]\ntype = "copy"\n', encoding="utf-8")
            place = Path(tmp) / "data"
            info = _fetch_himo(scratch, src, found, place)
            place_path(scratch.ingester(), place, info)
            scratch.close()
            _move_into_place(place, dest)
    return ImportResult(str(dest), source, info, "downloaded")


def _move_into_place(source: Path, dest: Path) -> None:
    """`source` moved to `dest` whole: copied beside it under a temp name (the system temp folder
    is often another filesystem), then renamed; an interruption leaves no half-copy at `dest`."""
    staging = dest.parent / temp_name(dest.name)
    try:
        shutil.move(str(source), staging)
        os.rename(staging, dest)
    except BaseException:
        if staging.is_dir() and not staging.is_symlink():
            shutil.rmtree(staging, ignore_errors=True)
        elif os.path.lexists(staging):
            staging.unlink()
        raise


def _import_into(repo: Repo, recorder, url: str, path: str, rev: str | None, target: Path,  # type: ignore[no-untyped-def]
                 frozen: bool, known: Pointer | None = None) -> ImportResult:
    with _cloned(url, repo.root if known is not None else None, repo) as src:
        commit = src.checkout(rev)
        source = ImportSource(src.url, path, rev, commit, frozen)
        if known is not None and known.source is not None and known.source.commit == commit:
            return ImportResult(repo.rel(target), known.source, known.hash_info, "unchanged")
        found = src.find(path, commit)
        exec_id = recorder.start_execution("import", _command(src.url, path, commit),
                                           {"source": {"url": src.url, "path": path, "commit": commit}})
        try:
            info = _bring(repo, src, found, target)
            _place(repo, Pointer(pointer_file_for(target), target, info, source), first=known is None)
        except BaseException:
            recorder.end_execution(exec_id, "failed")
            raise
        rel = repo.rel(target)
        ref = ArtifactRef(path=rel, digest=info.digest, size=info.size, nfiles=info.nfiles,
                          kind=infer_kind(rel, data=True))
        recorder.end_execution(exec_id, "succeeded", outputs=[ref])
    return ImportResult(rel, source, info, "imported" if known is None else "updated")


def _bring(repo: Repo, src: _Source, found: _Found, target: Path) -> HashInfo:
    """`found`'s bytes into the cache, verified; the workspace is not touched yet."""
    if found.kind == "himo":
        return _fetch_himo(repo, src, found, target)
    with scratch_folder(repo, "import") as scratch:
        if found.kind == "git":
            _copy_from_git(src, found.path, scratch / target.name)
        else:
            _fetch_dvc(src, found, scratch / target.name)
        return store_path(repo.ingester(), scratch / target.name)


def _place(repo: Repo, pointer: Pointer, first: bool) -> None:
    """The data at its target (each file whole, see checkout.restore) and its pointer, in the
    order that lets the same command repair a kill -9 between the two: a `first` import writes
    its pointer first (the data is then missing, and the import run again finds its own
    pointer); an update places the data first (the old pointer then calls it modified, and the
    update run again, seeing the old commit, places it again)."""
    from himo.api.checkout import restore

    pointer.target.parent.mkdir(parents=True, exist_ok=True)
    if not first:
        restore(repo, [pointer], force=True)
    write_pointer(pointer.target, pointer.hash_info, pointer.source)
    if first:
        try:
            restore(repo, [pointer], force=True)
        except BaseException:
            pointer.file.unlink(missing_ok=True)  # a failed import leaves nothing
            raise
    ignore_target(pointer.target)


def _check_source_path(path: str) -> None:
    problem = path_problem(path.rstrip("/"))
    if problem is not None:
        raise PathError(f"{path!r}: {problem}",
                        "name a path inside the source repository, relative to its root")


def _existing_import(repo: Repo, target: Path) -> Pointer | None:
    file = pointer_file_for(target)
    if not file.exists():
        return None
    pointer = load_pointer(file, repo.root)
    if pointer.source is None:
        raise PathError(f"{repo.rel(target)}: already tracked (not an import)",
                        "import to another path with -o, or `himo remove` it first")
    return pointer


def _import_pointers(repo: Repo, targets: list[str] | None) -> list[Pointer]:
    from himo.workspace.tracked import pointers_for

    pointers = [p for p in pointers_for(repo, targets or []) if p.source is not None]
    if targets and not pointers:
        raise PathError(f"{targets[0]}: not an import", "`himo update` moves imports made by `himo import`")
    return pointers


def _as(result: ImportResult, status: str) -> ImportResult:
    return ImportResult(result.path, result.source, result.hash_info, status)


def _command(url: str, path: str, commit: str) -> str:
    import shlex

    return f"himo import {shlex.quote(url)} {shlex.quote(path)} --rev {commit}"


def _args(url: str, path: str, out: str | None, rev: str | None) -> list[str]:
    return [url, path, *(["-o", out] if out else []), *(["--rev", rev] if rev else [])]

