"""Reading the pipeline's text files (himo.yaml, himo.lock, params files) as UTF-8."""

from __future__ import annotations

from pathlib import Path

from himo.errors import PipelineError


def read_text(path: Path, name: str, fix: str) -> str:
    """The text of `path`; PipelineError naming `name` if it is not readable UTF-8 text
    (FileNotFoundError is left to the caller, for whom a missing file often means "empty")."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{name}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x})",
                            fix) from exc
    except OSError as exc:
        raise PipelineError(f"{name}: cannot read: {exc.strerror or exc}", fix) from exc
