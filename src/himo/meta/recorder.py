"""Recording one invocation: a run, its executions, locations, as journal records.

Standard library only (no SQLAlchemy import): what a command pays for being recorded is a
few appended lines. Nothing is written until the run starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from himo.meta.journal import JournalWriter
from himo.meta.records import ArtifactRef, Record, now
from himo.model.urls import mask_url


@dataclass
class Context:
    """Who and where: recorded on the run and on each of its executions."""

    repo: str  # the repository's identity: its git origin URL, else its folder
    git_commit: str = ""
    branch: str = ""
    dirty: bool = False
    user: str = ""
    host: str = ""
    himo_version: str = ""
    trigger: str = "manual"
    schedule: str | None = None  # a scheduled run: its schedule, logical date (ISO) and attempt
    logical_date: str | None = None
    attempt: int | None = None


class Recorder:
    def __init__(self, folder: Path | None, context: Context, run_id: str | None = None) -> None:
        """`folder` None: a recorder that records nothing (recording is switched off).
        `run_id`: chosen by the caller (a scheduler names the run it starts), else a new UUID."""
        self.folder = folder
        self.context = context
        self.run_id = run_id or str(uuid.uuid4())
        self._writer: JournalWriter | None = None
        self.listener: Callable[[Record], None] | None = None  # told each record once journaled
        self.did_work = False  # an execution or a location was recorded, not just the run

    @property
    def journal(self) -> Path | None:
        return self._writer.path if self._writer else None

    def start(self, command: str, args: list[str], queued_at: str | None = None) -> None:
        if self.folder is None:
            return
        self._writer = JournalWriter(self.folder)
        started = now()
        # queued_at: when the run was asked for (a schedule's slot); a command typed now starts at once.
        context = {k: v for k, v in asdict(self.context).items() if v is not None}
        context["repo"] = mask_url(self.context.repo)  # an origin URL's token
        self._write({"type": "run_start", "run_id": self.run_id, "command": command,
                     "args": [mask_url(arg) for arg in args], "started_at": started,
                     "queued_at": queued_at or started, **context})

    def start_execution(self, stage: str, cmd: list[str] | str, params: dict[str, Any] | None = None,
                        reasons: list[str] | None = None, code_digests: dict[str, str] | None = None,
                        host: str | None = None) -> str:
        """`host`: where the stage runs, when not on this machine (a Dask worker)."""
        exec_id = str(uuid.uuid4())
        ctx = self.context
        self._write({"type": "exec_start", "exec_id": exec_id, "run_id": self.run_id, "stage": stage,
                     "cmd": cmd, "params": params or {}, "reasons": reasons or [],
                     "code_digests": code_digests or {}, "started_at": now(), "git_commit": ctx.git_commit,
                     "branch": ctx.branch, "dirty": ctx.dirty, "host": host or ctx.host, "user": ctx.user,
                     "himo_version": ctx.himo_version})
        return exec_id

    def end_execution(self, exec_id: str, status: str, inputs: list[ArtifactRef] = (),  # type: ignore[assignment]
                      outputs: list[ArtifactRef] = (), exit_code: int | None = None,  # type: ignore[assignment]
                      log: str | None = None, **extra: Any) -> None:
        self._write({"type": "exec_end", "exec_id": exec_id, "status": status, "ended_at": now(),
                     "inputs": list(inputs), "outputs": list(outputs), "exit_code": exit_code, "log": log,
                     **extra})

    def location(self, ref: ArtifactRef, location: str, url: str, moved: bool = True) -> None:
        """The artifact's bytes are at `url`; `moved`: this run sent or fetched them (else it found
        them there, as a push does for what the remote already has)."""
        self._write({"type": "location", "run_id": self.run_id, "location": location, "url": mask_url(url),
                     "who": self.context.user, "moved": moved, **ref})

    def experiment(self, name: str, **fields: Any) -> None:
        """This run is the experiment `name` (fields: see records.py and schema.Experiment)."""
        self._write({"type": "experiment", "run_id": self.run_id, "name": name, **fields})

    def finish(self, status: str, reason: str | None = None) -> None:
        """End the run; `reason`: why it ended so, when the status does not say ("timeout")."""
        if self._writer is None:
            return
        self._write({"type": "run_end", "run_id": self.run_id, "status": status, "ended_at": now(),
                     **({"reason": reason} if reason else {})})
        self._writer.close()
        self._writer = None

    def _write(self, record: dict[str, Any]) -> None:
        if self._writer is not None:
            self.did_work = self.did_work or record["type"] in ("exec_start", "location")
            self._writer.write(record)
            if self.listener is not None:  # live OpenLineage emission (himo.api.openlineage)
                self.listener(record)
        elif self.folder is not None:
            raise RuntimeError("Recorder.start() first")

