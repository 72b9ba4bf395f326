"""Experiments in the store: the rows `himo exp show`, `exp diff` and the dashboard read, and
the baseline of each commit they were made from. ORM rows never leave this module: results are
the frozen dataclasses below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.meta.schema import Execution, Experiment, Run

Values = dict[str, dict[str, Any]]  # file -> {dotted key: value}


@dataclass(frozen=True)
class ExperimentRow:
    id: str  # its run's id
    name: str
    repo: str
    base_commit: str
    status: str
    overrides: list[str]
    targets: list[str]
    params: Values
    metrics: Values
    outputs: dict[str, str]  # output path -> digest
    files: dict[str, str | None]  # git path -> text (None: deleted), vs the base commit
    created_at: datetime
    user: str = ""
    host: str = ""


@dataclass(frozen=True)
class Baseline:
    """What the pipeline read and reported at a commit, outside experiments: the latest
    successful execution of each stage recorded at that commit with a clean workspace."""

    commit: str
    params: Values
    metrics: Values
    at: datetime | None


def experiments(session: Session, repo: str | None = None, names: list[str] | None = None,
                limit: int = 10_000) -> list[ExperimentRow]:
    """Experiments of the repository `repo` (all with None), newest first; only `names` if given."""
    query = sa.select(Experiment, Run.user, Run.host).join(Run, Run.id == Experiment.id, isouter=True)
    if repo is not None:
        query = query.where(Experiment.repo == repo)
    if names:
        query = query.where(Experiment.name.in_(names))
    rows = session.execute(query.order_by(Experiment.created_at.desc()).limit(limit)).all()
    return [_row(e, user or "", host or "") for e, user, host in rows]


def _row(e: Experiment, user: str, host: str) -> ExperimentRow:
    return ExperimentRow(e.id, e.name, e.repo, e.base_commit, e.status, list(e.overrides), list(e.targets),
                         dict(e.params), dict(e.metrics), dict(e.outputs), dict(e.files), e.created_at,
                         user, host)


def baselines(session: Session, repo: str, commits: list[str]) -> dict[str, Baseline]:
    """The Baseline of each of `commits` that has executions (no experiment's among them)."""
    if not commits:
        return {}
    experiment_runs = sa.select(Experiment.id)
    query = (sa.select(Execution.git_commit, Execution.stage, Execution.params, Execution.metrics,
                       Execution.started_at)
             .join(Run, Run.id == Execution.run_id)
             .where(Run.repo == repo, Execution.git_commit.in_(commits), Execution.dirty.is_(False),
                    Execution.status.in_(("succeeded", "cached")), Run.id.not_in(experiment_runs))
             .order_by(Execution.started_at))
    found: dict[str, dict[str, Any]] = {}
    for commit, stage, params, metrics, started in session.execute(query):
        entry = found.setdefault(commit, {"stages": {}, "at": started})
        entry["stages"][stage] = (params or {}, metrics or {})  # the latest of each stage wins
        entry["at"] = max(entry["at"], started)
    return {commit: _baseline(commit, entry) for commit, entry in found.items()}


def _baseline(commit: str, entry: dict[str, Any]) -> Baseline:
    params: Values = {}
    metrics: Values = {}
    for stage_params, stage_metrics in entry["stages"].values():
        for file, values in stage_params.items():
            params.setdefault(file, {}).update(values if isinstance(values, dict) else {})
        for file, values in stage_metrics.items():
            metrics.setdefault(file, {}).update(values if isinstance(values, dict) else {})
    return Baseline(commit, params, metrics, entry["at"])


def remove(session: Session, repo: str, names: list[str]) -> list[str]:
    """Delete the experiments `names` of `repo` (their runs and executions stay, as history);
    the names that were found."""
    found = list(session.scalars(sa.select(Experiment.name).where(Experiment.repo == repo,
                                                                  Experiment.name.in_(names))))
    session.execute(sa.delete(Experiment).where(Experiment.repo == repo, Experiment.name.in_(names)))
    return sorted(set(found))
