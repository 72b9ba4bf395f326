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

import importlib
import sys
import types

# What the package exports, and the module each name lives in. Loaded on first use: a command
# imports only the modules it needs (`himo status` never loads releases or OpenLineage).
MODULES = {  # module of himo.api -> the names it exports
    "add": "AddResult add commit",
    "checkout": "CheckoutResult checkout",
    "config": "add_remote set_config",
    "delivery": "export_artifact where",
    "fsck": "FsckResult fsck",
    "gc": "GcPlan Scopes plan_gc run_gc",
    "history": "Lineage LineageResult RunDetail RunSummary lineage run_show runs",
    "imports": "ImportResult get import_ update",
    "init": "init",
    "metrics": "metrics_diff metrics_show",
    "migrate_dvc": "MigrateResult migrate_dvc",
    "openlineage": "export_openlineage",
    "params": "params_diff",
    "plots": "plots_diff plots_show run_plots",
    "release": "live_release release releases releases_from_tags rollback",
    "remove": "remove unprotect",
    "repro": "ReproOptions StageResult repro",
    "stage": "StageSpec add_stage",
    "status": "TargetStatus status",
    "transfer": "TransferResult fetch pull push",
    "himo.workspace.repo": "Repo",
}
EXPORTS = {name: module for module, names in MODULES.items() for name in names.split()}
__all__ = sorted(EXPORTS)


class _Api(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        if name not in EXPORTS:
            raise AttributeError(f"module 'himo.api' has no attribute {name!r}")
        module = EXPORTS[name]
        value = getattr(importlib.import_module(module if "." in module else f"himo.api.{module}"), name)
        super().__setattr__(name, value)
        return value

    def __setattr__(self, name: str, value: object) -> None:
        # Importing himo.api.add makes the import system set the package attribute `add` to that
        # module; several modules share their function's name, and the function is what users mean.
        if name in EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Api
