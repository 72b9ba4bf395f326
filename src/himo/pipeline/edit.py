"""Writing stages into himo.yaml while keeping the file's comments and order (ruamel.yaml)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from himo.errors import PipelineError
from himo.pipeline.loader import PIPELINE_FILE


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def with_stage(root: Path, name: str, body: dict[str, Any], force: bool) -> str:
    """himo.yaml's new text with stage `name` set to `body` (not written yet)."""
    from ruamel.yaml.comments import CommentedMap

    path = root / PIPELINE_FILE
    yaml = _yaml()
    doc = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if doc is None:
        doc = CommentedMap()
    stages = doc.setdefault("stages", CommentedMap())
    if name in stages and not force:
        raise PipelineError(f"stage '{name}' already exists in {PIPELINE_FILE}",
                            "use -f to overwrite it, or choose another name with -n")
    stages[name] = CommentedMap(body)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
