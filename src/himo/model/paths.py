"""The one rule for a path read from a file himo did not write itself (pointer, manifest, lock).

A safe path is relative, POSIX, normalised and stays below the folder it is relative to:

- not empty, not absolute (`/x`), no empty part (`a//b`, `a/`), no `.` or `..` part;
- no NUL, CR or LF (a name with a line break cannot be written back into a pointer or .gitignore);
- no `.git` part (in any letter case): writing there would hand git's configuration, and with it
  code execution, to whoever wrote the file.

Checked once, where the file is parsed (see docs/formats.md, "Paths from files").
"""

from __future__ import annotations

import re

# One part: anything but '/', NUL, CR, LF; not '.', '..' or '.git' (any case). A regex, because
# a manifest of 20,000 entries is checked on every `himo status`.
_PART = r"(?!(?:\.\.?|\.[gG][iI][tT])(?:/|$))[^/\x00\r\n]+"
_SAFE = re.compile(rf"{_PART}(?:/{_PART})*")
_FORBIDDEN_CHARS = {"\x00": "NUL", "\r": "a carriage return", "\n": "a line break"}


def is_safe_path(path: str) -> bool:
    """True if `path` follows the rule above (the fast check; `path_problem` says why not)."""
    return _SAFE.fullmatch(path) is not None


ABSOLUTE = "is absolute"
GOES_UP = "goes up with '..'"


def path_problem(path: str) -> str | None:
    """Why `path` breaks the rule above, in a few words; None if it follows it."""
    if _SAFE.fullmatch(path) is not None:
        return None
    if not path:
        return "is empty"
    if path.startswith("/"):
        return ABSOLUTE
    for char, name in _FORBIDDEN_CHARS.items():
        if char in path:
            return f"contains {name}"
    parts = path.split("/")
    if ".." in parts:
        return GOES_UP
    if path == ".":
        return "is '.', the folder itself"
    if "" in parts or "." in parts:
        return "is not normalised (an empty or '.' part)"
    return "is inside '.git', which belongs to git"


def name_problem(name: str) -> str | None:
    """Why a file name cannot be tracked (a CR or LF breaks pointers and .gitignore lines)."""
    for char, what in _FORBIDDEN_CHARS.items():
        if char in name:
            return f"contains {what}"
    return None
