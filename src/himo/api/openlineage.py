"""OpenLineage: the store's executions exported as RunEvents, and the same events sent live.

Export (`himo meta export --format openlineage`): JSON lines, one RunEvent each, START then
COMPLETE / FAIL / ABORT per execution, oldest execution first (see himo.meta.openlineage).

Live (config `openlineage.url`): the command's Recorder tells a LiveEmitter every record it
journals; a background thread turns them into events and POSTs each to URL/api/v1/lineage, as
OpenLineage's HTTP transport does, so a stage never waits on the network. When the command
ends, queued events get a few seconds more; a failure never fails the command and is told
once (the events stay exportable from the store).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import http.client
import io
import json
import logging
import os
import queue
import sys
import threading
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from himo.api.recording import reading
from himo.errors import PathError
from himo.meta.openlineage import PAGE, SchemaOf, Step, StepFeed, end_event, events, start_event
from himo.meta.records import ArtifactRef, Record
from himo.objects.links import tmp_name
from himo.objects.odb import ObjectDB
from himo.workspace.repo import Repo

log = logging.getLogger(__name__)  # warnings for the user: see himo.api.recording

ENDPOINT = "/api/v1/lineage"  # the OpenLineage HTTP transport's default path
POST_TIMEOUT = 5.0  # seconds for one event
FLUSH_SECONDS = 5.0  # at the end of a command, for the events still queued
SAMPLE_CHARS = 65536  # of a CSV/TSV file, read to find whether line 1 names its columns
JSON_BYTES = 1 << 20  # a JSON file larger than this is not parsed for its keys


def namespace(repo: Repo) -> str:
    """Config `openlineage.namespace`; '' means each run's repository identity (its origin URL)."""
    return str(repo.config.get("openlineage.namespace") or "")


# -- export -------------------------------------------------------------------------------------


def export_openlineage(repo: Repo, output: Path | TextIO | None = None,
                       since: str | datetime | None = None, page: int = PAGE) -> int:
    """Write the RunEvents of every execution started at or after `since` as JSON lines to
    `output`: a file (replaced atomically), a text stream, or stdout. Returns the event count.

    since: a datetime (naive = UTC), ISO text (naive = local time) or an age (30m, 2h, 7d).
    page: executions read per query (memory stays flat on a store of millions).
    """
    from himo.api.history import parse_when

    start = parse_when(since, "--since")
    if output is None or not isinstance(output, Path):
        return _write_events(repo, output or sys.stdout, start, page)
    tmp = tmp_name(str(output))
    try:
        with open(tmp, "w", encoding="utf-8") as stream:
            count = _write_events(repo, stream, start, page)
        os.replace(tmp, output)
    except OSError as error:
        raise PathError(f"{output}: cannot write the export: {error.strerror or error}",
                        "check that its folder exists and is writable") from error
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return count


def _write_events(repo: Repo, stream: TextIO, since: datetime | None, page: int) -> int:
    schema_of, ns, count = schema_reader(repo.odb), namespace(repo), 0
    with reading(repo) as meta:
        for step in meta.steps(since, page):  # one read transaction: a consistent snapshot
            for event in events(step, ns, schema_of):
                stream.write(json.dumps(event, separators=(",", ":")) + "\n")
                count += 1
    return count


# -- schema facets, read cheaply from the cache ---------------------------------------------------


def schema_reader(odb: ObjectDB) -> SchemaOf:
    """The columns of a CSV/TSV file (its header, if csv.Sniffer finds one) or the keys of a JSON
    object, from the cached object; None for anything else, a directory, or an object not in this
    cache."""

    @functools.lru_cache(maxsize=512)
    def by_digest(digest: str, suffix: str, size: int) -> tuple[tuple[str, str], ...] | None:
        try:
            return _read_fields(odb.path(digest), suffix, size)
        except (OSError, ValueError, csv.Error):  # ValueError covers bad JSON and bad UTF-8
            return None

    def schema_of(ref: ArtifactRef) -> list[dict[str, str]] | None:
        suffix = PurePosixPath(ref.get("path") or "").suffix.lower()
        if ref.get("nfiles") is not None or suffix not in (".csv", ".tsv", ".json"):
            return None
        fields = by_digest(ref["digest"], suffix, ref.get("size") or 0)
        return [{"name": name, **({"type": kind} if kind else {})} for name, kind in fields or ()] or None

    return schema_of


def _read_fields(path: str, suffix: str, size: int) -> tuple[tuple[str, str], ...] | None:
    if suffix == ".json":
        if size > JSON_BYTES:
            return None
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        first = data[0] if isinstance(data, list) and data else data  # a list of records
        return tuple((str(k), _json_type(v)) for k, v in first.items()) if isinstance(first, dict) else None
    with open(path, encoding="utf-8-sig", newline="") as f:
        sample = f.read(SAMPLE_CHARS)
        if f.read(1):  # whole lines only: a cut line would look like a different row
            sample = sample[:sample.rfind("\n") + 1]
    # Line 1 may be data: Sniffer compares it with the rows below (csv.Error when it cannot tell).
    if not sample.strip() or not csv.Sniffer().has_header(sample):
        return None
    names = next(csv.reader(io.StringIO(sample), delimiter="\t" if suffix == ".tsv" else ","), [])
    return tuple((name, "") for name in names) if any(names) else None


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (dict, "object"), (list, "array")):
        if isinstance(value, kind):
            return name
    return ""  # null says nothing about the type


# -- live emission --------------------------------------------------------------------------------


def live_emitter(repo: Repo) -> LiveEmitter | None:
    """An emitter to the config's `openlineage.url`, or None when it is not set."""
    url = repo.config.get("openlineage.url")
    return LiveEmitter(str(url), namespace(repo), schema_reader(repo.odb)) if url else None


class LiveEmitter:
    """A Recorder listener that POSTs each execution's START and end events from a thread."""

    def __init__(self, url: str, namespace: str = "", schema_of: SchemaOf | None = None) -> None:
        self.endpoint = url.rstrip("/") + ENDPOINT
        self.namespace = namespace
        self.schema_of = schema_of
        self.sent = 0
        self._feed = StepFeed()
        self._queue: queue.SimpleQueue[Step | None] = queue.SimpleQueue()
        self._unsent = 0  # queued or dropped, not (yet) sent
        self._lock = threading.Lock()
        self._error: str | None = None
        # local time, to the millisecond: the hint must not reach back to the previous command
        self._since = datetime.now().isoformat(timespec="milliseconds")
        self._thread = threading.Thread(target=self._send_all, name="himo-openlineage", daemon=True)
        self._thread.start()

    def __call__(self, record: Record) -> None:
        """Called by the Recorder after each record is journaled: cheap, never raises."""
        try:
            step = self._feed.feed(record)
        except (KeyError, TypeError, ValueError):  # a record it cannot read costs its events only
            return
        if step is not None:
            with self._lock:
                self._unsent += 1
            self._queue.put(step)

    def close(self, timeout: float = FLUSH_SECONDS) -> None:
        """Wait up to `timeout` seconds for queued events; tell the user once if some were not sent."""
        self._queue.put(None)
        self._thread.join(timeout)
        with self._lock:
            unsent, error = self._unsent, self._error
        if unsent:
            reason = error or f"not sent within {timeout:g} s"
            log.warning("%d OpenLineage event(s) not sent to %s (%s); they are in the metadata store: "
                        "`himo meta export --format openlineage --since %s` writes them",
                        unsent, _redact(self.endpoint), reason, self._since)

    def _send_all(self) -> None:
        while (step := self._queue.get()) is not None:
            if self._error is None:  # after a failure, the rest would only wait on it too
                self._send(step)

    def _send(self, step: Step) -> None:
        try:
            if step.status == "running":
                event = start_event(step, self.namespace)
            else:
                event = end_event(step, self.namespace, self.schema_of)
            _post(self.endpoint, event)
        except (OSError, http.client.HTTPException, ValueError) as error:
            with self._lock:
                self._error = _why(error)
            return
        with self._lock:
            self._unsent -= 1
            self.sent += 1


def _post(endpoint: str, event: dict[str, Any]) -> None:
    import urllib.request

    request = urllib.request.Request(endpoint, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as response:
        response.read()


def _why(error: Exception) -> str:
    """Why a POST failed, in a few words: `HTTP 500 Internal Server Error`, `Connection refused`."""
    from urllib.error import HTTPError

    if isinstance(error, HTTPError):
        return f"HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", error)
    return getattr(reason, "strerror", None) or str(reason)


def _redact(url: str) -> str:
    """The URL without a password, for messages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}"
                                            + (f":{parts.port}" if parts.port else "")))
