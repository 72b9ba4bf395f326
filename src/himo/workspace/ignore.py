"""`.himoignore`: files inside tracked directories that himo leaves alone (gitignore syntax)."""

from __future__ import annotations

from pathlib import Path

from himo.objects.walk import IgnoreFn

FILE = ".himoignore"
TEMPLATE = """# Files inside tracked directories that himo should not track (gitignore syntax).
# Paths are relative to the repository root. Examples:
# *.tmp
# .DS_Store
"""


def load_ignore(root: Path, base: Path) -> IgnoreFn | None:
    """A matcher for paths relative to `base` (a tracked directory), or None if nothing is ignored."""
    try:
        lines = (root / FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    patterns = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not patterns:
        return None
    import pathspec  # imported only when there is something to match: start-up time matters

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    prefix = base.relative_to(root).as_posix()
    prefix = "" if prefix == "." else prefix + "/"

    def ignored(rel: str, isdir: bool) -> bool:
        return spec.match_file(prefix + rel + ("/" if isdir else ""))

    return ignored
