"""`himo params diff`: parameter values the pipeline uses, between two revisions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from himo.api.revisions import Revision, revision
from himo.pipeline.params import DEFAULT_PARAMS, flatten, parse_params_text
from himo.workspace.repo import Repo


@dataclass(frozen=True)
class ValueChange:
    path: str  # params or metrics file, repository-relative
    key: str  # dotted key
    old: Any  # value at the first revision (None: absent)
    new: Any  # value at the second revision (None: absent)

    @property
    def delta(self) -> float | None:
        """new - old for numbers, else None."""
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.old, self.new))
        return round(self.new - self.old, 12) if numbers else None  # 0.85 - 0.8 prints as 0.05


def params_used(rev: Revision) -> dict[str, set[str] | None]:
    """{params file: keys} the stages read (None: every key); params.yaml if no stage says."""
    used: dict[str, set[str] | None] = {}
    for stage in rev.stages():
        for ref in stage.params:
            if not ref.keys:
                used[ref.file] = None
            elif used.get(ref.file, set()) is not None:
                used.setdefault(ref.file, set()).update(ref.keys)  # type: ignore[union-attr]
    if not used and rev.read(DEFAULT_PARAMS) is not None:
        used[DEFAULT_PARAMS] = None
    return used


def read_values(rev: Revision, path: str) -> dict[str, Any]:
    """Flattened values of a params/metrics file at `rev` ({} if absent)."""
    text = rev.read(path)
    return flatten(parse_params_text(text, path)) if text is not None else {}


def compare(a: Revision, b: Revision, files: dict[str, set[str] | None],
            show_all: bool) -> list[ValueChange]:
    rows = []
    for path in sorted(files):
        old, new = read_values(a, path), read_values(b, path)
        keys = files[path] if files[path] is not None else set(old) | set(new)
        for key in sorted(keys):  # type: ignore[arg-type]
            before, after = old.get(key), new.get(key)
            if show_all or before != after:
                rows.append(ValueChange(path, key, before, after))
    return rows


def params_diff(repo: Repo, a_rev: str | None = "HEAD", b_rev: str | None = None,
                show_all: bool = False) -> list[ValueChange]:
    """Params the pipeline uses, `a_rev` (default HEAD) against `b_rev` (default the workspace)."""
    a, b = revision(repo, a_rev), revision(repo, b_rev)
    files = params_used(a)
    for path, keys in params_used(b).items():
        known = files.get(path, set())
        files[path] = None if keys is None or known is None else known | keys
    return compare(a, b, files, show_all)
