"""`himo params diff`: the parameter values the pipeline uses, between two revisions.

    from himo import api
    from himo.api.params import params_diff
    for c in params_diff(api.Repo.find(), "HEAD~1", "HEAD"):
        print(c.path, c.key, c.old, c.new)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from himo.api.revisions import Revision, revision
from himo.pipeline.params import DEFAULT_PARAMS, flatten, lookup, parse_params_text
from himo.workspace.repo import Repo

# params or metrics file -> the dotted keys to compare in it (None: every key of the file)
Selection = dict[str, set[str] | None]


@dataclass(frozen=True)
class ValueChange:
    """One key of a params or metrics file, at two revisions."""

    path: str  # params or metrics file, repository-relative POSIX path
    key: str  # dotted key, `train.lr`
    old: Any  # value at the first revision (None: absent there)
    new: Any  # value at the second revision (None: absent there)

    @property
    def delta(self) -> int | float | None:
        """new - old when both are numbers (not booleans), else None."""
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (self.old, self.new)):
            return None
        return round(self.new - self.old, 12)  # 0.85 - 0.8 is 0.05, not 0.04999999999999993


def params_used(rev: Revision) -> Selection:
    """{params file: keys} the stages at `rev` read, and every key of the files top-level `params`
    lists; all of params.yaml when none names any."""
    pipeline = rev.pipeline()
    used: Selection = dict.fromkeys(pipeline.params)
    for stage in pipeline.stages:
        for ref in stage.params:
            keys = used.get(ref.file, set())
            used[ref.file] = None if keys is None or not ref.keys else keys | set(ref.keys)
    if not used and rev.read(DEFAULT_PARAMS) is not None:
        used[DEFAULT_PARAMS] = None
    return used


def merge(a: Selection, b: Selection) -> Selection:
    """The files and keys of both selections (None, every key, wins)."""
    merged = dict(a)
    for path, keys in b.items():
        known = merged.get(path, set())
        merged[path] = None if keys is None or known is None else known | keys
    return merged


def read_values(rev: Revision, path: str, keys: set[str] | None = None) -> dict[str, Any] | None:
    """{dotted key: value} of a params or metrics file (JSON, YAML or TOML) at `rev`: every leaf, or
    those under `keys` (a key naming a section brings its leaves). None if the file is absent. At a
    commit, a file that git does not hold is read from the cache through that commit's himo.lock."""
    text = rev.read_data(path)
    if text is None:
        return None
    with rev.naming():
        data = parse_params_text(text, path)
    if keys is None:
        return flatten(data)
    picked: dict[str, Any] = {}
    for key in sorted(keys):
        try:
            picked.update(flatten(lookup(data, key), key))
        except KeyError:
            continue  # absent at this revision: shown as None
    return picked


def compare(a: Revision, b: Revision, files: Selection, show_all: bool = False) -> list[ValueChange]:
    """The values of `files` at `a` against `b`, sorted by file and key; only the changed ones
    unless `show_all`."""
    rows = []
    for path in sorted(files):
        old = read_values(a, path, files[path]) or {}
        new = read_values(b, path, files[path]) or {}
        for key in sorted(set(old) | set(new)):
            before, after = old.get(key), new.get(key)
            if show_all or before != after:
                rows.append(ValueChange(path, key, before, after))
    return rows


def params_diff(repo: Repo, a_rev: str = "HEAD", b_rev: str | None = None,
                show_all: bool = False) -> list[ValueChange]:
    """Parameters the pipeline uses, at git revision `a_rev` against `b_rev` (None: the workspace).

    The files and keys are those the stages list in himo.yaml at either revision (all of params.yaml
    when none lists any). Only changed values, unless `show_all`, which also brings every other key
    of those files. Raises ScmError for an unknown revision or without git, PipelineError for a
    file that does not parse.
    """
    a, b = revision(repo, a_rev), revision(repo, b_rev)
    files = merge(params_used(a), params_used(b))
    if show_all:
        files = dict.fromkeys(files)
    return compare(a, b, files, show_all)
