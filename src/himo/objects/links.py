"""How a workspace file is made from a cache object: reflink, copy, hardlink or symlink.

`cache.type` is an ordered list ("reflink,copy" by default): the first kind this filesystem
supports is used and remembered. Every placement is atomic: the new file is made under a
temporary name in the destination's folder, then renamed over the destination.

The source is a verified `objects.verify.Source`: a copy writes the bytes or copies from the
descriptor that were verified, never re-reads the object by its name; a link is made to the
object's path, which was checked (lstat) not to be a link itself.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil

from himo.objects.files import read_small, temp_name, write_all
from himo.objects.verify import Source

SMALL = 1 << 20  # cache objects below this are copied with one read and one write

LINK_TYPES = ("reflink", "copy", "hardlink", "symlink")
DEFAULT_LINK_TYPES = "reflink,copy"
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)

# Errors meaning "this filesystem cannot make this kind of link": try the next kind.
UNSUPPORTED = {errno.EXDEV, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOTTY, errno.EPERM}


def parse_link_types(value: str) -> tuple[str, ...]:
    """Validate a `cache.type` value; raise ValueError naming the bad kind."""
    kinds = tuple(part.strip() for part in value.split(",") if part.strip())
    bad = [kind for kind in kinds if kind not in LINK_TYPES]
    if bad or not kinds:
        raise ValueError(f"unknown link type {bad[0] if bad else value!r}")
    return kinds


def reflink(src: str, dst: str) -> None:
    """Copy-on-write clone of `src` at `dst` (btrfs, xfs); OSError where unsupported."""
    with open(src, "rb") as fsrc:
        reflink_fd(fsrc.fileno(), dst)


def reflink_fd(src_fd: int, dst: str) -> None:
    """Copy-on-write clone of the open file `src_fd` at `dst`; OSError where unsupported."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.ioctl(fd, FICLONE, src_fd)
    except OSError:
        os.close(fd)
        os.unlink(dst)
        raise
    os.close(fd)


def _make(kind: str, src: Source, dst: str) -> None:
    if kind == "reflink":
        if src.fd is None:
            reflink(src.path, dst)
        else:
            reflink_fd(src.fd, dst)
    elif kind == "copy":
        _copy(src, dst)
    elif kind == "hardlink":
        os.link(src.path, dst)
    else:
        os.symlink(src.path, dst)


def _copy(src: Source, dst: str) -> None:
    """Copy a cache object to a new file `dst`: small ones in one read and one write."""
    data = src.data
    if data is None and src.fd is None:
        data = read_small(src.path, SMALL, follow=False)
    if data is None:
        shutil.copyfile(src.readable_path(), dst)
        return
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        write_all(fd, data)
    except BaseException:
        os.close(fd)
        os.unlink(dst)
        raise
    os.close(fd)


def tmp_name(dst: str) -> str:
    head, tail = os.path.split(dst)
    return os.path.join(head, temp_name(tail))


class Linker:
    """Places cache objects in the workspace with the first kind of link that works."""

    def __init__(self, kinds: tuple[str, ...]) -> None:
        self.kinds = kinds
        self._working: str | None = None

    @property
    def preferred(self) -> str:
        """The kind in use: the one that worked, or the first configured."""
        return self._working or self.kinds[0]

    @property
    def links(self) -> bool:
        """Whether objects are placed as links (hardlink, symlink), whose bytes are not read."""
        return self.preferred in ("hardlink", "symlink")

    def place(self, src: str | Source, dst: str) -> str:
        """Make `dst` hold the bytes of `src`, replacing it atomically; return the kind used."""
        tmp = tmp_name(dst)
        kind = self.create(src, tmp)
        try:
            os.replace(tmp, dst)
        except BaseException:
            os.unlink(tmp)  # never leave a half-placed file in the workspace
            raise
        return kind

    def create(self, src: str | Source, dst: str) -> str:
        """Make a new file `dst` with the bytes of `src` (no temp name: for a folder that
        is itself renamed into place when complete); return the kind used."""
        if isinstance(src, str):
            src = Source("", src)
        kinds = (self._working,) if self._working else self.kinds
        for kind in kinds:
            try:
                _make(kind, src, dst)
            except OSError as exc:
                if exc.errno not in UNSUPPORTED or kind == kinds[-1]:
                    raise
                continue
            self._working = kind
            return kind
        raise AssertionError("unreachable: the last kind re-raises")

    @staticmethod
    def is_placed(kind: str, src: str, dst: str, dst_stat: os.stat_result) -> bool:
        """True if `dst` is already `src` linked by a kind that shares the object."""
        if kind == "symlink":
            return os.path.islink(dst) and os.readlink(dst) == src
        if kind == "hardlink":
            return dst_stat.st_ino == os.stat(src).st_ino
        return True
