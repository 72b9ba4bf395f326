"""What the store's queries return: plain dataclasses, no SQL (importing them stays cheap).

Times are naive UTC, as the store keeps them. Params are flattened to {key: value}: keys of
params.yaml as they are (`train.lr`), keys of another params file as `FILE:key`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ParamChange:
    """One parameter that differs from the previous execution of the same stage."""

    key: str  # dotted key; `FILE:key` when the file is not params.yaml
    before: Any  # value in the previous execution (None if it had no such key)
    after: Any  # value in this execution (None if removed)
    change: str  # "changed", "added" (also: first execution of the stage) or "removed"


@dataclass(frozen=True)
class ExecutionSummary:
    """One execution of a stage (or of an add/commit), as the run list shows it."""

    id: str  # UUID
    run_id: str
    stage: str
    status: str  # running | succeeded | failed | cached | aborted
    started_at: datetime  # naive UTC
    ended_at: datetime | None  # naive UTC; None while running
    seconds: float | None  # wall time, None while running
    exit_code: int | None
    params: dict[str, Any]  # flattened: {key: value} (see ParamChange.key)
    changes: list[ParamChange]  # params that differ from the previous execution of this stage
    previous_id: str | None  # that previous execution (same stage, same repository), if any


@dataclass(frozen=True)
class RunSummary:
    """One invocation of himo (repro, add, push ...) with its executions."""

    id: str  # UUID
    command: str  # repro, run, add, commit, push, pull ...
    args: list[Any]
    status: str  # running | succeeded | failed | aborted
    trigger: str  # manual | schedule | ci
    user: str
    host: str
    repo: str  # the repository's identity (origin URL, else its folder)
    git_commit: str
    branch: str
    dirty: bool  # tracked files differed from the commit
    started_at: datetime  # naive UTC
    ended_at: datetime | None  # an aborted run's: when it was last known alive
    seconds: float | None
    executions: list[ExecutionSummary]
    queued_at: datetime | None = None  # when it was asked for (a schedule's slot); a typed one: started_at
    schedule: str | None = None  # a scheduled run's schedule (None: not scheduled)
    logical_date: datetime | None = None  # ... the start of the interval it covers (naive UTC)
    attempt: int | None = None  # ... its attempt at that interval (1, 2 ... after retries)


@dataclass(frozen=True)
class IOEntry:
    """An artifact an execution read (INPUT) or wrote (OUTPUT)."""

    direction: str  # INPUT | OUTPUT
    path: str  # repository-relative path at the time
    digest: str
    kind: str  # dataset | features | model | metrics | predictions | code | other
    size: int


@dataclass(frozen=True)
class ExecutionDetail:
    """An execution with everything `himo runs show` prints."""

    summary: ExecutionSummary
    cmd: str
    reasons: list[Any]  # why the stage ran
    git_commit: str
    branch: str
    dirty: bool
    code_digests: dict[str, Any]  # code dependency path -> digest
    host: str
    user: str
    himo_version: str
    log: str | None  # log file, relative to the repository root
    inputs: list[IOEntry]
    outputs: list[IOEntry]
    log_tail: list[str] = field(default_factory=list)  # last lines of the log (the file's, else as recorded)
    metrics: dict[str, Any] = field(default_factory=dict)  # {metrics file: {dotted key: value}} as recorded


@dataclass(frozen=True)
class TransferEntry:
    """An artifact a run moved: pushed to, fetched or pulled from a remote, or exported."""

    kind: str  # push | fetch | pull | export
    url: str  # the remote's URL (a folder remote: its absolute path), or the export's destination
    path: str  # repository-relative path of the artifact
    digest: str
    artifact_kind: str  # dataset | model | ...
    size: int
    at: datetime  # naive UTC


@dataclass(frozen=True)
class RunDetail:
    run: RunSummary
    executions: list[ExecutionDetail]  # all of the run's, or the one asked for by execution id
    transfers: list[TransferEntry] = field(default_factory=list)  # what the run moved (push, pull ...)


@dataclass(frozen=True)
class ArtifactNode:
    digest: str
    kind: str
    size: int
    nfiles: int | None  # directories: number of files
    first_seen: datetime  # naive UTC
    paths: list[str]  # paths it was read from / written to in the walk (sorted)


@dataclass(frozen=True)
class ExecutionNode:
    id: str
    run_id: str
    stage: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    git_commit: str
    branch: str
    dirty: bool
    params: dict[str, Any]  # flattened, as in ExecutionSummary
    code_digests: dict[str, Any]


@dataclass(frozen=True)
class Edge:
    """INPUT: the artifact was read by the execution; OUTPUT: the execution wrote it."""

    artifact: str  # digest
    execution: str  # execution id
    direction: str  # INPUT | OUTPUT
    path: str


@dataclass(frozen=True)
class Restore:
    """An artifact restored from the run-cache (executions `cached`) besides the one that made it."""

    count: int  # restores recorded
    execution: str  # the latest restore: its execution id
    run_id: str  # ... its run
    at: datetime  # ... when it started (naive UTC)


@dataclass(frozen=True)
class ReleaseMark:
    """A release of an artifact in the graph: live in `env` from `released_at` until `retired_at`."""

    name: str  # the model's registry name it was released as
    env: str
    version: str
    released_at: datetime  # naive UTC
    retired_at: datetime | None  # None: live now


@dataclass(frozen=True)
class ModelAtRun:
    """Whether the model an execution read was the release of `name` live in `env` when it started."""

    execution: str  # execution id
    model: str  # digest of the model it read
    name: str  # the model name whose release in env it is compared with
    env: str
    live_version: str | None  # the release live in env at the time (None: nothing was)
    live_digest: str | None
    was_live: bool  # the model it read was that release's


@dataclass
class Lineage:
    """The graph around one artifact, upstream and/or downstream."""

    root: str  # digest of the artifact asked about
    artifacts: dict[str, ArtifactNode] = field(default_factory=dict)  # by digest
    executions: dict[str, ExecutionNode] = field(default_factory=dict)  # by id
    edges: list[Edge] = field(default_factory=list)
    omitted: dict[str, int] = field(default_factory=dict)  # digest -> consumers left out (the cap)
    truncated: bool = False  # the walk stopped at max_nodes
    releases: dict[str, list[ReleaseMark]] = field(default_factory=dict)  # digest -> its releases
    models_at_run: list[ModelAtRun] = field(default_factory=list)  # executions that read a model
    restored: dict[str, Restore] = field(default_factory=dict)  # digest -> its run-cache restores


# -- the dashboard's shapes (himo.meta.browse) ----------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    """The run list's filters (the dashboard's form, the API's query string)."""

    stage: str | None = None  # runs with an execution of this stage
    status: str | None = None  # running | succeeded | failed | aborted; cached: runs with a restored stage
    trigger: str | None = None  # manual | schedule | ci
    since: datetime | None = None  # started at or after (naive UTC)
    until: datetime | None = None  # started before
    repo: str | None = None  # runs in this repository (a team store holds several)
    branch: str | None = None  # runs on this git branch


@dataclass(frozen=True)
class ExecutionRow:
    """An execution as a line of the run list shows it."""

    id: str
    stage: str
    status: str
    seconds: float | None  # wall time; None while running
    started_at: datetime  # naive UTC (a running one's elapsed time counts from it)


@dataclass(frozen=True)
class RunRow:
    """A run as the run list shows it (no params: the list stays one index walk)."""

    id: str
    command: str
    args: list[Any]
    trigger: str
    user: str
    host: str
    repo: str
    git_commit: str
    branch: str
    dirty: bool
    himo_version: str
    status: str
    started_at: datetime  # naive UTC
    ended_at: datetime | None
    seconds: float | None
    executions: list[ExecutionRow] = field(default_factory=list)


@dataclass(frozen=True)
class RunsPage:
    page: int
    per_page: int
    has_next: bool  # instead of a count (counting a million rows costs more than the page)
    runs: list[RunRow]


@dataclass(frozen=True)
class GridSegment:
    status: str
    n: int  # executions of the day that ended so


@dataclass(frozen=True)
class GridScheduled:
    """A scheduled run with executions in a grid cell: the cell is its logical date's day (the
    interval it covers), whenever it ran: a backfill of Nov 1 run on Dec 3 sits in Nov 1."""

    run_id: str
    schedule: str
    logical_date: datetime  # naive UTC: the interval's start
    trigger: str  # schedule | backfill | manual: how its interval was asked for (the claim's)
    status: str  # the run's
    started_at: datetime


@dataclass(frozen=True)
class GridCell:
    """A day of a stage in the grid; `summary` (`1 failed, then 3 succeeded`) is its tooltip."""

    date: str  # YYYY-MM-DD (UTC)
    counts: dict[str, int]  # status -> executions
    state: str  # the colour, of the status that came last: failed | succeeded | cached | running | none
    summary: str
    segments: list[GridSegment] = field(default_factory=list)  # statuses in the order they ended
    scheduled: list[GridScheduled] = field(default_factory=list)  # newest first; its executions are counted


@dataclass(frozen=True)
class GridRow:
    stage: str
    cells: list[GridCell]
    last: str = ""  # the stage's last day with an execution (YYYY-MM-DD)


@dataclass(frozen=True)
class Grid:
    """Airflow's grid: per stage and day, how its executions ended (a scheduled run's, on the
    day of its logical date)."""

    days: list[str]  # YYYY-MM-DD, oldest first
    stages: list[GridRow]


@dataclass(frozen=True)
class LatestExecution:
    """The newest execution of a stage (the pipeline page's links)."""

    id: str
    run_id: str
    status: str
    started_at: datetime


@dataclass(frozen=True)
class ArtifactMatch:
    """An artifact whose digest starts with a prefix."""

    digest: str
    kind: str
    path: str  # a path it was seen at ('' if none)


@dataclass(frozen=True)
class ArtifactPlace:
    """The artifact at a path of a repository, at a commit."""

    repo: str
    path: str
    commit: str
    first_seen: datetime


@dataclass(frozen=True)
class ArtifactVersion:
    """An artifact seen at the same paths as another: a version of the file."""

    digest: str
    kind: str
    size: int
    first_seen: datetime
    path: str


@dataclass(frozen=True)
class Touch:
    """An execution that wrote (produced_by) or read (used_by) an artifact."""

    id: str
    run_id: str
    stage: str
    status: str
    started_at: datetime
    path: str


@dataclass(frozen=True)
class LocationRow:
    """A place the artifact's bytes were recorded at: a remote (push/pull) or an export."""

    kind: str  # remote | export
    url: str  # passwords masked
    first_at: datetime  # naive UTC
    last_at: datetime
    who: str
    run_id: str | None = None


@dataclass(frozen=True)
class ArtifactInfo:
    """What the store knows of an artifact itself."""

    id: int
    kind: str
    size: int
    nfiles: int | None  # None: a file


@dataclass(frozen=True)
class ArtifactDetail:
    digest: str
    kind: str
    size: int
    nfiles: int | None
    first_seen: datetime
    paths: list[ArtifactPlace]
    versions: list[ArtifactVersion]
    produced_by: list[Touch]  # newest first
    used_by: list[Touch]
    locations: list[LocationRow]


@dataclass(frozen=True)
class MetricsOutput:
    """A metrics artifact an execution wrote; `reported`: the execution's metrics as the store keeps them."""

    id: str  # execution id
    run_id: str
    stage: str
    started_at: datetime
    params: dict[str, Any]  # flattened
    reported: dict[str, Any]  # {metrics file: {dotted key: value}}
    path: str
    digest: str


# -- releases (himo.meta.releases) ----------------------------------------------------------


@dataclass(frozen=True)
class ReleaseRow:
    """One release: the model `name`'s artifact live in `env` from `released_at` until `retired_at`."""

    id: int
    name: str  # the model's registry name (GTO's artifact name): one live release per name and env
    env: str
    version: str  # v1, v2 ... (unique per name in its env)
    digest: str  # the artifact's digest
    kind: str  # model, dataset ...
    path: str  # repository-relative path it was released from
    commit: str  # git commit where the path held this digest ('' if not committed then)
    released_at: datetime  # naive UTC
    retired_at: datetime | None  # naive UTC; None: live now
    who: str
    note: str
    run_id: str | None  # the run whose execution produced the artifact (latest), if recorded
    tags: list[str] = field(default_factory=list)  # git tags made for it

    @property
    def live(self) -> bool:
        return self.retired_at is None


@dataclass(frozen=True)
class LiveState:
    """What a page showing runs in progress polls: `key` changes whenever what it shows would."""

    key: str  # a short hash of the newest run and each running run's and its executions' statuses
    running: list[str]  # ids of the runs in progress (the one asked about, if it is)


@dataclass(frozen=True)
class ComparedExecution:
    """An execution of a compared run: the metrics it reported and the params it actually used."""

    id: str
    run_id: str
    stage: str
    status: str
    started_at: datetime  # naive UTC
    metrics: dict[str, Any]  # {`FILE:key`: value}
    params: dict[str, Any]  # flattened: its own, then its upstream producers' (see meta/compare.py)
    member: str | None = None  # a foreach/matrix member's part of the stage name (train@a: a), else None


@dataclass(frozen=True)
class RunColumns:
    """A run's values for the run list's columns."""

    params: dict[str, Any]  # flattened, merged over its executions in order
    metrics: dict[str, Any]  # {`FILE:key`: value} as its executions reported them


@dataclass(frozen=True)
class ArtifactListing:
    """The newest artifact at a path, as the artifacts page lists it."""

    digest: str
    kind: str
    path: str  # repository-relative
    repo: str
    size: int
    nfiles: int | None
    first_seen: datetime  # when this version was first seen at the path (naive UTC)
    versions: int  # artifacts seen at the path (among the rows read)
    released: list[str]  # `NAME ENV VERSION[ · live]` of each release of this version


@dataclass(frozen=True)
class ModelMetrics:
    """The metrics reported about a model: by the execution that made it, or one that read it."""

    execution: str  # the execution id that reported them
    run_id: str
    stage: str
    started_at: datetime  # naive UTC
    metrics: dict[str, Any]  # {`FILE:key`: value}
