"""Small-file reads and atomic creation of content-addressed files, in few system calls.

Adding, pushing or pulling 20,000 small files is bound by the kernel's work per file; these
helpers keep it to open + read + close for a read, and open + write + link + close for a new
file (no temp name, no rename), measured 1.2-1.5x faster than temp file + rename on ext4.
"""

from __future__ import annotations

import errno
import functools
import os
import stat

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
TMP_MARK = ".himo-tmp-"  # temp files and folders of half-done writes carry this in their name


def temp_name(name: str) -> str:
    """The hidden name a workspace entry `name` is written under before it is renamed into place:
    `.NAME.himo-tmp-<pid>-<12 hex>`. The pid tells cleaning (objects.leftovers) whether the
    command writing it still runs."""
    return f".{name}{TMP_MARK}{os.getpid()}-{os.urandom(6).hex()}"

_anonymous_files = hasattr(os, "O_TMPFILE")  # Linux; turned off where the filesystem refuses


def read_small(path: str, limit: int, follow: bool = True) -> bytes | None:
    """The whole content of the file at `path`, or None if it holds `limit` bytes or more.

    `follow=False`: a symbolic link at `path` is refused (OSError ELOOP), never read through.
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        size = os.fstat(fd).st_size
        if size >= limit:
            return None
        return read_fd(fd, size)
    finally:
        os.close(fd)


def read_fd(fd: int, size: int) -> bytes:
    """Everything from `fd`'s position to the end of the file, expected to be `size` bytes."""
    chunks = []
    while True:
        # Asking one byte more than the size: a shorter read is the end of the file.
        chunk = os.read(fd, max(size, 0) + 1)
        chunks.append(chunk)
        if len(chunk) <= size or not chunk:
            break
        size = 1 << 20  # the file grew while being read: read on to its end
    return b"".join(chunks)


def write_new(dest: str, data: bytes, mode: int = READ_ONLY) -> None:
    """Create `dest` holding `data`, atomically: readers never see part of it.

    For content-addressed names only: if `dest` already exists it is kept (same name, same
    bytes). The parent folder must exist.
    """
    if _anonymous_files and _link_anonymous(dest, data, mode):
        return
    if os.path.exists(dest):
        return
    head, tail = os.path.split(dest)
    tmp = os.path.join(head, f"{TMP_MARK}{tail[:8]}{os.urandom(6).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        unlink_quietly(tmp)
        raise


def _link_anonymous(dest: str, data: bytes, mode: int) -> bool:
    """Write `data` to a nameless file (O_TMPFILE) and link it in at `dest`; False where the
    filesystem or the missing /proc does not allow it."""
    global _anonymous_files
    try:
        fd = os.open(os.path.dirname(dest) or ".", os.O_TMPFILE | os.O_WRONLY, mode)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            raise
        _anonymous_files = False
        return False
    try:
        write_all(fd, data)
        # linkat(AT_SYMLINK_FOLLOW) of the /proc link is the unprivileged way to name the file.
        os.link(f"self/fd/{fd}", dest, src_dir_fd=_proc_fd())
    except FileExistsError:
        pass  # same name, same bytes
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.EXDEV, errno.EPERM, errno.EACCES):
            raise
        _anonymous_files = False
        return False
    finally:
        os.close(fd)
    return True


@functools.cache
def _proc_fd() -> int:
    return os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
