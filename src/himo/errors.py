"""One exception tree for everything himo reports to a user.

    HimoError                   message + hint; exit code 1 (user error)
    ├── NotARepoError           no .himo/ above the current directory
    ├── AlreadyInitError        `himo init` where .himo/ exists
    ├── ScmError                git missing, not a git repository, git failed
    ├── PointerError            a PATH.himo file that cannot be used (YAML, field, digest, escape)
    ├── ManifestError           a directory manifest object that is no valid tree (JSON, entry, path)
    ├── PathError               a user-given path that is missing, outside the repo, or not tracked
    ├── ConfigError             .himo/config{,.local}: bad TOML, unknown key, bad value
    ├── RemoteError             remote not configured, unreachable, permission denied
    │   │                         (.remote: its name, .url: its URL with the password masked)
    │   └── CorruptObjectError  bytes whose digest is not their name (remote or cache)
    │       └── CorruptCacheObjectError  one cache object found bad as it left the cache
    ├── WorkspaceIOError        the workspace or cache cannot be written or read: disk full,
    │                             permission denied (.errno, .filename of the OSError)
    ├── MissingObjectError      an object needed for checkout is in no cache or remote
    ├── LocalChangesError       checkout would overwrite changes that are not in the cache
    ├── LockError               another himo process holds the repository lock
    ├── PipelineError           himo.yaml / himo.lock / params: bad stage, cycle, missing dep
    │   └── StageFailedError    a stage's command exited non-zero (or was interrupted)
    ├── ExecutorError           `repro --executor dask`: scheduler unreachable, a worker cannot
    │                             reach the remote or the commit, a stage lost too often
    ├── MetaError               the metadata store: corrupt, newer than this himo, bad query
    │   └── MetaUnreachableError  the store's server cannot be reached (records wait in the journal)
    └── UsageError              a bad combination of arguments (exit code 2)

Every error carries a one-line `message` (what is wrong, naming the file or field) and a `hint`
(how to fix it). The CLI prints `Error: message` and the hint; it never shows a traceback
unless `-v` is given. Errors from dependencies (OSError, yaml, fsspec, botocore) are translated
at the layer that calls them, never allowed to leak to the CLI as themselves, and keep them as
their cause (`raise ... from exc`): `-v` shows the whole chain.
"""

from __future__ import annotations

import errno as _errno
from typing import Any

DISK_FULL = frozenset({_errno.ENOSPC, _errno.EFBIG, _errno.EDQUOT})
DENIED = frozenset({_errno.EACCES, _errno.EPERM, _errno.EROFS})


class HimoError(Exception):
    """Base of every error himo reports to a user."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the hint and a subclass's fields (RemoteError.url ...) when the error crosses
        # from a worker process (objects.parallel): the state is set after __init__.
        return type(self), (self.message, self.hint), self.__dict__


class NotARepoError(HimoError):
    pass


class AlreadyInitError(HimoError):
    pass


class ScmError(HimoError):
    pass


class PointerError(HimoError):
    pass


class ManifestError(HimoError):
    pass


class PathError(HimoError):
    pass


class ConfigError(HimoError):
    pass


class RemoteError(HimoError):
    """A remote failed. `remote` is its name and `url` its URL, already masked by the raiser
    (himo.model.urls.mask_url: this module imports nothing of himo), so both are safe to print."""

    def __init__(self, message: str, hint: str = "", *, remote: str | None = None,
                 url: str | None = None) -> None:
        super().__init__(message, hint)
        self.remote = remote
        self.url = url


class CorruptObjectError(RemoteError):
    pass


class CorruptCacheObjectError(CorruptObjectError):
    """A cache object that is not the bytes its name promises (found while reading it out).

    `oid` and `reason` let a caller that knows which tracked path needs the object say so.
    """

    def __init__(self, oid: str, reason: str, message: str = "", hint: str = "",
                 moved: bool = False) -> None:
        super().__init__(
            message or f"cache object {oid[:12]} is corrupted: {reason}",
            hint or "restore it with `himo fetch` (or `himo pull`) from a remote that has it,"
            " or `himo add` the file again if the workspace copy is right",
        )
        self.oid = oid
        self.reason = reason
        self.moved = moved  # whether the object was moved aside (out of the cache)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return type(self), (self.oid, self.reason, self.message, self.hint, self.moved)


class MissingObjectError(HimoError):
    pass


class WorkspaceIOError(HimoError):
    """An OSError while himo read or wrote the workspace or its cache (not a remote's): the disk
    is full, permission is denied... `errno` and `filename` are the OSError's."""

    def __init__(self, message: str, hint: str = "", *, errno: int | None = None,
                 filename: str | None = None) -> None:
        super().__init__(message, hint)
        self.errno = errno
        self.filename = filename


def workspace_io_error(message: str, exc: OSError, *, full: str, denied: str,
                       other: str) -> WorkspaceIOError:
    """`exc` as a WorkspaceIOError: `message`, and the hint that fits its errno (a full disk or
    quota, a denied permission or read-only filesystem, anything else). Raise it `from exc`."""
    hint = full if exc.errno in DISK_FULL else denied if exc.errno in DENIED else other
    filename = exc.filename if exc.filename is None else str(exc.filename)
    return WorkspaceIOError(message, hint, errno=exc.errno, filename=filename)


class LocalChangesError(HimoError):
    pass


class LockError(HimoError):
    pass


class ExecutorError(HimoError):
    pass


class MetaError(HimoError):
    pass


class MetaUnreachableError(MetaError):
    pass


class ArtifactNotFound(MetaError):
    """No artifact in the store has the digest (prefix) asked for (the dashboard answers 404)."""

    http_status = 404


class UsageError(HimoError):
    exit_code = 2


class PipelineError(HimoError):
    pass


class StageFailedError(PipelineError):
    pass
