"""blake3 digests of files, read once.

Small files are read whole; large files are memory-mapped and hashed on every core
(blake3's own multithreading).
"""

from __future__ import annotations

import mmap
import os

from blake3 import blake3

# Below this, threads cost more than they save; above it, mmap + multithreading wins.
MMAP_THRESHOLD = 16 * 1024 * 1024


def hash_bytes(data: bytes) -> str:
    return blake3(data).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    """The blake3 hex digest of the file at `path`."""
    size = os.stat(path).st_size
    if size >= MMAP_THRESHOLD:
        hasher = blake3(max_threads=blake3.AUTO)
        hasher.update_mmap(path)
        return hasher.hexdigest()
    with open(path, "rb") as f:
        return blake3(f.read()).hexdigest()


def hash_fd(fd: int, size: int) -> str:
    """The blake3 hex digest of the `size` bytes of the open file `fd` (read from its start)."""
    if size >= MMAP_THRESHOLD:
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as view:
            hasher = blake3(max_threads=blake3.AUTO)
            hasher.update(view)
            return hasher.hexdigest()
    return blake3(os.pread(fd, size + 1, 0)).hexdigest()
