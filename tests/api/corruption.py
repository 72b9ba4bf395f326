"""Ways a cache object goes bad, done to a real repository's cache from outside himo."""

from __future__ import annotations

import os
from pathlib import Path

from tests.api.helpers import object_path

HOSTILE = b"bytes of another file, reached through a link\n"
CORRUPTIONS = ("truncated", "bitflip", "symlink")


def corrupt(repo: Path, digest: str, how: str, target: Path) -> None:
    """Damage object `digest`: cut its last byte, flip one bit, or replace it by a symlink to
    `target` (a file outside the repository, standing in for /etc/hostname)."""
    path = object_path(repo, digest)
    data = path.read_bytes()
    os.chmod(path, 0o644)  # objects are read-only; the damage comes from outside himo
    if how == "truncated":
        os.truncate(path, len(data) - 1)
    elif how == "bitflip":
        with open(path, "r+b") as f:
            f.seek(len(data) // 2)
            f.write(bytes([data[len(data) // 2] ^ 0x01]))
    else:
        target.write_bytes(HOSTILE)
        path.unlink()
        os.symlink(target, path)


def moved_aside(repo: Path, digest: str) -> Path:
    return repo / ".himo" / "cache" / "corrupt" / digest


def reason(how: str, size: int) -> str:
    """The reason himo gives for an object damaged `how` (its recorded size `size`)."""
    return {
        "truncated": f"it holds {size - 1} bytes where {size} are recorded",
        "bitflip": "its bytes do not match its digest",
        "symlink": "it is a symbolic link (not followed: a cache object must be a file)",
    }[how]
