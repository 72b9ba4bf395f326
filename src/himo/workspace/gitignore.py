"""Keeping tracked data out of git: one `/name` line per target in the `.gitignore` beside it."""

from __future__ import annotations

from pathlib import Path

from himo.errors import WorkspaceIOError, workspace_io_error
from himo.workspace.atomic import write_text_atomic

SPECIAL = set("\\ #!*?[")  # characters gitignore would read as syntax, not as part of the name


def _entry(target: Path) -> str:
    """`/name`, escaped so that git matches exactly this name, beside the .gitignore."""
    return "/" + "".join("\\" + c if c in SPECIAL else c for c in target.name)


def _lines(file: Path) -> list[str]:
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _error(file, exc) from exc


def _write(file: Path, lines: list[str]) -> None:
    try:
        if lines:
            write_text_atomic(file, "\n".join(lines) + "\n")
        else:
            file.unlink()
    except OSError as exc:
        raise _error(file, exc) from exc


def _error(file: Path, exc: OSError) -> WorkspaceIOError:
    hint = "check the permissions of that file and its folder, then run the command again"
    return workspace_io_error(f"cannot update {file}: {exc.strerror}", exc,
                              full="free space in its filesystem, then run the command again",
                              denied=hint, other=hint)


def ignore_target(target: Path) -> Path | None:
    """Add `target` to its folder's .gitignore; return that file if it changed."""
    file = target.parent / ".gitignore"
    lines = _lines(file)
    entry = _entry(target)
    if entry in lines:
        return None
    file.parent.mkdir(parents=True, exist_ok=True)  # a stage output's folder may not exist yet
    _write(file, [*lines, entry])
    return file


def unignore_target(target: Path) -> Path | None:
    file = target.parent / ".gitignore"
    lines = _lines(file)
    entry = _entry(target)
    if entry not in lines:
        return None
    _write(file, [line for line in lines if line != entry])
    return file
