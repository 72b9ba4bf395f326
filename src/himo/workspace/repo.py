"""A himo repository: the folder holding `.himo/`, and the services built on it."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from himo.errors import LockError, NotARepoError, PathError
from himo.objects.odb import ObjectDB
from himo.objects.state import StateDB
from himo.workspace.config import Config, link_types, positive_int
from himo.workspace.git import Git, find_git_root

if TYPE_CHECKING:  # imported when first used: `himo status` on an unchanged tree needs neither
    from himo.objects.ingest import Ingester
    from himo.objects.links import Linker

HIMO_DIR = ".himo"


def default_jobs() -> int:
    return max(4, 2 * (os.cpu_count() or 1))


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.himo_dir = root / HIMO_DIR

    @classmethod
    def find(cls, start: Path | None = None) -> Repo:
        start = Path(os.path.abspath(start or os.getcwd()))
        for folder in (start, *start.parents):
            if (folder / HIMO_DIR).is_dir():
                return cls(folder)
        raise NotARepoError(
            f"not a himo repository (no {HIMO_DIR}/ in {start} or any parent)",
            "run `himo init` at the root of your git repository",
        )

    def close(self) -> None:
        """Close what the repository opened (the stat cache's database, the cache writers' lock);
        each reopens on next use."""
        for name in ("state", "odb"):
            opened = self.__dict__.pop(name, None)
            if opened is not None:
                opened.close()

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def config(self) -> Config:
        return Config(self.himo_dir)

    @cached_property
    def odb(self) -> ObjectDB:
        return ObjectDB(self.himo_dir / "cache")

    @cached_property
    def state(self) -> StateDB:
        return StateDB(self.himo_dir / "state.db")

    @cached_property
    def linker(self) -> Linker:
        from himo.objects.links import DEFAULT_LINK_TYPES, Linker

        return Linker(link_types(self.config.get("cache.type", DEFAULT_LINK_TYPES)))

    @cached_property
    def jobs(self) -> int:
        return positive_int("core.jobs", self.config.get("core.jobs", default_jobs()))

    def ingester(self, jobs: int | None = None) -> Ingester:
        from himo.objects.ingest import Ingester

        return Ingester(self.odb, self.state, self.linker, jobs or self.jobs)

    @cached_property
    def git(self) -> Git | None:
        git_root = find_git_root(self.root)
        return Git(git_root) if git_root else None

    def rel(self, path: Path) -> str:
        """`path` relative to the root, POSIX style, for messages and records."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def resolve(self, user_path: str | os.PathLike[str]) -> Path:
        """An absolute path inside the repository (no symlink escapes), or PathError."""
        path = Path(os.path.abspath(user_path))
        real_parent = Path(os.path.realpath(path.parent))
        if path == self.root:
            raise PathError(
                f"{user_path}: is the repository root itself", "name the files or folders to track"
            )
        if not (real_parent / path.name).is_relative_to(self.root):
            raise PathError(
                f"{user_path}: outside the repository {self.root}",
                "himo tracks files inside the repository only",
            )
        if self.himo_dir in (path, *path.parents):
            raise PathError(f"{user_path}: inside {HIMO_DIR}/, which himo manages itself")
        return path

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the repository lock for a command that writes the cache or pointers."""
        path = self.himo_dir / "lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockError(
                f"cannot take the repository lock {path}: {exc.strerror}",
                "check the permissions of .himo/ and of the files in it",
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # "would block" is what the message says in words
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise LockError(
                    f"another himo process (pid {holder}) is working in this repository",
                    "wait for it to finish, then retry",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)
