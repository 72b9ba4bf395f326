"""Where `himo export` writes: a folder on this machine, or any fsspec URL (S3, GCS, SSH ...).

Unlike a remote, a destination holds files under their own names, not objects by digest.
Each file is written whole or not at all (a temporary name, then a rename; object stores
publish an object only once its upload completed).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from himo.objects.files import TMP_MARK
from himo.remotes.fsspec_remote import ATOMIC_PUT
from himo.remotes.local import copy_into_place
from himo.remotes.registry import _filesystem, local_path, scheme_of


class Destination:
    """A folder to copy files into: `put(local file, relative name)`."""

    def __init__(self, url: str, root: str, fs: Any = None) -> None:
        self.url = url.rstrip("/") or url  # as the user gave it, for records and messages
        self.root = root.rstrip("/") or root  # the folder (local) or the filesystem path (fsspec)
        self.fs = fs  # None: a local folder

    def url_of(self, rel: str) -> str:
        """The URL a file `rel` is written at (for a local folder: its absolute path)."""
        base = self.root if self.fs is None else self.url
        return f"{base}/{rel}" if rel else base

    def put(self, local: str, rel: str) -> None:
        if self.fs is None:
            copy_into_place(local, os.path.join(self.root, rel))
            return
        dest = f"{self.root}/{rel}"
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        if ATOMIC_PUT.intersection(protocols):
            self.fs.put_file(local, dest)
            return
        self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{dest}{TMP_MARK}{uuid.uuid4().hex[:12]}"
        self.fs.put_file(local, tmp)
        self.fs.mv(tmp, dest)


def open_destination(url: str, options: dict[str, Any], base: str) -> Destination:
    """The destination `url`; `options` are a remote's connection settings (endpointurl,
    credentials ...); a relative folder is relative to `base`."""
    if scheme_of(url) in ("", "file"):
        return Destination(url, local_path(url, base))
    fs, root = _filesystem("export", scheme_of(url), url, options)
    return Destination(url, root, fs)
