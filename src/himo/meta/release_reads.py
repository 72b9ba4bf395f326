"""The reads of releases that lineage needs: the timeline of an environment, the releases of
artifacts, and the marks a lineage graph gets (which release each model was, which model was live
when an execution read one). On `queries.Sql`, so the sqlite3 reader (himo.meta.lite) runs them
as SQLAlchemy does; the writes, and the other reads of releases, are in releases.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from himo.errors import UsageError
from himo.meta.queries import CHUNK, Sql
from himo.meta.results import Lineage, ModelAtRun, ReleaseMark, ReleaseRow


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def default_name(path: str) -> str:
    """The name a release of `path` gets unless one is given: the file name without its suffix,
    lower case, other characters as '-', 'model' if nothing is left (models/My_Model.pt ->
    my-model). Always a valid GTO artifact name. Migration 0003 back-filled with this rule."""
    pure = PurePosixPath(path)
    stem = pure.stem if pure.suffix else pure.name
    return re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-") or "model"


def release_row(r: Any, digest: str, kind: str) -> ReleaseRow:
    """A release (a row or an ORM object with the release's columns) with its artifact's digest and kind."""
    return ReleaseRow(r.id, r.name, r.env, r.version, digest, kind, r.path, r.commit, r.released_at,
                      r.retired_at, r.user, r.note, r.run_id, list(r.tags or []))


def timeline(sql: Sql, env: str | None = None, at: datetime | None = None,
             name: str | None = None) -> list[ReleaseRow]:
    """Releases by env, then name, each newest first (ix_release_env); `at`: only those live
    then (one per name and env)."""
    rows = sql.rows("timeline", {"env": env, "name": name, "at": at},
                    env=env is not None, name=name is not None, at=at is not None)
    return [release_row(r, r.digest, r.kind) for r in rows]


def live_release_at(sql: Sql, env: str, time: datetime | None = None,
                    name: str | None = None) -> ReleaseRow | None:
    """The release of the model `name` live in `env` at `time` (naive UTC; None: now). Without
    a name: the one live there, UsageError if several models were."""
    found = timeline(sql, env, time or utcnow(), name)
    if len({r.name for r in found}) > 1:
        raise UsageError(f"several models were live in {env} then: {', '.join(r.name for r in found)}",
                         "say which one with --name (name= in Python)")
    return found[0] if found else None


def releases_of(sql: Sql, artifact_ids: Iterable[int]) -> dict[int, list[ReleaseRow]]:
    """Every release of each artifact, oldest first (ix_release_artifact); absent ids: none."""
    ids = list(artifact_ids)
    found: dict[int, list[ReleaseRow]] = {}
    for start in range(0, len(ids), CHUNK):
        for r in sql.rows("releases_of", {"ids": ids[start:start + CHUNK]}):
            found.setdefault(r.artifact_id, []).append(release_row(r, r.digest, r.kind))
    return found


def mark_releases(sql: Sql, graph: Lineage) -> None:
    """Add to a lineage graph the releases of its artifacts, and, for each execution that read a
    model, whether that model was the one of its name live in each environment when the
    execution started. Its names: those it was released as, else those its path was released
    as, else its default name."""
    ids = {digest: i for digest, i in sql.rows("artifact_ids", {"digests": list(graph.artifacts)})}
    for artifact_id, rows in releases_of(sql, ids.values()).items():
        digest = next(d for d, i in ids.items() if i == artifact_id)
        graph.releases[digest] = [ReleaseMark(r.name, r.env, r.version, r.released_at, r.retired_at)
                                  for r in rows]
    released = sorted((n, e) for n, e in sql.rows("released_names", {}))
    for edge in graph.edges:
        if edge.direction != "INPUT" or graph.artifacts[edge.artifact].kind != "model":
            continue
        marks = graph.releases.get(edge.artifact, [])
        for name in _model_names(sql, edge.path, marks):
            for env in [e for n, e in released if n == name]:
                _mark_model_at_run(sql, graph, edge.execution, edge.artifact, name, env)


def _model_names(sql: Sql, path: str, marks: list[ReleaseMark]) -> list[str]:
    if marks:
        return sorted({m.name for m in marks})
    by_path = [row[0] for row in sql.rows("names_released_from", {"path": path})]
    return sorted(by_path) or [default_name(path)]


def _mark_model_at_run(sql: Sql, graph: Lineage, execution: str, model: str, name: str, env: str) -> None:
    live = live_release_at(sql, env, graph.executions[execution].started_at, name)
    if live is None and not any(m.env == env and m.name == name for m in graph.releases.get(model, [])):
        return  # an environment this model never went to, and empty then: say nothing
    graph.models_at_run.append(ModelAtRun(execution, model, name, env, live.version if live else None,
                                          live.digest if live else None,
                                          live is not None and live.digest == model))
