"""The little of git that himo needs, through the `git` command (no library to install)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from himo.errors import ScmError


def find_git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


# Reading commands (status, diff) may rewrite the user's index to refresh its stat data: never from
# himo, which reads the user's repository and must leave it as it was (and not race the user's git).
NO_INDEX_REFRESH = {"GIT_OPTIONAL_LOCKS": "0"}


class Git:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, input: bytes | None = None, ok: tuple[int, ...] = (0,),
            env: dict[str, str] | None = None) -> bytes:
        try:
            proc = subprocess.run(
                ["git", *args], cwd=self.root, input=input, capture_output=True, check=False,
                env={**os.environ, **NO_INDEX_REFRESH, **(env or {})},
            )
        except FileNotFoundError as exc:
            raise ScmError("git is not installed", "install git, or use `himo init --no-scm`") from exc
        if proc.returncode not in ok:
            message = proc.stderr.decode(errors="replace").strip().splitlines()
            raise ScmError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
        return proc.stdout

    def pointer_files(self, skip: Iterable[str] = ()) -> list[str]:
        """Pointer files in the work tree: tracked, untracked, and git-ignored ones too (a pointer
        in an ignored folder still tracks data that status, push and gc must see).

        Ignored folders named in `skip` (.himo, whose cache may hold a million files) and those
        that are tracked targets (data/ beside data.himo) are not searched: git lists ignored
        folders without entering them, and then searches only the others."""
        found = set(self._listed("--cached", "--others", "--exclude-standard", "--", "*.himo"))
        ignored = self._listed("--others", "--ignored", "--exclude-standard", "--directory")
        found.update(p for p in ignored if p.endswith(".himo"))
        skipped = set(skip)
        folders = [p for p in ignored if p.endswith("/") and not skipped & set(PurePosixPath(p).parts)
                   and p[:-1] + ".himo" not in found]
        if folders:
            patterns = [f":(glob){folder}**/*.himo" for folder in folders]
            found.update(self._listed("--others", "--ignored", "--exclude-standard", "--", *patterns))
        # Files inside a tracked target are its data, even when named *.himo (git cannot skip
        # those folders inside an ignored one, so they are dropped here).
        return sorted(p for p in found
                      if not any(f"{parent}.himo" in found for parent in PurePosixPath(p).parents))

    def ignored(self, paths: list[str]) -> set[str]:
        """Which of `paths` (relative to the git root) git ignores and does not track: `git add`
        refuses them without -f."""
        if not paths:
            return set()
        out = self.run("check-ignore", "-z", "--stdin", input="\0".join(paths).encode() + b"\0", ok=(0, 1))
        return {p for p in out.decode().split("\0") if p}

    def _listed(self, *args: str) -> list[str]:
        return [p for p in self.run("ls-files", "-z", *args).decode().split("\0") if p]

    def revisions(self, branches: bool, tags: bool, commits: bool) -> list[str]:
        """Commit ids for the gc scopes asked for."""
        if commits:
            out = self.run("rev-list", "--all")
        else:
            refs = (["refs/heads"] if branches else []) + (["refs/tags"] if tags else [])
            if not refs:
                return []
            out = self.run("for-each-ref", "--format=%(objectname)^{commit}", *refs)
            out = self.run("rev-parse", *out.decode().split()) if out.strip() else b""
        return sorted(set(out.decode().split()))

    def pointer_blobs(self, rev: str, also: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
        """(path, blob id) of every pointer file in commit `rev`, and of the paths in `also`."""
        out = self.run("ls-tree", "-r", "-z", rev)
        for line in out.decode().split("\0"):
            if "\t" not in line:
                continue
            meta, path = line.split("\t", 1)
            if path.endswith(".himo") or path in also:
                yield path, meta.split()[2]

    def read_blobs(self, blob_ids: list[str]) -> dict[str, bytes]:
        """Contents of many blobs with one `git cat-file --batch`."""
        if not blob_ids:
            return {}
        out = self.run("cat-file", "--batch", input="\n".join(blob_ids).encode() + b"\n")
        blobs: dict[str, bytes] = {}
        pos = 0
        while pos < len(out):
            header_end = out.index(b"\n", pos)
            oid, _kind, size = out[pos:header_end].decode().split()
            start = header_end + 1
            blobs[oid] = out[start : start + int(size)]
            pos = start + int(size) + 1
        return blobs

    def resolve(self, rev: str) -> str:
        """The commit id `rev` (a commit, branch, tag, `HEAD~1`...) names; ScmError naming it if none."""
        if rev and not rev.startswith("-"):  # never let a revision be read as an option
            try:
                return self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
            except ScmError:
                pass
        if not self.has_commits():
            raise ScmError(f"unknown git revision {rev!r}: the repository has no commits yet",
                           "commit first (git add -A && git commit), then compare")
        raise ScmError(f"unknown git revision {rev!r}", "use a commit, branch or tag name, e.g. HEAD~1")

    def has_commits(self) -> bool:
        try:
            self.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        except ScmError:
            return False
        return True

    def _mode(self, path: str, executables: list[str] | None, env: dict[str, str]) -> str:
        if executables is not None:
            return "100755" if path in executables else "100644"
        staged = self.run("ls-files", "--stage", "--", path, env=env).decode().split()
        return "100755" if staged[:1] == ["100755"] else "100644"

    def file_at(self, commit: str, path: str) -> bytes | None:
        """The bytes of file `path` (POSIX, relative to the git root) in `commit`; None if it has none."""
        try:
            return self.run("cat-file", "blob", f"{commit}:{path}")
        except ScmError:  # no such path in that commit, or a folder there
            return None

    def commit_files(self, base: str, files: dict[str, str | None], message: str, branch: str,
                     executables: list[str] | None = None) -> str:
        """Commit `files` (path -> text, None: delete) on top of `base` as the new branch `branch`,
        through a temporary index: the work tree, the index and HEAD stay as they are. Files in
        `executables` get mode 100755, the others 100644; with None, each keeps its mode in `base`
        (a new one: 100644)."""
        try:
            ref = self.run("check-ref-format", "--branch", branch).decode().strip()
        except ScmError:
            raise ScmError(f"{branch!r} is not a valid branch name",
                           "see `git help check-ref-format`") from None
        if ref.startswith("-") or self.run("branch", "--list", ref).strip():
            raise ScmError(f"a branch named {branch!r} exists already" if not ref.startswith("-") else
                           f"{branch!r} is not a valid branch name", "choose another branch name")
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
            self.run("read-tree", base, env=env)
            for path, text in files.items():
                if text is None:
                    self.run("update-index", "--force-remove", "--", path, env=env)
                    continue
                blob = self.run("hash-object", "-w", "--stdin", input=text.encode()).decode().strip()
                mode = self._mode(path, executables, env)
                self.run("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=env)
            tree = self.run("write-tree", env=env).decode().strip()
        commit = self.run("commit-tree", tree, "-p", base, input=message.encode()).decode().strip()
        self.run("update-ref", f"refs/heads/{ref}", commit, "")  # "": only if the branch does not exist
        return commit
