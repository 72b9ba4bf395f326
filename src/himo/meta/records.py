"""The records a command journals: plain JSON objects, one per line.

    run_start   one invocation of himo (repro, run, add, commit, push, pull ...)
    run_end     how it ended
    exec_start  one stage (or one add/commit) began
    exec_end    ... and ended, with its inputs and outputs by digest (a stage's: also the values
                of its metrics files, `metrics`, and its log's last lines, `log_tail`)
    location    an artifact's bytes are now at a place (remote, export ...); `moved`: false when
                the run found them there without sending them (a Transfer is recorded otherwise)

Every record names its run/execution by a UUID chosen by the writer, so applying a record
twice changes nothing: journals can be delivered again after any failure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict

KINDS = ("dataset", "features", "model", "metrics", "predictions", "code", "other")
STATUSES = ("running", "succeeded", "failed", "cached", "aborted")
TRIGGERS = ("manual", "schedule", "ci")
TRANSFER_KINDS = ("push", "fetch", "pull", "export")  # commands whose locations are moves of bytes
FORMAT_VERSION = 1


class ArtifactRef(TypedDict, total=False):
    path: str  # repository-relative path it was read from / written to
    digest: str
    size: int
    nfiles: int | None
    kind: str


Record = dict[str, Any]


def now() -> str:
    """The current UTC time as ISO 8601, the one time format of journals."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def parse_time(text: str | None) -> datetime | None:
    """A journal time as a naive UTC datetime (how the store keeps every time)."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
