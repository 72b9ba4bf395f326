"""The records a command journals: plain JSON objects, one per line.

    run_start   one invocation of himo (repro, run, add, commit, push, pull ...)
    run_end     how it ended
    exec_start  one stage (or one add/commit) began
    exec_end    ... and ended, with its inputs and outputs by digest (a stage's: also the values
                of its metrics files, `metrics`, and its log's last lines, `log_tail`)
    location    an artifact's bytes are now at a place (remote, export ...); `moved`: false when
                the run found them there without sending them (a Transfer is recorded otherwise)
    experiment  the run was an experiment (`himo exp run`): its name, base commit, overrides,
                params, metrics, outputs by digest and changed text files

Every record names its run/execution by a UUID chosen by the writer, so applying a record
twice changes nothing: journals can be delivered again after any failure.
"""

from __future__ import annotations

import math
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


NON_FINITE = ("NaN", "Infinity", "-Infinity")  # how a non-finite number is kept: as this text


def finite(value: Any) -> Any:
    """`value` with NaN and infinities as the text "NaN", "Infinity", "-Infinity" (the words JSON
    parsers print for them), anywhere inside it. Strict JSON has no such numbers and PostgreSQL's
    JSON columns refuse them, so a diverged training's `lr: .nan` or `loss: NaN` would otherwise
    make its journal undeliverable."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


# The fields a record's type needs (the applier reads them unguarded), and every known field's type.
REQUIRED = {
    "run_start": ("run_id",),
    "run_end": ("run_id", "status"),
    "exec_start": ("exec_id", "run_id"),
    "exec_end": ("exec_id", "status"),
    "location": ("location", "url", "digest"),
    "experiment": ("run_id", "name"),
}
TEXT = (str,)
NULLABLE_TEXT = (str, type(None))
INTEGER = (int, type(None))
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("run_id", "exec_id", "command", "trigger", "user", "host", "repo", "git_commit",
                     "branch", "himo_version", "stage", "status", "location", "url", "who", "digest",
                     "path", "kind", "name", "base_commit", "schedule", "reason"), TEXT),
    **dict.fromkeys(("log", "log_tail"), NULLABLE_TEXT),
    **dict.fromkeys(("exit_code", "size", "nfiles", "attempt"), INTEGER),
    **dict.fromkeys(("dirty", "moved"), (bool,)),
    **dict.fromkeys(("args", "reasons", "inputs", "overrides", "targets"), (list,)),
    **dict.fromkeys(("params", "code_digests", "metrics", "files"), (dict,)),
    "outputs": (list, dict),  # an execution's: a list of refs; an experiment's: {path: digest}
    "cmd": (str, list),
}
TIMES = ("at", "started_at", "queued_at", "ended_at", "logical_date")


def problem(record: Any) -> str | None:
    """Why a journal record cannot be applied (missing id, wrong type, bad time), or None.
    A record of a type this himo does not know passes: it comes from a newer himo and is skipped."""
    if not isinstance(record, dict):
        return "not a JSON object"
    kind = record.get("type")
    if not isinstance(kind, str) or not kind:
        return "no record type"
    if kind not in REQUIRED:
        return None
    for key in (*REQUIRED[kind], "at"):
        if record.get(key) in (None, ""):
            return f"{kind} without {key}"
    if kind in ("run_end", "exec_end") and record["status"] not in STATUSES:
        return f"{kind}: unknown status {record['status']!r}"
    refs = [r for key in ("inputs", "outputs") if isinstance(record.get(key), list) for r in record[key]]
    for item in (record, *refs):
        if not isinstance(item, dict):
            return f"{kind}: an input or output that is not an object: {item!r}"[:200]
        if found := _wrong_type(kind, item):
            return found
    return _bad_time(kind, record)


def _wrong_type(kind: str, record: dict[str, Any]) -> str | None:
    for key, value in record.items():
        types = FIELD_TYPES.get(key)
        # bool is an int to Python, never to a database column of integers
        if types and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            return f"{kind}: {key} is {type(value).__name__}, not {types[0].__name__}"
    return None


def _bad_time(kind: str, record: dict[str, Any]) -> str | None:
    for key in TIMES:
        value = record.get(key)
        try:
            if value is not None:
                parse_time(value)
        except (TypeError, ValueError):
            return f"{kind}: {key} {value!r} is not an ISO 8601 time"[:200]
    return None
