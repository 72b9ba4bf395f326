"""Which `.gitignore` lines himo may take back: a target's `/name` line goes only when nothing else
still keeps that path out of git. Another owner may be himo's (a pointer, a cached stage output)
or DVC's (a `PATH.dvc` file, an output in dvc.yaml or dvc.lock): DVC writes the very same lines,
and a migrated project keeps them."""

from __future__ import annotations

from pathlib import Path

from himo.errors import HimoError
from himo.pipeline.loader import parse_stages
from himo.workspace.dvc import DVC_SUFFIX, LOCK_FILE, PIPELINE_FILE, parse_dvc_lock
from himo.workspace.gitignore import unignore_target
from himo.workspace.pointer import SUFFIX
from himo.workspace.repo import Repo


def release_ignore(repo: Repo, target: Path, *, pointer: bool = True,
                   stage: str | None = None) -> Path | None:
    """Remove target's line from its folder's .gitignore unless another owner keeps it: the
    pointer (unless `pointer` is False: it is the owner going away), a cached output of a stage
    other than `stage`, or DVC. The .gitignore changed, or None."""
    rel = repo.rel(target)
    if pointer and (target.parent / (target.name + SUFFIX)).exists():
        return None
    if (target.parent / (target.name + DVC_SUFFIX)).exists():  # DVC's pointer
        return None
    outputs = _stage_outputs(repo, stage)
    if outputs is None or rel in outputs or rel in dvc_outputs(repo):
        return None
    return unignore_target(target)


def _stage_outputs(repo: Repo, leaving: str | None) -> set[str] | None:
    """Cached outputs of the stages but `leaving`; None if himo.yaml cannot be read (it may name
    the path: the line stays)."""
    from himo.pipeline.loader import load_stages

    try:
        return {o.path for s in load_stages(repo.root) if s.name != leaving for o in s.outs if o.cache}
    except HimoError:
        return None


def dvc_outputs(repo: Repo) -> set[str]:
    """The outputs of dvc.yaml (read as himo.yaml is: its schema is a superset) and of dvc.lock,
    repository-relative: DVC keeps them out of git. Unreadable or absent files name nothing."""
    try:
        stages = parse_stages(repo.root, (repo.root / PIPELINE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, HimoError):
        stages = []
    found = {o.path for s in stages for o in s.outs}
    try:
        lock = parse_dvc_lock((repo.root / LOCK_FILE).read_text(encoding="utf-8"),
                              {s.name: s.wdir for s in stages})
    except (OSError, UnicodeDecodeError, HimoError):
        lock = {}
    return found | {o.path for stage in lock.values() for o in stage.outs}
