"""Which `.gitignore` lines himo may take back: a target's `/name` line goes only when nothing else
still keeps that path out of git. Another owner may be himo's (a pointer, a cached stage output)
or DVC's (a `PATH.dvc` file, an output in dvc.yaml or dvc.lock): DVC writes the very same lines,
and a migrated project keeps them."""

from __future__ import annotations

from pathlib import Path

from himo.errors import HimoError
from himo.pipeline.dvcfiles import dvc_outputs
from himo.workspace.gitignore import unignore_target
from himo.workspace.pointer import SUFFIX
from himo.workspace.repo import Repo

DVC_SUFFIX = ".dvc"


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
    if outputs is None or rel in outputs or rel in dvc_outputs(repo.root):
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
