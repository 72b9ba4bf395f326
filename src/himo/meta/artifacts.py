"""Reads about artifacts as files people name: the artifacts list (the newest version at each
path, searchable by path or released name), a model's metrics, and which artifacts in a set
are superseded (a newer artifact was seen at each of their paths).

Results are the frozen dataclasses of meta/results.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.meta.compare import _flat_metrics
from himo.meta.results import ArtifactListing, ModelMetrics
from himo.meta.schema import Artifact, ArtifactPath, Event, Execution, Release

LISTED = ("model", "dataset")  # the kinds the artifacts page shows by default
SCAN = 5000  # path rows read for one listing (newest first)
METRICS_SCAN = 200  # executions around a model looked at for its metrics


def listing(session: Session, query: str = "", kinds: Iterable[str] = LISTED,
            limit: int = 200) -> tuple[list[ArtifactListing], bool]:
    """The newest artifact at each path (of the `kinds`), newest first; `query`: a part of the path
    or of a name it was released as (case-insensitive). Also: whether more paths matched than `limit`."""
    rows = sa.select(ArtifactPath.repo, ArtifactPath.path, ArtifactPath.first_seen, Artifact.digest,
                     Artifact.kind, Artifact.size, Artifact.nfiles) \
        .join(Artifact, Artifact.id == ArtifactPath.artifact_id).where(Artifact.kind.in_(list(kinds)))
    if query:  # taken literally: autoescape makes `%` and `_` plain characters of the pattern
        def has(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
            return sa.func.lower(column).contains(query.lower(), autoescape=True)

        names = sa.select(Release.artifact_id).where(has(Release.name))
        rows = rows.where(sa.or_(has(ArtifactPath.path), Artifact.id.in_(names)))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in session.execute(rows.order_by(ArtifactPath.first_seen.desc()).limit(SCAN)):
        entry = found.setdefault((row.repo, row.path), {"row": row, "digests": set()})
        entry["digests"].add(row.digest)
    names = _release_names(session, {e["row"].digest for e in found.values()})
    listed = [ArtifactListing(e["row"].digest, e["row"].kind, e["row"].path, e["row"].repo, e["row"].size,
                              e["row"].nfiles, e["row"].first_seen, len(e["digests"]),
                              names.get(e["row"].digest, []))
              for e in found.values()]
    return listed[:limit], len(listed) > limit


def _release_names(session: Session, digests: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if not digests:
        return found
    query = sa.select(Artifact.digest, Release.name, Release.env, Release.version, Release.retired_at) \
        .join(Release, Release.artifact_id == Artifact.id).where(Artifact.digest.in_(list(digests))) \
        .order_by(Release.released_at)
    for row in session.execute(query):
        live = " · live" if row.retired_at is None else ""
        name = f"{row.name} " if row.name else ""
        found.setdefault(row.digest, []).append(f"{name}{row.env} {row.version}{live}")
    return found


def model_metrics(session: Session, digests: Iterable[str]) -> dict[str, ModelMetrics]:
    """For each artifact, the metrics of the newest execution that wrote it or read it and reported
    metrics (train's own, else the evaluation of that model); artifacts with none are left out."""
    found: dict[str, ModelMetrics] = {}
    for digest in dict.fromkeys(digests):
        touching = sa.select(Event.execution_id).join(Artifact, Artifact.id == Event.artifact_id) \
            .where(Artifact.digest == digest).limit(METRICS_SCAN)
        query = sa.select(Execution.id, Execution.run_id, Execution.stage, Execution.started_at,
                          Execution.metrics).where(Execution.id.in_(touching),
                                                   Execution.status.in_(("succeeded", "cached"))) \
            .order_by(Execution.started_at.desc())
        for row in session.execute(query):
            values = _flat_metrics(row.metrics)
            if values:
                found[digest] = ModelMetrics(row.id, row.run_id, row.stage, row.started_at, values)
                break
    return found


def superseded(session: Session, digests: Iterable[str]) -> set[str]:
    """The artifacts (of `digests`) that each of their paths has since held a newer artifact."""
    ids = dict(session.execute(sa.select(Artifact.id, Artifact.digest)
                               .where(Artifact.digest.in_(list(digests)))).all())
    if not ids:
        return set()
    mine = session.execute(sa.select(ArtifactPath.artifact_id, ArtifactPath.repo, ArtifactPath.path,
                                     ArtifactPath.first_seen)
                           .where(ArtifactPath.artifact_id.in_(list(ids)))).all()
    places = {(r.repo, r.path) for r in mine}
    newest = {}
    for repo, path in places:  # one seek each on ix_path_repo_path
        newest[(repo, path)] = session.scalar(
            sa.select(sa.func.max(ArtifactPath.first_seen)).where(ArtifactPath.repo == repo,
                                                                  ArtifactPath.path == path))
    current: set[int] = set()
    for r in mine:
        if r.first_seen >= newest[(r.repo, r.path)]:
            current.add(r.artifact_id)
    return {ids[i] for i in {r.artifact_id for r in mine} - current}
