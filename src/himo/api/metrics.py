"""`himo metrics show` / `himo metrics diff`: values in the stages' metrics files."""

from __future__ import annotations

from himo.api.params import ValueChange, compare, read_values
from himo.api.revisions import Revision, revision
from himo.workspace.repo import Repo


def metrics_files(rev: Revision) -> list[str]:
    """Outputs declared under `metrics:` by the stages at `rev`."""
    return sorted({o.path for s in rev.stages() for o in s.outs if o.role == "metrics"})


def metrics_show(repo: Repo, rev: str | None = None) -> list[ValueChange]:
    """Every metric now (or at `rev`): rows with `new` set and `old` None."""
    at = revision(repo, rev)
    return [ValueChange(path, key, None, value)
            for path in metrics_files(at) for key, value in sorted(read_values(at, path).items())]


def metrics_diff(repo: Repo, a_rev: str | None = "HEAD", b_rev: str | None = None,
                 show_all: bool = False) -> list[ValueChange]:
    """Metrics at `a_rev` (default HEAD) against `b_rev` (default the workspace)."""
    a, b = revision(repo, a_rev), revision(repo, b_rev)
    files = dict.fromkeys(set(metrics_files(a)) | set(metrics_files(b)))
    return compare(a, b, files, show_all)  # type: ignore[arg-type]
