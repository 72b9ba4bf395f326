"""`.himoignore`: files inside tracked directories that himo leaves alone (gitignore syntax)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from himo.objects.walk import IgnoreFn

FILE = ".himoignore"
TEMPLATE = """# Files inside tracked directories that himo should not track (gitignore syntax).
# Paths are relative to the repository root. Examples:
# *.tmp
# .DS_Store
"""


def ignored_in(root: Path, path: Path) -> IgnoreFn | None:
    """`load_ignore` for `path` if it is a folder (a file holds nothing to ignore): what every
    hashing of a folder uses (add, status, stage deps and outputs), so they agree, as DVC applies
    .dvcignore everywhere."""
    return load_ignore(root, path) if path.is_dir() else None


def load_ignore(root: Path, base: Path) -> IgnoreFn | None:
    """A matcher for paths relative to `base` (a tracked directory), or None if nothing is ignored."""
    try:
        lines = (root / FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    return ignore_matcher(lines, root, base)


def ignore_matcher(lines: list[str], root: Path, base: Path) -> IgnoreFn | None:
    """A matcher of gitignore `lines` (relative to `root`) for paths relative to `base`; None
    if they ignore nothing."""
    patterns = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not patterns:
        return None
    spec = _compiled(tuple(patterns))
    prefix = base.relative_to(root).as_posix()
    prefix = "" if prefix == "." else prefix + "/"

    def ignored(rel: str, isdir: bool) -> bool:
        return spec.match_file(prefix + rel + ("/" if isdir else ""))

    return ignored


@functools.lru_cache(maxsize=8)
def _compiled(patterns: tuple[str, ...]) -> Any:
    """The patterns compiled once per command, not once per folder hashed."""
    import pathspec  # imported only when there is something to match: start-up time matters

    return pathspec.GitIgnoreSpec.from_lines(patterns)
