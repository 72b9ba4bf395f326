"""Atomic text writes: a reader sees the old file or the new one, never half of one.

The rename makes a write atomic against a crash or kill of himo itself. No fsync: it
costs 5-20 ms per file on ext4, paid on every stage of a pipeline, and the files written
here (pointers, himo.lock, config) are in git or can be rebuilt by running again.
"""

from __future__ import annotations

import os
from pathlib import Path

from himo.objects.leftovers import stale_beside
from himo.objects.links import tmp_name


def write_text_atomic(path: Path, text: str) -> None:
    tmp = tmp_name(str(path))
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def drop_stale_temps(path: Path) -> None:
    """Delete the temp files that killed writes of `path` left beside it (their process gone),
    for a file whose folder no other command cleans (a live writer's stay)."""
    for stale in stale_beside(str(path.parent), {path.name}):
        os.unlink(stale)
