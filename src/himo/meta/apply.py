"""Applying journal records to the store, idempotently (any record may arrive twice).

Starts insert only if absent (a late copy of a start never undoes an end); ends update.
Artifacts, paths, events, locations and transfers are inserted with ON CONFLICT DO NOTHING, so two
writers recording the same artifact at once (two clones, one PostgreSQL) both succeed.
`finish` recounts the per-day summary of executions (himo.meta.days) for each day, stage and status
the applied records changed, in the same transaction: apply_records calls it, as must any caller
that drives an Applier itself.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.meta import days
from himo.meta.records import TRANSFER_KINDS, Record, finite, parse_time
from himo.meta.schema import (
    Artifact,
    ArtifactPath,
    Event,
    Execution,
    Experiment,
    Location,
    Run,
    Transfer,
    dialect_insert,
)
from himo.model.urls import mask_url

# Columns of JSON: a NaN or infinity in them is stored as its text (records.finite), since
# PostgreSQL's JSON refuses the numbers; journals hold text already, Python callers may not.
JSON_FIELDS = ("args", "params", "reasons", "code_digests", "metrics", "overrides", "targets", "outputs",
               "files")
EXPERIMENT_FIELDS = ("base_commit", "status", "overrides", "targets", "params", "metrics", "outputs", "files")
RUN_FIELDS = ("command", "args", "trigger", "user", "host", "repo", "git_commit", "branch", "dirty",
              "himo_version", "schedule", "attempt")
EXEC_FIELDS = ("stage", "cmd", "params", "reasons", "git_commit", "branch", "dirty", "code_digests",
               "host", "user", "himo_version", "log")


class Applier:
    def __init__(self, session: Session, changes: days.Changes | None = None) -> None:
        """changes: the executions this transaction moved so far, for the per-day summary (a new
        Applier after a savepoint rolled back gets them, undone: see deliver._apply_each)."""
        self.session = session
        self.changes = days.Changes() if changes is None else changes
        self.artifact_ids: dict[str, int] = {}
        self.repos: dict[str, tuple[str, str]] = {}  # run id -> (repo, commit), for Path rows
        self.commands: dict[str, str] = {}  # run id -> command, for Transfer rows

    def apply(self, record: Record) -> None:
        handler = getattr(self, "_" + str(record.get("type")), None)
        if handler is not None:  # an unknown type comes from a newer himo: keep what we understand
            handler(record)

    def finish(self) -> None:
        """Recount the per-day summary where the applied records changed it (before the commit)."""
        days.refresh(self.session, self.changes.keys())
        self.changes = days.Changes()

    def _run_start(self, r: Record) -> None:
        values = {k: r[k] for k in RUN_FIELDS if k in r}
        # Journals of a himo that did not mask URL passwords yet: none reaches the store.
        if "repo" in values:
            values["repo"] = mask_url(values["repo"])
        if isinstance(values.get("args"), list):
            values["args"] = [mask_url(a) if isinstance(a, str) else a for a in values["args"]]
        self.repos[r["run_id"]] = (values.get("repo", ""), r.get("git_commit", ""))
        self.commands[r["run_id"]] = r.get("command", "")
        self._insert_ignore(Run, ["id"], id=r["run_id"], status="running",
                            started_at=parse_time(r.get("started_at") or r["at"]),
                            queued_at=parse_time(r.get("queued_at")),
                            logical_date=parse_time(r.get("logical_date")), **_finite_json(values))

    def _run_end(self, r: Record) -> None:
        update = sa.update(Run).where(Run.id == r["run_id"])
        if r["status"] == "aborted":  # a killed run's closing never undoes an end said by someone
            update = update.where(Run.status == "running")  # alive (a scheduler's timeout: failed)
        values = {"status": r["status"], "ended_at": parse_time(r.get("ended_at") or r["at"])}
        if r.get("reason"):
            values["reason"] = r["reason"]
        self.session.execute(update.values(**values))

    def _exec_start(self, r: Record) -> None:
        values = {k: r[k] for k in EXEC_FIELDS if k in r}
        values["cmd"] = _cmd_text(values.get("cmd", ""))
        started = parse_time(r.get("started_at") or r["at"])
        if self._insert_ignore(Execution, ["id"], id=r["exec_id"], run_id=r["run_id"], status="running",
                               started_at=started, **_finite_json(values)):
            self.changes.moved(r["exec_id"], None, days.key_of(started, values.get("stage", ""), "running"))

    def _exec_end(self, r: Record) -> None:
        ended = parse_time(r.get("ended_at") or r["at"])
        values: dict[str, Any] = {"status": r["status"], "ended_at": ended}
        for key in ("exit_code", "log", "reasons", "params", "code_digests", "log_tail"):
            if key in r:
                values[key] = r[key]
        if isinstance(r.get("metrics"), dict):  # the column is NOT NULL
            values["metrics"] = r["metrics"]
        before = self.session.execute(sa.select(Execution.run_id, Execution.stage, Execution.started_at,
                                                Execution.status).where(Execution.id == r["exec_id"])).first()
        self.session.execute(sa.update(Execution).where(Execution.id == r["exec_id"]).values(
            **_finite_json(values)))
        run_id = before.run_id if before else None
        if before is not None:  # the day's count leaves its old status for the new one
            self.changes.moved(r["exec_id"], days.key_of(before.started_at, before.stage, before.status),
                               days.key_of(before.started_at, before.stage, r["status"]))
        repo, commit = self._repo_of(run_id)
        for direction, refs in (("INPUT", r.get("inputs", [])), ("OUTPUT", r.get("outputs", []))):
            for ref in refs:
                if not ref.get("digest"):
                    continue
                artifact = self.artifact(ref, ended)
                self._insert_ignore(Event, ["execution_id", "artifact_id", "direction", "path"],
                                    execution_id=r["exec_id"], artifact_id=artifact, direction=direction,
                                    path=ref.get("path", ""))
                if ref.get("path"):
                    self._insert_ignore(ArtifactPath, ["artifact_id", "repo", "path", "commit"],
                                        artifact_id=artifact, repo=repo, path=ref["path"],
                                        commit=commit, first_seen=ended)

    def _experiment(self, r: Record) -> None:
        values = {k: r[k] for k in EXPERIMENT_FIELDS if k in r}
        if not isinstance(values.get("outputs", {}), dict):
            values.pop("outputs")
        repo, _commit = self._repo_of(r["run_id"])
        self._insert_ignore(Experiment, ["id"], id=r["run_id"], name=r["name"], repo=repo,
                            created_at=parse_time(r["at"]), **_finite_json(values))

    def _location(self, r: Record) -> None:
        r = r | {"url": mask_url(r["url"])}  # a journal of a himo that did not mask passwords yet
        at = parse_time(r["at"])
        artifact = self.artifact(r, at)
        self._insert_ignore(Location, ["artifact_id", "kind", "url"], artifact_id=artifact,
                            kind=r["location"], url=r["url"], first_at=at, last_at=at,
                            who=r.get("who", ""), run_id=r.get("run_id"))
        self.session.execute(sa.update(Location).where(
            Location.artifact_id == artifact, Location.kind == r["location"], Location.url == r["url"],
            Location.last_at < at).values(last_at=at, who=r.get("who", ""), run_id=r.get("run_id")))
        if r.get("run_id") and r.get("moved", True):  # a push also confirms bytes it did not send
            self._transfer(r, artifact, at)

    def _transfer(self, r: Record, artifact: int, at: Any) -> None:
        """What the run moved (a Location keeps only where bytes are): one row per run, artifact,
        URL and kind (uq_transfer_run), however often the record is applied. Kind: the run's
        command (push, fetch, pull, export), else the location's kind."""
        command = self._command_of(r["run_id"])
        kind = command if command in TRANSFER_KINDS else r["location"]
        self._insert_ignore(Transfer, ["run_id", "artifact_id", "url", "kind"], run_id=r["run_id"],
                            artifact_id=artifact, kind=kind, url=r["url"], path=r.get("path", ""), at=at)

    def artifact(self, ref: Record, seen: Any) -> int:
        """The id of the artifact with this digest, created on first sight; a vague kind is refined."""
        digest, kind = ref["digest"], ref.get("kind") or "other"
        if digest not in self.artifact_ids:
            self._insert_ignore(Artifact, ["digest"], digest=digest, kind=kind, size=ref.get("size") or 0,
                                nfiles=ref.get("nfiles"), first_seen=seen)
            self.artifact_ids[digest] = self.session.scalar(
                sa.select(Artifact.id).where(Artifact.digest == digest))
        if kind != "other":
            self.session.execute(sa.update(Artifact).where(
                Artifact.id == self.artifact_ids[digest], Artifact.kind == "other").values(kind=kind))
        return self.artifact_ids[digest]

    def _command_of(self, run_id: str) -> str:
        if run_id not in self.commands:
            self.commands[run_id] = self.session.scalar(sa.select(Run.command).where(Run.id == run_id)) or ""
        return self.commands[run_id]

    def _repo_of(self, run_id: str | None) -> tuple[str, str]:
        if run_id and run_id not in self.repos:
            row = self.session.execute(sa.select(Run.repo, Run.git_commit).where(Run.id == run_id)).first()
            self.repos[run_id] = (row[0], row[1]) if row else ("", "")
        return self.repos.get(run_id or "", ("", ""))

    def _insert_ignore(self, model: type, keys: list[str], **values: Any) -> bool:
        """Insert the row unless one with the same `keys` exists; whether it was inserted."""
        insert = dialect_insert(self.session)
        statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
        return bool(self.session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _finite_json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: finite(v) if k in JSON_FIELDS else v for k, v in values.items()}


def _cmd_text(cmd: Any) -> str:
    return "\n".join(cmd) if isinstance(cmd, list | tuple) else str(cmd or "")


def apply_records(session: Session, records: list[Record]) -> None:
    applier = Applier(session)
    for record in records:
        applier.apply(record)
    applier.finish()
