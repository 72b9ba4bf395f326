"""The Python API: what the `himo` command does, importable.

    from himo import api
    repo = api.Repo.find()                 # or api.init(path)
    api.add(repo, ["data/train.csv"])
    for s in api.status(repo):
        print(s.path, s.state)
    api.push(repo, remote="storage")
    api.repro(repo)                        # recorded in the metadata store
    for run in api.runs(repo, stage="train", limit=5):
        print(run.started_at, run.status, [e.changes for e in run.executions])
    graph = api.lineage(repo, "models/model.pkl").graph   # what produced it, and from what
    api.release(repo, "models/model.pkl", "production")   # live from now; api.releases(repo)

Every function takes the Repo first and raises himo.errors.HimoError (with `.message` and
`.hint`) for anything a user can fix.
"""

from __future__ import annotations

# Eager imports on purpose: several modules share their function's name (add, status ...),
# and these lines make the package attribute the function, whatever was imported first.
from himo.api.add import AddResult, add, commit
from himo.api.checkout import CheckoutResult, checkout
from himo.api.config import add_remote, set_config
from himo.api.fsck import FsckResult, fsck
from himo.api.gc import GcPlan, Scopes, plan_gc, run_gc
from himo.api.history import Lineage, LineageResult, RunDetail, RunSummary, lineage, run_show, runs
from himo.api.init import init
from himo.api.metrics import metrics_diff, metrics_show
from himo.api.openlineage import export_openlineage
from himo.api.params import params_diff
from himo.api.release import (
    export_artifact,
    live_release,
    release,
    releases,
    releases_from_tags,
    rollback,
    where,
)
from himo.api.remove import remove, unprotect
from himo.api.repro import ReproOptions, StageResult, repro
from himo.api.stage import StageSpec, add_stage
from himo.api.status import TargetStatus, status
from himo.api.transfer import TransferResult, fetch, pull, push
from himo.workspace.repo import Repo

__all__ = [
    "AddResult",
    "CheckoutResult",
    "FsckResult",
    "GcPlan",
    "Lineage",
    "LineageResult",
    "Repo",
    "ReproOptions",
    "RunDetail",
    "RunSummary",
    "Scopes",
    "StageResult",
    "StageSpec",
    "TargetStatus",
    "TransferResult",
    "add",
    "add_remote",
    "add_stage",
    "checkout",
    "commit",
    "export_artifact",
    "export_openlineage",
    "fetch",
    "fsck",
    "init",
    "lineage",
    "live_release",
    "metrics_diff",
    "metrics_show",
    "params_diff",
    "plan_gc",
    "pull",
    "push",
    "release",
    "releases",
    "releases_from_tags",
    "remove",
    "repro",
    "rollback",
    "run_gc",
    "run_show",
    "runs",
    "set_config",
    "status",
    "unprotect",
    "where",
]
