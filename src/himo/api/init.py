"""`himo init`: make a folder (normally a git repository's root) a himo repository."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from himo.errors import AlreadyInitError, ScmError
from himo.objects.files import temp_name
from himo.workspace.atomic import write_text_atomic
from himo.workspace.git import find_git_root
from himo.workspace.ignore import FILE as IGNORE_FILE
from himo.workspace.ignore import TEMPLATE as IGNORE_TEMPLATE
from himo.workspace.repo import HIMO_DIR, Repo

# Inside .himo/: what stays out of git (machine-local or derived).
INNER_GITIGNORE = "/cache\n/tmp\n/state.db*\n/meta.db*\n/journal\n/config.local\n/lock\n/logs\n/runs\n"


def init(path: str | os.PathLike[str] = ".", no_scm: bool = False, force: bool = False) -> Repo:
    root = Path(os.path.abspath(path))
    himo_dir = root / HIMO_DIR
    if himo_dir.exists() and not force:
        raise AlreadyInitError(
            f"{root} is already a himo repository", "use `himo init -f` to re-initialise it"
        )
    if not no_scm and find_git_root(root) is None:
        raise ScmError(
            f"{root} is not inside a git repository",
            "run `git init` first, or `himo init --no-scm` to use himo without git",
        )
    if not (root / IGNORE_FILE).exists():
        write_text_atomic(root / IGNORE_FILE, IGNORE_TEMPLATE)
    if force and himo_dir.exists():
        _reset(himo_dir)
        _fill(himo_dir)
    else:
        _made_whole(himo_dir)
    return Repo(root)


def _fill(himo_dir: Path) -> None:
    write_text_atomic(himo_dir / ".gitignore", INNER_GITIGNORE)
    if not (himo_dir / "config").exists():
        write_text_atomic(himo_dir / "config", "")


def _made_whole(himo_dir: Path) -> None:
    """.himo/ built under a temp name and renamed: a kill -9 never leaves a .himo/ without its
    .gitignore (git would then see the cache) that a command run again takes as initialised."""
    staging = himo_dir.parent / temp_name(himo_dir.name)
    try:
        staging.mkdir()
        _fill(staging)
        os.rename(staging, himo_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _reset(himo_dir: Path) -> None:
    """Re-init keeps the cache (data is precious) and config; it drops derived state."""
    for name in ("state.db", "state.db-wal", "state.db-shm", "tmp"):
        path = himo_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
