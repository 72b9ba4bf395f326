"""Why a stage must run: comparing what it reads and writes now with himo.lock."""

from __future__ import annotations

from typing import Any

from himo.errors import PipelineError
from himo.model import HashInfo
from himo.model.stage import DepState, LockEntry, Stage
from himo.objects.tree import hash_path
from himo.pipeline.loader import PIPELINE_FILE
from himo.pipeline.params import load_params_file, lookup
from himo.workspace.ignore import ignored_in
from himo.workspace.repo import Repo


class Snapshot:
    """Digests of paths and values of params as they are now, each computed once."""

    def __init__(self, repo: Repo, jobs: int | None = None) -> None:
        self.repo = repo
        self.ingester = repo.ingester(jobs)
        self._paths: dict[str, HashInfo | None] = {}
        self._inside: dict[str, set[str]] = {}  # folder -> known paths below it
        self._params: dict[str, dict[str, Any]] = {}

    def path(self, path: str) -> DepState:
        if path not in self._paths:
            full = self.repo.root / path
            self._know(path, hash_path(self.ingester, full, ignored_in(self.repo.root, full)))
        info = self._paths[path]
        return DepState(path, None) if info is None else DepState(path, info.digest, info.size, info.nfiles)

    def pretend_changed(self, path: str) -> None:
        """`repro --dry`: the stages below see `path` as changed, as if its stage had run."""
        self.forget(path)
        self._know(path, HashInfo("0" * 64, 0))

    def _know(self, path: str, info: HashInfo | None) -> None:
        self._paths[path] = info
        folder = path
        while "/" in folder:
            folder = folder.rsplit("/", 1)[0]
            self._inside.setdefault(folder, set()).add(path)

    def forget(self, path: str) -> None:
        """A stage rewrote `path`: hash it again next time (and anything inside it). Costs what
        `path` holds, not what is known (a stage's outputs are forgotten after each run)."""
        for known in [path, *self._inside.pop(path, ())]:
            self._paths.pop(known, None)

    def params(self, stage: Stage) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for ref in stage.params:
            data = self._params_file(ref.file, stage)
            if not ref.keys:
                values[ref.file] = dict(data)
                continue
            values[ref.file] = {}
            for key in ref.keys:
                try:
                    values[ref.file][key] = lookup(data, key)
                except KeyError:  # names only the key, which the message names too
                    raise PipelineError(
                        f"{PIPELINE_FILE}:{stage.line}: stage '{stage.name}': params key {key!r}"
                        f" not found in {ref.file}", f"add {key} to {ref.file}, or remove it from the stage",
                    ) from None
        return values

    def _params_file(self, name: str, stage: Stage) -> dict[str, Any]:
        if name not in self._params:
            path = self.repo.root / name
            if not path.exists():
                raise PipelineError(f"{PIPELINE_FILE}:{stage.line}: stage '{stage.name}': params file"
                                    f" {name} does not exist", f"create {name}")
            self._params[name] = load_params_file(path, name)
        return self._params[name]

    def deps(self, stage: Stage) -> tuple[DepState, ...]:
        return tuple(self.path(d) for d in stage.deps)

    def outs(self, stage: Stage) -> tuple[DepState, ...]:
        return tuple(self.path(o.path) for o in stage.outs)


def reasons_to_run(stage: Stage, entry: LockEntry | None, snap: Snapshot) -> list[str]:
    """Why `stage` is stale ([] if up to date). Frozen stages are never stale."""
    if stage.frozen:
        return []
    params = snap.params(stage)  # also validates: a missing key is an error even on a first run
    if entry is None:
        return ["never ran"]
    reasons = ["always_changed"] if stage.always_changed else []
    if entry.cmd != stage.cmd:
        reasons.append("cmd changed")
    reasons += _compare("dep", {d.path: d for d in entry.deps}, snap.deps(stage))
    reasons += _compare_params(entry.params, params)
    reasons += _compare("out", {o.path: o for o in entry.outs}, snap.outs(stage))
    return reasons


def _compare(label: str, recorded: dict[str, DepState], now: tuple[DepState, ...]) -> list[str]:
    reasons = []
    for state in now:
        old = recorded.get(state.path)
        if old is None:
            reasons.append(f"new {label} {state.path}")
        elif state.digest is None:
            reasons.append(f"{label} {state.path} missing")
        elif old.digest != state.digest:
            reasons.append(f"{label} {state.path} changed")
    reasons += [f"{label} {p} removed from stage" for p in recorded if p not in {s.path for s in now}]
    return reasons


def _compare_params(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    reasons = []
    for file, values in new.items():
        for key, value in values.items():
            before = old.get(file, {}).get(key, "<unset>")
            if before != value:
                reasons.append(f"param {key} changed ({before!r} -> {value!r})")
    return reasons
