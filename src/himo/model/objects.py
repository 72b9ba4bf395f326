"""Content identities: what a digest names, and what a directory is made of."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

HASH_ALGORITHM = "blake3"
DIGEST_RE = re.compile(r"[0-9a-f]{64}")  # use fullmatch: `$` would let a trailing "\n" in


_HEX = b"0123456789abcdef"


def all_digests(texts: Sequence[str]) -> bool:
    """True if every one of `texts` (strings) is a digest, checked on them all at once (a few C
    calls, not a regex per digest: a big manifest has 20,000)."""
    if not texts:
        return True
    if set(map(len, texts)) != {64}:
        return False
    try:
        joined = "".join(texts).encode("ascii")
    except UnicodeEncodeError:
        return False
    return not joined.translate(None, _HEX)  # nothing left once the hex digits are deleted


def is_digest(text: str) -> bool:
    """True if `text` is a full blake3 digest in lower-case hex."""
    return DIGEST_RE.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class HashInfo:
    """The identity of a tracked file or directory."""

    digest: str  # blake3 hex of the file's bytes, or of the directory's manifest object
    size: int  # bytes of the file, or total bytes of every file in the directory
    nfiles: int | None = None  # number of files, for a directory; None for a file
    algorithm: str = HASH_ALGORITHM  # named in every pointer so it can change one day

    @property
    def isdir(self) -> bool:
        return self.nfiles is not None


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file inside a tracked directory, as recorded in its manifest."""

    path: str  # POSIX path relative to the tracked directory
    digest: str  # blake3 hex of the file's bytes
    size: int  # bytes
