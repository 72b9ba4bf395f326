"""Executions as OpenLineage RunEvents (https://openlineage.io/spec/2-0-2/OpenLineage.json).

One execution is one OpenLineage run: a START event when it began, then COMPLETE, FAIL or
ABORT when it ended. Its job is the stage; its parent run is the himo Run (job `himo.<command>`)
that grouped it; its datasets are the artifacts it read and wrote, named by repository path and
versioned by digest. A `Step` holds what the events need; it comes from store rows
(`steps`, for `himo meta export`) or from journal records as a Recorder writes them (`StepFeed`,
for live emission), so both paths make the same events.

Conversion only: reading cache objects (for schema facets) and sending are himo.api's business.
SQLAlchemy is imported by `steps` alone, so live emission keeps recording cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from himo import __version__
from himo.meta.records import ArtifactRef, Record, parse_time

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PRODUCER = f"https://pypi.org/project/himo/{__version__}/"
SPEC = "https://openlineage.io/spec"
RUN_EVENT_SCHEMA = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_SCHEMAS = {  # the versions openlineage-python's event model knows (checked by the tests)
    "parent": f"{SPEC}/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    "nominalTime": f"{SPEC}/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
    "processing_engine": f"{SPEC}/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
    "errorMessage": f"{SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "sourceCodeLocation": f"{SPEC}/facets/1-1-0/SourceCodeLocationJobFacet.json"
                          "#/$defs/SourceCodeLocationJobFacet",
    "jobType": f"{SPEC}/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "version": f"{SPEC}/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "schema": f"{SPEC}/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    # himo's own facets, described in docs/openlineage.md
    "himo_execution": f"{PRODUCER}#/$defs/HimoExecutionRunFacet",
    "himo_artifact": f"{PRODUCER}#/$defs/HimoArtifactDatasetFacet",
}
END_EVENT = {"succeeded": "COMPLETE", "cached": "COMPLETE", "failed": "FAIL", "aborted": "ABORT"}

Field = dict[str, str]  # a schema facet field: {"name": ..., "type": ...}
SchemaOf = Callable[[ArtifactRef], list[Field] | None]  # the columns of an artifact, when known


@dataclass
class Step:
    """One execution, as its OpenLineage events see it. Times are naive UTC."""

    exec_id: str  # the execution's UUID: the OpenLineage runId
    run_id: str  # the himo Run's UUID: the parent run
    command: str  # the himo command of the Run (repro, run, add ...): parent job himo.<command>
    stage: str  # the job name
    repo: str  # the repository's identity (origin URL or folder): the default namespace
    started_at: datetime
    status: str = "running"  # running | succeeded | failed | cached | aborted
    ended_at: datetime | None = None
    cmd: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    reasons: list[Any] = field(default_factory=list)
    code_digests: dict[str, Any] = field(default_factory=dict)
    git_commit: str = ""
    branch: str = ""
    dirty: bool = False
    himo_version: str = ""
    exit_code: int | None = None
    log: str | None = None
    inputs: list[ArtifactRef] = field(default_factory=list)
    outputs: list[ArtifactRef] = field(default_factory=list)


def events(step: Step, namespace: str = "", schema_of: SchemaOf | None = None) -> list[dict[str, Any]]:
    """START, then the end event unless the step is still running."""
    start = [start_event(step, namespace)]
    return start if step.status == "running" else [*start, end_event(step, namespace, schema_of)]


def start_event(step: Step, namespace: str = "") -> dict[str, Any]:
    """What was known when the step began: the same event, exported or sent live."""
    began = replace(step, status="running", ended_at=None, exit_code=None, log=None, inputs=[], outputs=[])
    return _event(began, "START", step.started_at, namespace or step.repo or "himo", [], [])


def end_event(step: Step, namespace: str = "", schema_of: SchemaOf | None = None) -> dict[str, Any]:
    """COMPLETE (succeeded or cached), FAIL or ABORT, with the datasets read and written."""
    namespace = namespace or step.repo or "himo"
    inputs = [_dataset(ref, namespace, schema_of) for ref in step.inputs]
    outputs = [_dataset(ref, namespace, schema_of) for ref in step.outputs]
    event = _event(step, END_EVENT.get(step.status, "OTHER"), step.ended_at or step.started_at,
                   namespace, inputs, outputs)
    if step.status == "failed":
        event["run"]["facets"]["errorMessage"] = _facet("errorMessage", message=_failure(step),
                                                        programmingLanguage="shell")
    return event


def _event(step: Step, kind: str, at: datetime, namespace: str, inputs: list[Any],
           outputs: list[Any]) -> dict[str, Any]:
    return {
        "eventType": kind,
        "eventTime": iso(at),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": {"runId": step.exec_id, "facets": _run_facets(step, namespace)},
        "job": {"namespace": namespace, "name": step.stage, "facets": _job_facets(step)},
        "inputs": inputs,
        "outputs": outputs,
    }


def _run_facets(step: Step, namespace: str) -> dict[str, Any]:
    nominal = {"nominalStartTime": iso(step.started_at)}
    if step.ended_at is not None:
        nominal["nominalEndTime"] = iso(step.ended_at)
    execution: dict[str, Any] = {"status": step.status, "cmd": step.cmd, "params": step.params,
                                 "reasons": step.reasons, "codeDigests": step.code_digests,
                                 "dirty": step.dirty}
    execution |= {k: v for k, v in (("exitCode", step.exit_code), ("log", step.log)) if v is not None}
    return {
        "parent": _facet("parent", run={"runId": step.run_id},
                         job={"namespace": namespace, "name": f"himo.{step.command}"}),
        "nominalTime": _facet("nominalTime", **nominal),
        "processing_engine": _facet("processing_engine", name="himo",
                                    version=step.himo_version or __version__,
                                    openlineageAdapterVersion=__version__),
        "himo_execution": _facet("himo_execution", **execution),
    }


def _job_facets(step: Step) -> dict[str, Any]:
    facets = {"jobType": _facet("jobType", processingType="BATCH", integration="HIMO", jobType="STAGE")}
    if step.git_commit:
        url = source_url(step.repo)
        facets["sourceCodeLocation"] = _facet("sourceCodeLocation", type="git", url=url, repoUrl=url,
                                              version=step.git_commit, **({"branch": step.branch}
                                                                          if step.branch else {}))
    return facets


def _dataset(ref: ArtifactRef, namespace: str, schema_of: SchemaOf | None) -> dict[str, Any]:
    facets: dict[str, Any] = {"version": _facet("version", datasetVersion=ref["digest"])}
    fields = schema_of(ref) if schema_of else None
    if fields:
        facets["schema"] = _facet("schema", fields=fields)
    artifact = {"kind": ref.get("kind") or "other", "size": ref.get("size") or 0}
    if ref.get("nfiles") is not None:
        artifact["nfiles"] = ref["nfiles"]
    facets["himo_artifact"] = _facet("himo_artifact", **artifact)
    return {"namespace": namespace, "name": ref.get("path") or ref["digest"], "facets": facets}


def _facet(key: str, /, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": FACET_SCHEMAS[key], **fields}


def _failure(step: Step) -> str:
    code = f"exit code {step.exit_code}" if step.exit_code is not None else "no exit code"
    log = f"; log: {step.log}" if step.log else ""
    return f"stage '{step.stage}' failed ({code}){log}"


def iso(at: datetime) -> str:
    """A naive UTC time as ISO 8601 with its zone (Z), as OpenLineage wants."""
    return at.isoformat(timespec="microseconds") + "Z"


def source_url(repo: str) -> str:
    """The repository's URL: its origin as is (https:, ssh:, git@host:...), a folder as file:."""
    return "file://" + repo if repo.startswith("/") else repo


# -- steps from the store --------------------------------------------------------------------

PAGE = 500  # executions per query: memory stays flat on a store of millions


def steps(session: Session, since: datetime | None = None, page: int = PAGE) -> Iterator[Step]:
    """Every execution started at or after `since`, oldest first, with its inputs and outputs;
    `page` executions per query."""
    import sqlalchemy as sa

    from himo.meta.schema import Execution, Run

    query = sa.select(Execution, Run.command, Run.repo).join(Run, Run.id == Execution.run_id)
    if since is not None:
        query = query.where(Execution.started_at >= since)
    query = query.order_by(Execution.started_at, Execution.id).limit(page)
    after: tuple[datetime, str] | None = None
    while True:
        page_query = query if after is None else query.where(
            sa.tuple_(Execution.started_at, Execution.id) > sa.tuple_(*after))
        rows = session.execute(page_query).all()
        if not rows:
            return
        refs = _artifacts(session, [row[0].id for row in rows])
        for execution, command, repo in rows:
            yield _step(execution, command, repo, refs.get(execution.id, {}))
        last = rows[-1][0]
        after = (last.started_at, last.id)


def _artifacts(session: Session, exec_ids: list[str]) -> dict[str, dict[str, list[ArtifactRef]]]:
    """execution id -> {"INPUT": [...], "OUTPUT": [...]}, in one query for a page of executions."""
    import sqlalchemy as sa

    from himo.meta.schema import Artifact, Event

    rows = session.execute(
        sa.select(Event.execution_id, Event.direction, Event.path, Artifact.digest, Artifact.kind,
                  Artifact.size, Artifact.nfiles)
        .join(Artifact, Artifact.id == Event.artifact_id)
        .where(Event.execution_id.in_(exec_ids)).order_by(Event.id))
    found: dict[str, dict[str, list[ArtifactRef]]] = {}
    for exec_id, direction, path, digest, kind, size, nfiles in rows:
        ref = ArtifactRef(path=path, digest=digest, kind=kind, size=size, nfiles=nfiles)
        found.setdefault(exec_id, {}).setdefault(direction, []).append(ref)
    return found


def _step(e: Any, command: str, repo: str, refs: dict[str, list[ArtifactRef]]) -> Step:
    return Step(exec_id=e.id, run_id=e.run_id, command=command, stage=e.stage, repo=repo,
                started_at=e.started_at, status=e.status, ended_at=e.ended_at, cmd=e.cmd,
                params=e.params or {}, reasons=e.reasons or [], code_digests=e.code_digests or {},
                git_commit=e.git_commit, branch=e.branch, dirty=bool(e.dirty),
                himo_version=e.himo_version, exit_code=e.exit_code, log=e.log,
                inputs=refs.get("INPUT", []), outputs=refs.get("OUTPUT", []))


# -- steps from journal records, as they are written --------------------------------------------


class StepFeed:
    """Follows the records of one Recorder: a Step when an execution starts, the full Step when it
    ends, None for any other record. Thread-safe (stages of `repro -j` record at once)."""

    def __init__(self) -> None:
        self._run: Record = {}
        self._open: dict[str, Step] = {}
        self._lock = threading.Lock()

    def feed(self, record: Record) -> Step | None:
        with self._lock:
            kind = record.get("type")
            if kind == "run_start":
                self._run = record
            elif kind == "exec_start":
                step = self._started(record)
                self._open[step.exec_id] = step
                return step
            elif kind == "exec_end" and record.get("exec_id") in self._open:
                return self._ended(self._open.pop(record["exec_id"]), record)
            return None

    def _started(self, r: Record) -> Step:
        cmd = r.get("cmd", "")
        return Step(exec_id=r["exec_id"], run_id=r["run_id"], command=self._run.get("command", ""),
                    stage=r["stage"], repo=self._run.get("repo", ""),
                    started_at=parse_time(r["started_at"]) or datetime.min,
                    cmd="\n".join(cmd) if isinstance(cmd, list | tuple) else str(cmd or ""),
                    params=r.get("params") or {}, reasons=r.get("reasons") or [],
                    code_digests=r.get("code_digests") or {}, git_commit=r.get("git_commit", ""),
                    branch=r.get("branch", ""), dirty=bool(r.get("dirty")),
                    himo_version=r.get("himo_version", ""))

    @staticmethod
    def _ended(step: Step, r: Record) -> Step:
        digested = [[ref for ref in r.get(key) or [] if ref.get("digest")] for key in ("inputs", "outputs")]
        return replace(step, status=r["status"], ended_at=parse_time(r.get("ended_at")),
                       exit_code=r.get("exit_code"), log=r.get("log"), inputs=digested[0],
                       outputs=digested[1],
                       **{k: r[k] for k in ("params", "reasons", "code_digests") if k in r})
