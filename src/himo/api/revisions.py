"""Reading repository files as they are in a git revision, or in the workspace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from himo.errors import PipelineError, ScmError
from himo.model.stage import Stage
from himo.pipeline.loader import PIPELINE_FILE, parse_stages
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
        if self.commit is None:
            return _read_workspace(self.repo, path)
        assert self.repo.git is not None
        git_path = (self.repo.root / path).relative_to(self.repo.git.root).as_posix()
        data = self.repo.git.file_at(self.commit, git_path)
        return None if data is None else data.decode("utf-8", "replace")

    def stages(self) -> list[Stage]:
        """The stages of himo.yaml at this revision (none without a himo.yaml)."""
        text = self.read(PIPELINE_FILE)
        if not text:
            return []
        with self.naming():
            return parse_stages(self.repo.root, text)

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


def _read_workspace(repo: Repo, path: str) -> str | None:
    file = repo.root / path
    if not file.is_file():
        return None
    try:
        return file.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}",
                            f"check the permissions of {path}") from exc


def revision(repo: Repo, rev: str | None) -> Revision:
    """`rev` resolved to a commit (None: the workspace); ScmError for an unknown one or without git."""
    if rev is None:
        return Revision(repo, None, WORKSPACE)
    if repo.git is None:
        raise ScmError(f"not a git repository: {repo.root} (revisions such as {rev!r} need git)",
                       "run `git init` and commit, then compare")
    return Revision(repo, repo.git.resolve(rev), rev)
