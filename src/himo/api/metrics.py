"""`himo metrics show` / `himo metrics diff`: the values in the stages' metrics files.

    from himo import api
    from himo.api.metrics import metrics_diff, metrics_show
    repo = api.Repo.find()
    metrics_show(repo)                     # {"metrics.json": {"acc": 0.85, "loss.val": 0.25}}
    for c in metrics_diff(repo, "HEAD~1"):
        print(c.path, c.key, c.old, c.new, c.delta)
"""

from __future__ import annotations

from typing import Any

from himo.api.params import ValueChange, compare, read_values
from himo.api.revisions import Revision, revision
from himo.workspace.repo import Repo


def metrics_files(rev: Revision) -> list[str]:
    """The outputs the stages at `rev` declare under `metrics:`, and the files of top-level
    `metrics` (repository-relative, sorted)."""
    pipeline = rev.pipeline()
    declared = (o.path for s in pipeline.stages for o in s.outs if o.role == "metrics")
    return sorted({*pipeline.metrics, *declared})


def metrics_show(repo: Repo, rev: str | None = None) -> dict[str, dict[str, Any] | None]:
    """{metrics file: {dotted key: value}} in the workspace (or at git revision `rev`, where a cached
    output is read from the cache through that revision's himo.lock), for every metrics file of
    himo.yaml; None for a file that does not exist (its stage has not run).
    Raises PipelineError for a file that does not parse."""
    at = revision(repo, rev)
    return {path: read_values(at, path) for path in metrics_files(at)}


def metrics_diff(repo: Repo, a_rev: str = "HEAD", b_rev: str | None = None,
                 show_all: bool = False) -> list[ValueChange]:
    """Metrics at git revision `a_rev` against `b_rev` (None: the workspace); only changed values
    unless `show_all`. The metrics files are those declared in himo.yaml at either revision; a file
    missing at one of them gives None values there. `ValueChange.delta` is new - old for numbers.
    Raises ScmError for an unknown revision or without git, PipelineError for a file that does not
    parse."""
    a, b = revision(repo, a_rev), revision(repo, b_rev)
    files = dict.fromkeys({*metrics_files(a), *metrics_files(b)})
    return compare(a, b, files, show_all)
