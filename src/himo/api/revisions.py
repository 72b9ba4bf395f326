"""Reading repository files as they are in a git revision, or in the workspace."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from himo.errors import HimoError, PipelineError, ScmError
from himo.model.pipeline import PipelineDef
from himo.model.stage import DepState, Stage
from himo.objects.manifest import load_manifest
from himo.pipeline.loader import PIPELINE_FILE, parse_pipeline
from himo.pipeline.lockfile import LOCK_FILE, parse_lock
from himo.workspace import dvc
from himo.workspace.repo import Repo

WORKSPACE = "workspace"  # the label of the workspace, where a revision name would be


@dataclass(frozen=True)
class Revision:
    """A git commit, or the workspace when `commit` is None."""

    repo: Repo
    commit: str | None  # full commit id; None: the files on disk
    label: str  # as the user named it ("HEAD~1", "main"), or "workspace"

    def read(self, path: str) -> str | None:
        """Text of the repository-relative `path` at this revision (None if there is no such file)."""
        data = self.read_bytes(path)
        return None if data is None else data.decode("utf-8", "replace")

    def read_bytes(self, path: str) -> bytes | None:
        """The bytes of `path` at this revision: in the commit, or on disk for the workspace."""
        if self.commit is None:
            return _read_workspace(self.repo, path)
        assert self.repo.git is not None
        git_path = (self.repo.root / path).relative_to(self.repo.git.root).as_posix()
        return self.repo.git.file_at(self.commit, git_path)

    def read_data(self, path: str) -> str | None:
        """Like `read`, and at a commit also a file that a stage wrote into the cache: git does not
        hold it, but that commit's himo.lock names its digest (alone, or in an output folder), as
        `dvc metrics show -a` reads metrics. None if neither git nor the cache has it."""
        data = self.read_data_bytes(path)
        return None if data is None else data.decode("utf-8", "replace")

    def read_data_bytes(self, path: str) -> bytes | None:
        """The bytes `read_data` decodes (plots read images with it)."""
        data = self.read_bytes(path)
        if data is not None or self.commit is None:
            return data
        lock = self.read(LOCK_FILE)
        if not lock:
            dvc_lock = self.read(dvc.LOCK_FILE)  # a commit before `himo migrate dvc`
            return _dvc_cached_bytes(self, dvc_lock, path) if dvc_lock else None
        with self.naming():
            entries = parse_lock(lock)
        for entry in entries.values():
            for out in entry.outs:
                if out.digest and (path == out.path or path.startswith(out.path + "/")):
                    return _cached_bytes(self.repo, out, path)
        return None

    def stages(self) -> list[Stage]:
        """The stages of himo.yaml at this revision (none without a himo.yaml)."""
        return list(self.pipeline().stages)

    def pipeline(self) -> PipelineDef:
        """Everything himo.yaml defines at this revision (nothing without a himo.yaml). A commit
        made before `himo migrate dvc` has DVC's dvc.yaml instead: read the same way (himo.yaml's
        schema is dvc.yaml's), so metrics, params and plots compare across the migration."""
        text = self.read(PIPELINE_FILE)
        if not text and self.commit is not None and (text := self.read(dvc.PIPELINE_FILE)):
            with self.naming(), _named_dvc_yaml():
                return parse_pipeline(self.repo.root, text)
        if not text:
            return PipelineDef()
        with self.naming():
            return parse_pipeline(self.repo.root, text)

    @contextmanager
    def naming(self) -> Iterator[None]:
        """Add this revision to a PipelineError raised for one of its files (the workspace's are
        named as they are, by path)."""
        try:
            yield
        except PipelineError as exc:
            if self.commit is None:
                raise
            raise PipelineError(f"{exc.message} (at revision {self.label})",
                                "compare other revisions, or fix the file in a new commit") from exc


@contextmanager
def _named_dvc_yaml() -> Iterator[None]:
    """A PipelineError about dvc.yaml read as himo.yaml names dvc.yaml."""
    try:
        yield
    except PipelineError as exc:
        raise PipelineError(exc.message.replace(PIPELINE_FILE, dvc.PIPELINE_FILE, 1), exc.hint) from exc


def _dvc_cached_bytes(rev: Revision, lock_text: str, path: str) -> bytes | None:
    """The bytes of `path` at a commit DVC ran (no himo.lock): the output of its dvc.lock that
    is or holds `path`, from DVC's cache or its default remote folder, md5-checked. None if
    neither has it, or dvc.lock cannot be read."""
    try:
        wdirs = {s.name: s.wdir for s in rev.stages()}
        stages = dvc.parse_dvc_lock(lock_text, wdirs)
    except HimoError:
        return None
    for out in (o for s in stages.values() for o in s.outs if o.md5):
        if path == out.path or path.startswith(out.path + "/"):
            return _from_dvc_stores(rev.repo, out.md5 or "", path[len(out.path) + 1:])
    return None


def _from_dvc_stores(repo: Repo, md5: str, inner: str) -> bytes | None:
    remote = dvc.default_remote_folder(repo.root) if (repo.root / dvc.DVC_DIR).is_dir() else None
    stores = [dvc.cache_dir(repo.root), *([remote] if remote else [])]
    for store in stores:
        try:
            if dvc.has_object(store, md5, inner):
                (file_md5,) = (dvc.files_of(store, md5, inner) or {}).values()
                return dvc.cache_file(store, file_md5).read_bytes()
        except (HimoError, OSError, ValueError):
            continue  # a corrupted object, a folder named: not this store's answer
    return None


def _read_workspace(repo: Repo, path: str) -> bytes | None:
    file = repo.root / path
    if not file.is_file():
        return None
    try:
        return file.read_bytes()
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}",
                            f"check the permissions of {path}") from exc


DIGEST_PREFIX = re.compile(r"[0-9a-fA-F]{4,64}")


def artifact_path(repo: Repo, target: str) -> tuple[str, str | None]:
    """(TARGET, None), or for the name of an artifact of himo.yaml (`artifacts:`), NAME or
    NAME@REV, (its PATH or PATH@REV, NAME): a path that exists, or a pointer, wins over a name.
    NAME@REV takes the artifact's path from himo.yaml at REV."""
    name, _, rev = target.partition("@")
    if not name or "/" in name or (repo.root / name).exists() or (repo.root / f"{name}.himo").exists():
        return target, None
    if os.path.exists(name):  # relative to the current folder, as paths on the command line are
        return target, None
    try:
        found = revision(repo, rev or None).pipeline().artifact(name)
    except HimoError:
        if DIGEST_PREFIX.fullmatch(name):  # a digest (prefix) needs no himo.yaml
            return target, None
        raise  # the name of an artifact, most likely: the unreadable himo.yaml is what to fix
    if found is None:
        return target, None
    return (f"{found.path}@{rev}" if rev else found.path), name


def _cached_bytes(repo: Repo, out: DepState, path: str) -> bytes | None:
    """The bytes of `path` in the output `out` recorded by himo.lock, from the cache (None if the
    cache lacks it: `himo pull` brings it)."""
    digest: str | None = out.digest
    try:
        if out.nfiles is not None:  # a folder: find the file in its manifest
            inside = path[len(out.path) + 1:]
            entries = load_manifest(repo.odb.read_bytes(out.digest or ""), out.digest or "")
            digest = next((e.digest for e in entries if e.path == inside), None)
        elif path != out.path:
            return None
        if digest is None or not repo.odb.exists(digest):
            return None
        return repo.odb.read_bytes(digest)
    except (OSError, HimoError):
        return None


def revision(repo: Repo, rev: str | None) -> Revision:
    """`rev` resolved to a commit (None: the workspace); ScmError for an unknown one or without git."""
    if rev is None:
        return Revision(repo, None, WORKSPACE)
    if repo.git is None:
        raise ScmError(f"not a git repository: {repo.root} (revisions such as {rev!r} need git)",
                       "run `git init` and commit, then compare")
    return Revision(repo, repo.git.resolve(rev), rev)
