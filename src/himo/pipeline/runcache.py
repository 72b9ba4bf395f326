"""The run-cache: outputs of every successful stage run, keyed by what the run read.

Key = blake3 of (cmd, dep digests, param values, output paths). If a stage is about to run
with a key seen before (say after `git checkout` of an older commit), its outputs are
restored from the cache instead. Entries live in `.himo/runs/ab/cdef...` as JSON.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from himo.model.stage import DepState, Stage
from himo.objects.hashing import hash_bytes
from himo.workspace.atomic import write_text_atomic


def run_key(stage: Stage, deps: tuple[DepState, ...], params: dict[str, dict[str, Any]]) -> str:
    doc = {
        "cmd": list(stage.cmd),
        "wdir": stage.wdir,
        "deps": sorted([d.path, d.digest] for d in deps),
        "params": params,
        "outs": sorted([o.path, o.cache] for o in stage.outs),
    }
    return hash_bytes(json.dumps(doc, sort_keys=True, default=str).encode())


class RunCache:
    def __init__(self, root: Path) -> None:
        self.root = root  # .himo/runs

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / key[2:]

    def get(self, key: str) -> list[DepState] | None:
        try:
            doc = json.loads(self._file(key).read_text(encoding="utf-8"))
            return [DepState(o["path"], o["digest"], o["size"], o.get("nfiles")) for o in doc["outs"]]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, stage: Stage, outs: tuple[DepState, ...]) -> None:
        file = self._file(key)
        file.parent.mkdir(parents=True, exist_ok=True)
        outs_doc = [{"path": o.path, "digest": o.digest, "size": o.size, "nfiles": o.nfiles} for o in outs]
        doc = {"stage": stage.name, "recorded_at": time.time(), "outs": outs_doc}
        write_text_atomic(file, json.dumps(doc, indent=1))
