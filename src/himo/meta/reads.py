"""The one way to read the metadata store: `MetaReader`, used by the CLI (through himo.api), the
Python API and the dashboard alike, so they cannot disagree.

    from himo.meta.reads import MetaReader
    from himo.meta.store import Store
    reader = MetaReader(Store("sqlite:///.himo/meta.db").open(), journal=Path(".himo/journal"))
    for run in reader.runs(stage="train", limit=10):
        print(run.id[:8], run.status)
    reader.close()

After MLflow's SqlAlchemyStore: each method opens its own read transaction and returns the frozen
dataclasses of himo.meta.results (ORM rows never leave himo.meta); no caller sees a session. The
methods are grouped by aggregate: runs, artifacts, lineage, releases.

Pending journals (`journal`, the repository's .himo/journal/) are delivered before a read, but
only when the folder changed since the last delivery: a journal appeared, grew, went, or its
writer ended (it was killed: its run is then closed as aborted). So a run in progress shows as
running, each of its stages as it starts and ends, at the cost of one listdir per read when
nothing changed (see `journal.signature`).

"Previous run" has one meaning everywhere: the previous successful run of the same stage (the
latest execution of that stage, in the same repository, that started before and succeeded or was
restored from the run-cache; what himo.lock held when it started). `ExecutionSummary.previous_id`
and `.changes` say it, for `himo runs`, `himo runs show` and the dashboard's run page alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from himo.errors import ArtifactNotFound, UsageError
from himo.meta.results import (
    ArtifactDetail,
    ArtifactInfo,
    ArtifactListing,
    ArtifactMatch,
    ComparedExecution,
    Grid,
    LatestExecution,
    Lineage,
    LiveState,
    LocationRow,
    MetricsOutput,
    ModelMetrics,
    ReleaseRow,
    RunColumns,
    RunDetail,
    RunFilter,
    RunsPage,
    RunSummary,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from himo.meta.deliver import Delivery
    from himo.meta.experiments import Baseline, ExperimentRow
    from himo.meta.lite import LiteStore
    from himo.meta.openlineage import Step
    from himo.meta.queries import Sql
    from himo.meta.store import Store

CANDIDATES = 10  # candidates listed for an ambiguous prefix


class MetaReader:
    """Reads of one store. `journal`: the folder whose pending journals are delivered before reads
    (None: none, e.g. a team store opened by URL); `on_delivery` is told of each delivery made."""

    def __init__(self, store: Store | LiteStore, journal: Path | None = None,
                 on_delivery: Callable[[Delivery], None] | None = None) -> None:
        self.store = store
        self.journal = journal
        self.on_delivery = on_delivery
        self._seen: object = ()  # the journal folder's signature at the last delivery (none pending)
        self._lock = threading.Lock()  # a server reads from several threads

    @property
    def name(self) -> str:
        """The store's URL, password hidden."""
        return self.store.name

    def close(self) -> None:
        self.store.close()

    # -- delivery ---------------------------------------------------------------------------

    def refresh(self) -> Delivery | None:
        """Deliver pending journals if the journal folder changed since the last delivery."""
        if self.journal is None:
            return None
        from himo.meta.journal import signature

        with self._lock:
            now = signature(self.journal)
            if now == self._seen:
                return None
            from himo.meta.deliver import deliver

            done = deliver(self.store, self.journal)
            self._seen = signature(self.journal)
        if self.on_delivery is not None:
            self.on_delivery(done)
        return done

    @contextmanager
    def _read(self) -> Iterator[Session]:
        self.refresh()
        with self.store.session() as session:
            yield session

    @contextmanager
    def _sql(self) -> Iterator[Sql]:
        """For the reads of himo.meta.queries (on sqlite3 when the store is a LiteStore)."""
        self.refresh()
        with self.store.reads() as sql:
            yield sql

    # -- runs -------------------------------------------------------------------------------

    def runs(self, *, stage: str | None = None, status: str | None = None, since: datetime | None = None,
             until: datetime | None = None, limit: int = 20, offset: int = 0) -> list[RunSummary]:
        """Runs newest first with their executions (see queries.list_runs for the filters)."""
        from himo.meta import queries

        with self._sql() as s:
            return queries.list_runs(s, stage=stage, status=status, since=since, until=until, limit=limit,
                                     offset=offset)

    def stage_known(self, stage: str) -> bool:
        from himo.meta import queries

        with self._sql() as s:
            return queries.stage_known(s, stage)

    def stage_names(self, limit: int = 30) -> list[str]:
        """Recorded stage names, sorted (for messages); `stages` is the cheap list for a page."""
        from himo.meta import queries

        with self._sql() as s:
            return queries.stage_names(s, limit)

    def stages(self, limit: int = 500) -> list[str]:
        """Stage names seen in the store, by a loose index scan (cheap at millions of executions)."""
        from himo.meta import browse

        with self._read() as s:
            return browse.stages(s, limit)

    def find_ids(self, prefix: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Run ids, and (execution id, run id) pairs, starting with `prefix` (at most CANDIDATES + 1 each)."""
        from himo.meta import queries

        with self._sql() as s:
            return queries.find_ids(s, prefix)

    def run(self, run_id: str, exec_id: str | None = None) -> RunDetail | None:
        """The run with its executions (only `exec_id` if given), their inputs and outputs."""
        from himo.meta import queries

        with self._sql() as s:
            return queries.run_detail(s, run_id, exec_id)

    def run_of_execution(self, exec_id: str) -> str | None:
        from himo.meta import browse

        with self._read() as s:
            return browse.run_of_execution(s, exec_id)

    def runs_page(self, f: RunFilter, page: int = 1, per_page: int = 50,
                  rare_stage: int | None = None) -> RunsPage:
        """One page of the run list (the dashboard's), newest first, `has_next` instead of a count."""
        from himo.meta import browse

        with self._read() as s:
            return browse.runs_page(s, f, page, per_page, rare_stage or browse.RARE_STAGE)

    def grid(self, days: int = 30, today: date | None = None) -> Grid:
        from himo.meta import browse

        with self._read() as s:
            return browse.grid(s, days, today)

    def live_state(self, run_id: str | None = None) -> LiveState:
        """What pages of runs in progress poll (one run's, or the run list's): see browse.live_state."""
        from himo.meta import browse

        with self._read() as s:
            return browse.live_state(s, run_id)

    def latest_executions(self, stages: Iterable[str]) -> dict[str, LatestExecution]:
        from himo.meta import browse

        with self._read() as s:
            return browse.latest_executions(s, stages)

    def run_params(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The params of every execution of each run, flattened and merged."""
        from himo.meta import browse

        with self._read() as s:
            return browse.run_params(s, run_ids)

    def metrics_outputs(self, exec_ids: list[str] | None = None, path: str | None = None,
                        limit: int = 200) -> list[MetricsOutput]:
        from himo.meta import browse

        with self._read() as s:
            return browse.metrics_outputs(s, exec_ids, path, limit)

    def run_columns(self, run_ids: list[str]) -> dict[str, RunColumns]:
        """Each run's params and reported metrics, for the run list's columns (meta/compare.py)."""
        from himo.meta import compare

        with self._read() as s:
            return compare.run_columns(s, run_ids)

    def newest_metric_keys(self, limit: int = 3) -> list[str]:
        from himo.meta import compare

        with self._read() as s:
            return compare.newest_metric_keys(s, limit)

    def repos_and_branches(self, limit: int = 200) -> tuple[list[str], list[str]]:
        from himo.meta import compare

        with self._read() as s:
            return compare.repos_and_branches(s, limit)

    def compared(self, run_ids: list[str]) -> list[ComparedExecution]:
        """The executions of these runs with their metrics and the params they actually used."""
        from himo.meta import compare

        with self._read() as s:
            return compare.compared(s, run_ids)

    def group_members(self, run_ids: list[str], group: str,
                      members: Iterable[str] | None = None) -> list[ComparedExecution]:
        """The executions of the foreach/matrix stage `group` (`group@...`; only those `members` if
        given) in these runs, with their metrics and the params they actually used (a member's own
        name in a key written `*`)."""
        from himo.meta import compare

        with self._read() as s:
            return compare.group_members(s, run_ids, group, members)

    def compared_executions(self, exec_ids: list[str]) -> list[ComparedExecution]:
        """These executions (whole ids, in the order given; unknown ones left out), as `compared`'s."""
        from himo.meta import compare

        with self._read() as s:
            return compare.executions(s, exec_ids)

    def foreach_members(self, run_ids: list[str]) -> dict[str, dict[str, list[str]]]:
        """{run id: {foreach/matrix stage it ran: its members' names}} (train@a: {"train": ["a"]})."""
        from himo.meta import compare

        with self._read() as s:
            return compare.foreach_members(s, run_ids)

    def experiments(self, repo: str | None = None, names: list[str] | None = None,
                    limit: int = 10_000) -> list[ExperimentRow]:
        """Experiments of the repository `repo` (all with None), newest first; only `names` if given."""
        from himo.meta import experiments

        with self._read() as s:
            return experiments.experiments(s, repo, names, limit)

    def baselines(self, repo: str, commits: list[str]) -> dict[str, Baseline]:
        """What the pipeline made at each of `commits` (no experiment's runs), for `himo exp show`."""
        from himo.meta import experiments

        with self._read() as s:
            return experiments.baselines(s, repo, commits)

    # -- artifacts --------------------------------------------------------------------------

    def artifacts(self, query: str = "",
                  kinds: Iterable[str] | None = None) -> tuple[list[ArtifactListing], bool]:
        """The newest artifact at each path matching `query` (the artifacts page), and whether more
        paths matched than were listed."""
        from himo.meta import artifacts

        with self._read() as s:
            return artifacts.listing(s, query, artifacts.LISTED if kinds is None else kinds)

    def model_metrics(self, digests: Iterable[str]) -> dict[str, ModelMetrics]:
        from himo.meta import artifacts

        with self._read() as s:
            return artifacts.model_metrics(s, digests)

    def superseded(self, digests: Iterable[str]) -> set[str]:
        """The digests of these whose path has a newer version (lineage's "latest versions only")."""
        from himo.meta import artifacts

        with self._read() as s:
            return artifacts.superseded(s, digests)

    def find_artifacts(self, prefix: str) -> list[ArtifactMatch]:
        """Artifacts whose digest starts with the hex `prefix` (an exact match alone if there is one)."""
        from himo.meta import queries

        with self._sql() as s:
            return [ArtifactMatch(*row) for row in queries.find_artifacts(s, prefix)]

    def resolve_digest(self, prefix: str) -> str:
        """The one digest starting with the hex `prefix` (a full digest is taken as it is, known or
        not). ArtifactNotFound if none; UsageError if several (the message lists them)."""
        from himo.model import is_digest

        if is_digest(prefix.lower()):
            return prefix.lower()
        found = self.find_artifacts(prefix)
        if not found:
            raise ArtifactNotFound(f"{prefix}: no artifact in the metadata store has a digest starting so",
                                   "give a tracked path, PATH@REV, or a digest from `himo runs show ID`")
        if len(found) > 1:
            listed = "; ".join(f"{m.digest[:16]} ({m.kind}{', ' + m.path if m.path else ''})"
                               for m in found[:CANDIDATES])
            more = "; and more" if len(found) > CANDIDATES else ""
            raise UsageError(f"digest prefix {prefix!r} is ambiguous: {min(len(found), CANDIDATES)}"
                             f"{'+' if more else ''} artifacts match",
                             f"give more characters: {listed}{more}")
        return found[0].digest

    def artifact(self, digest: str) -> ArtifactDetail | None:
        """Paths, versions, producers, readers and locations of the artifact."""
        from himo.meta import browse

        with self._read() as s:
            return browse.artifact_detail(s, digest)

    def artifact_info(self, digest: str) -> ArtifactInfo | None:
        from himo.meta import releases

        with self._read() as s:
            return releases.artifact_info(s, digest)

    def locations(self, digest: str) -> list[LocationRow]:
        """Where push, pull and export recorded the artifact's bytes, oldest first."""
        from himo.meta import releases

        with self._read() as s:
            return releases.locations(s, digest)

    # -- lineage ----------------------------------------------------------------------------

    def lineage(self, digest: str, *, upstream: bool = True, downstream: bool = True,
                depth: int | None = None, fan_out: int = 20, max_nodes: int = 5000,
                releases: bool = True) -> Lineage | None:
        """The graph around the artifact (None if the store lacks it), with its releases marked."""
        from himo.meta import queries, release_reads

        with self._sql() as s:
            graph = queries.lineage(s, digest, upstream=upstream, downstream=downstream, depth=depth,
                                    fan_out=fan_out, max_nodes=max_nodes)
            if graph is not None and releases:
                release_reads.mark_releases(s, graph)
        return graph

    def steps(self, since: datetime | None = None, page: int = 1000) -> Iterator[Step]:
        """Every execution started at or after `since`, oldest first, as OpenLineage sees it, read
        `page` at a time in one transaction (a consistent snapshot); see meta/openlineage.py."""
        from himo.meta import openlineage

        with self._read() as s:
            yield from openlineage.steps(s, since, page)

    # -- releases ---------------------------------------------------------------------------

    def timeline(self, env: str | None = None, at: datetime | None = None,
                 name: str | None = None) -> list[ReleaseRow]:
        """Releases by env, then name, each newest first; `at`: only those live then."""
        from himo.meta import release_reads

        with self._sql() as s:
            return release_reads.timeline(s, env, at, name)

    def live_release(self, env: str, at: datetime | None = None,
                     name: str | None = None) -> ReleaseRow | None:
        from himo.meta import release_reads

        with self._sql() as s:
            return release_reads.live_release_at(s, env, at, name)

    def releases_of_digest(self, digest: str) -> list[ReleaseRow]:
        from himo.meta import releases

        with self._read() as s:
            return releases.releases_of_digest(s, digest)

    def released(self) -> list[tuple[ReleaseRow, int | None]]:
        """Every release with its artifact's file count (None: a file): what gc keeps."""
        from himo.meta import releases

        with self._read() as s:
            return releases.released(s)

    def envs(self) -> list[str]:
        from himo.meta import releases

        with self._read() as s:
            return releases.envs(s)

    def model_names(self, env: str | None = None) -> list[str]:
        from himo.meta import releases

        with self._read() as s:
            return releases.names(s, env)
