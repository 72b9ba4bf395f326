"""Reading repository files as they are in a git revision, or in the workspace."""

from __future__ import annotations

from dataclasses import dataclass

from himo.errors import ScmError
from himo.model.stage import Stage
from himo.pipeline.loader import PIPELINE_FILE, parse_stages
from himo.workspace.repo import Repo


@dataclass(frozen=True)
class Revision:
    """A git commit, or the workspace when `commit` is None."""

    repo: Repo
    commit: str | None
    label: str  # as the user named it ("HEAD", "workspace")

    def read(self, path: str) -> str | None:
        """Text of the repository-relative `path` at this revision (None if absent)."""
        if self.commit is None:
            file = self.repo.root / path
            return file.read_text(encoding="utf-8") if file.is_file() else None
        assert self.repo.git is not None
        git_path = (self.repo.root / path).relative_to(self.repo.git.root).as_posix()
        return self.repo.git.show_file(self.commit, git_path)

    def stages(self) -> list[Stage]:
        text = self.read(PIPELINE_FILE)
        return parse_stages(self.repo.root, text) if text else []


def revision(repo: Repo, rev: str | None) -> Revision:
    """`rev` resolved (None: the workspace); ScmError for an unknown one or without git."""
    if rev is None:
        return Revision(repo, None, "workspace")
    if repo.git is None:
        raise ScmError("comparing revisions needs a git repository", "run `git init` and commit first")
    return Revision(repo, repo.git.resolve(rev), rev)
