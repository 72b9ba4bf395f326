"""blake3 digests of files, read once.

Small files are read whole; large files are memory-mapped and hashed on every core
(blake3's own multithreading). `copy_hashing` hashes while it copies, so adding a file in
copy mode reads it exactly once.
"""

from __future__ import annotations

import os

from blake3 import blake3

# Below this, threads cost more than they save; above it, mmap + multithreading wins.
MMAP_THRESHOLD = 16 * 1024 * 1024
CHUNK = 8 * 1024 * 1024


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


def copy_hashing(src: str | os.PathLike[str], dst_fd: int) -> str:
    """Copy `src` into the open file `dst_fd`, returning the digest of what was copied."""
    hasher = blake3(max_threads=blake3.AUTO)
    with open(src, "rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
            write_all(dst_fd, chunk)
    return hasher.hexdigest()


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
