"""What the dashboard reads from the repository it was started in (none with only --meta-url):
metrics values from the cache by digest (logs: himo.api.history.execution_log, which never opens
a path outside the repository).
"""

from __future__ import annotations

from typing import Any

from himo.model import is_digest
from himo.pipeline.params import read_metrics
from himo.workspace.repo import Repo


def metrics_values(repo: Repo | None, digest: str, path: str) -> dict[str, Any] | None:
    """{dotted key: value} of the metrics file with this digest, from the cache (None: not there)."""
    if repo is None or not is_digest(digest):
        return None
    return read_metrics(repo.odb.path(digest), path)
