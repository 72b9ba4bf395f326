"""What the dashboard reads from the repository it was started in (none with only --meta-url):
metrics values from the cache by digest, and the tail of a stage's log.

Paths come from the store, not from the request, and are still checked to stay inside the
repository: a store shared by a team could name any path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from himo.pipeline.params import read_metrics
from himo.ui.data import DIGEST
from himo.workspace.repo import Repo

LOG_TAIL_BYTES = 64 * 1024


def metrics_values(repo: Repo | None, digest: str, path: str) -> dict[str, Any] | None:
    """{dotted key: value} of the metrics file with this digest, from the cache (None: not there)."""
    if repo is None or not DIGEST.fullmatch(digest):
        return None
    return read_metrics(repo.odb.path(digest), path)


def log_tail(repo: Repo | None, log: str | None) -> str | None:
    """The last 64 KiB of a stage's log, if it is a file inside the repository."""
    if repo is None or not log:
        return None
    root = Path(os.path.realpath(repo.root))
    path = Path(os.path.realpath(root / log))
    if not path.is_relative_to(root) or not path.is_file():
        return None
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
        return f.read().decode("utf-8", errors="replace")
