"""Errors keep their cause: `-v` shows the library error underneath (botocore, SQLAlchemy and
psycopg, an OSError), without `-v` the error stays one line and its hint; errors carry the data
they describe (RemoteError.remote/.url, WorkspaceIOError.errno/.filename); warnings reach a
library caller through logging."""

from __future__ import annotations

import errno
import logging
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from himo.api.add import _storage_error
from himo.api.history import runs
from himo.api.transfer import push
from himo.errors import RemoteError, WorkspaceIOError, workspace_io_error
from himo.workspace.repo import Repo
from tests.api.helpers import drop_root_powers
from tests.conftest import Himo, write
from tests.remotes.helpers import S3Store

DENIED_HINT = "check the permissions of the file and of .himo/cache"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def missing_bucket_remote(repo: Path, himo: Himo, s3_server: str) -> None:
    S3Store(s3_server, "no-such-bucket").configure(himo)
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")


def test_a_failing_s3_remote_shows_the_botocore_cause_only_with_v(repo: Path, himo: Himo, s3_server: str):
    missing_bucket_remote(repo, himo, s3_server)
    quiet = himo("push", ok=False)
    message = ("Error: remote 'store' (s3://no-such-bucket/store): FileNotFoundError: "
               "The specified bucket does not exist")
    assert (quiet.returncode, quiet.stderr.splitlines()) == (1, [
        message,
        "Hint: check the URL, endpointurl and credentials, and that the server is reachable",
    ])

    verbose = himo("push", "-v", ok=False)
    assert verbose.returncode == 1
    assert "botocore.errorfactory.NoSuchBucket: An error occurred (NoSuchBucket)" in verbose.stderr
    assert "The above exception was the direct cause of the following exception" in verbose.stderr
    assert "himo.errors.RemoteError: remote 'store'" in verbose.stderr
    assert verbose.stderr.splitlines()[-2:] == quiet.stderr.splitlines()


def test_remote_error_names_its_remote_and_url(repo: Path, himo: Himo, s3_server: str):
    missing_bucket_remote(repo, himo, s3_server)
    with pytest.raises(RemoteError) as caught:
        push(Repo(repo))
    error = caught.value
    assert (error.remote, error.url) == ("store", "s3://no-such-bucket/store")
    assert isinstance(error.__cause__, FileNotFoundError)
    assert type(error.__cause__.__cause__).__module__ == "botocore.errorfactory"  # kept by s3fs
    copy = pickle.loads(pickle.dumps(error))  # as it crosses from a worker process
    assert (copy.message, copy.hint, copy.remote, copy.url) == (error.message, error.hint, "store", error.url)


def test_an_unreachable_postgresql_shows_the_sqlalchemy_cause_only_with_v(repo: Path, himo: Himo):
    url = f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{closed_port()}/test"
    himo("config", "--local", "meta.url", url)
    quiet = himo("runs", ok=False)
    lines = quiet.stderr.splitlines()
    assert quiet.returncode == 1, quiet.stderr
    assert len(lines) == 2 and "Traceback" not in quiet.stderr, quiet.stderr
    assert lines[0].startswith("Error: cannot reach the metadata store postgresql+psycopg://postgres:***@127.0.0.1:")
    assert lines[1] == "Hint: start the database server or fix meta.url; records wait in .himo/journal/"

    verbose = himo("-v", "runs", ok=False)
    assert "sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection failed" in verbose.stderr
    assert "psycopg.OperationalError: connection failed" in verbose.stderr
    assert "himo.errors.MetaUnreachableError: cannot reach the metadata store" in verbose.stderr
    assert verbose.stderr.splitlines()[-2:] == lines
    assert "hunter2" not in verbose.stderr


def test_a_bad_database_url_keeps_the_sqlalchemy_cause(repo: Path, himo: Himo):
    quiet = himo("config", "meta.url", "postgres-ish://", ok=False)
    assert quiet.stderr.splitlines()[0] == "Error: meta.url 'postgres-ish://' is not a database URL"
    assert "Traceback" not in quiet.stderr
    verbose = himo("config", "-v", "meta.url", "postgres-ish://", ok=False)
    assert "sqlalchemy.exc.ArgumentError: Could not parse SQLAlchemy URL" in verbose.stderr
    assert "himo.errors.MetaError" in verbose.stderr and "himo.errors.ConfigError" in verbose.stderr


@pytest.mark.parametrize(("code", "hint"), [
    (errno.ENOSPC, "free space in the cache's filesystem, then run the command again"),
    (errno.EDQUOT, "free space in the cache's filesystem, then run the command again"),
    (errno.EACCES, DENIED_HINT),
    (errno.EROFS, DENIED_HINT),
    (errno.EIO, "nothing was recorded; fix the cause and run the command again"),
])
def test_workspace_os_errors_become_workspace_io_errors(repo: Path, code: int, hint: str):
    """The translation `himo add` uses, fed the OSError a full disk or a denied write raises (a
    full filesystem needs a mount, which a test must not make: the real EACCES is below)."""
    cause = OSError(code, f"strerror {code}", str(repo / ".himo" / "cache" / "tmp" / "x"))
    error = _storage_error(Repo(repo), repo / "data.csv", cause)
    assert isinstance(error, WorkspaceIOError)
    where = f" ({repo / '.himo' / 'cache' / 'tmp' / 'x'})"
    assert (error.message, error.hint) == (f"cannot store data.csv: strerror {code}{where}", hint)
    assert (error.errno, error.filename) == (code, cause.filename)


def test_workspace_io_error_without_a_file_name() -> None:
    error = workspace_io_error("cannot write x", OSError(errno.ENOSPC, "No space left on device"),
                               full="free space", denied="permissions", other="other")
    assert (error.hint, error.errno, error.filename) == ("free space", errno.ENOSPC, None)


def test_a_read_only_cache_raises_workspace_io_error_with_its_cause(repo: Path, himo: Himo):
    """A real EACCES: the cache's folders read-only, himo run without root's override."""
    write(repo / "data.csv", "rows\n")
    cache = repo / ".himo" / "cache"
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from himo.api.add import add\n"
        "from himo.errors import WorkspaceIOError\n"
        "from himo.workspace.repo import Repo\n"
        "try:\n"
        "    add(Repo(Path(sys.argv[1])), [sys.argv[1] + '/data.csv'])\n"
        "except WorkspaceIOError as error:\n"
        "    print(error.errno, type(error.__cause__).__name__, error.hint, sep='|')\n"
    )
    for folder in (cache, cache / "tmp"):
        folder.chmod(0o555)
    try:
        library = subprocess.run([sys.executable, "-c", code, str(repo)], capture_output=True, text=True,
                                 preexec_fn=drop_root_powers)
        cli = himo("add", "-v", "data.csv", ok=False, preexec_fn=drop_root_powers)
    finally:
        for folder in (cache, cache / "tmp"):
            folder.chmod(0o755)
    assert library.stdout == f"{errno.EACCES}|PermissionError|{DENIED_HINT}\n", library.stderr
    assert "PermissionError: [Errno 13] Permission denied" in cli.stderr
    assert "himo.errors.WorkspaceIOError: cannot store data.csv: Permission denied" in cli.stderr
    assert cli.stderr.splitlines()[-1] == f"Hint: {DENIED_HINT}"


def test_a_library_caller_gets_warnings_through_logging(repo: Path, himo: Himo,
                                                        caplog: pytest.LogCaptureFixture):
    journal = repo / ".himo" / "journal" / "20261203T090000000000-1-abcdef01.jsonl"
    write(journal, "garbage\n")
    with caplog.at_level(logging.WARNING, logger="himo"):
        runs(Repo(repo))  # a query delivers pending journals first, quarantining this one
    where = ".himo/journal/quarantine/20261203T090000000000-1-abcdef01.jsonl"
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [(
        "himo.api.recording", logging.WARNING,
        f"1 journal line(s) could not be delivered (line 1: not JSON (JSONDecodeError)); the journal "
        f"is kept in {where}, every reason in {where}.errors",
    )]
    # Nothing is kept in the process for later: the CLI tells what it hears, as before.
    import himo.api.recording as recording

    assert not hasattr(recording, "NOTICES")
