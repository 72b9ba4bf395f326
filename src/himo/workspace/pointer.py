"""Pointer files: `PATH.himo` records what PATH should contain, and lives in git.

    # himo pointer: data.csv is tracked by content; commit this file to git.
    path: data.csv          # the target, relative to this file's folder
    hash: blake3            # digest algorithm
    digest: 9f86d08...      # 64 hex; for a directory, the digest of its manifest object
    size: 1048576           # bytes (a directory: all its files together)
    nfiles: 20000           # directories only: number of files
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from himo.errors import PointerError
from himo.model import HASH_ALGORITHM, HashInfo, is_digest
from himo.model.paths import ABSOLUTE, GOES_UP, path_problem
from himo.workspace.atomic import write_text_atomic
from himo.workspace.repo import HIMO_DIR

SUFFIX = ".himo"
SUPPORTED_ALGORITHMS = {HASH_ALGORITHM}
FIELDS = ("path", "hash", "digest", "size", "nfiles")
CONFLICT_MARK = "<<<<<<< "
FIX = "restore it with `git checkout -- {file}` or re-create it with `himo add`"

# A line of a pointer as himo writes it: `key: value`, the value one that YAML reads as this
# same string or integer. Such pointers are read without importing yaml (about 19 ms, a tenth
# of `himo status` on 20,000 files); anything else goes through the YAML parser.
PLAIN_STR = r"[A-Za-z_][A-Za-z0-9_.\-]*"
PLAIN_LINE = re.compile(rf"(path|hash|digest|size|nfiles): ({PLAIN_STR}|[0-9a-f]{{64}}|0|[1-9][0-9]*)")
YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}  # not plain strings


@dataclass(frozen=True, slots=True)
class Pointer:
    """The parsed contents of one pointer file."""

    file: Path  # absolute path of the PATH.himo file
    target: Path  # absolute path of the tracked file or directory
    hash_info: HashInfo


def pointer_file_for(target: Path) -> Path:
    return target.with_name(target.name + SUFFIX)


def load_pointer(file: Path, root: Path) -> Pointer:
    """Read and validate a pointer file; PointerError naming the file and field."""
    rel = _display(file, root)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PointerError(f"{rel}: no such pointer file", "run `himo add PATH` to track PATH") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PointerError(f"{rel}: cannot read: {exc}", FIX.format(file=rel)) from exc
    return parse_pointer(text, file, root)


def parse_pointer(text: str, file: Path, root: Path) -> Pointer:
    """Validate pointer text that claims to be `file` (from disk or from a git commit)."""
    rel = _display(file, root)
    doc = _parse_yaml(text, rel)
    return Pointer(file, _target(doc, file, root, rel), _hash_info(doc, rel))


def _parse_plain(text: str) -> dict[str, Any] | None:
    """The fields of a pointer in himo's own plain layout; None if it is anything else."""
    doc: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = PLAIN_LINE.fullmatch(line)
        if match is None or match[1] in doc or match[2].lower() in YAML_WORDS:
            return None
        key, value = match[1], match[2]
        doc[key] = int(value) if value.isdigit() and not (key == "digest" and len(value) == 64) else value
    return doc or None


def _parse_yaml(text: str, rel: str) -> dict[str, Any]:
    _refuse_conflict(text, rel)
    plain = _parse_plain(text)
    doc = plain if plain is not None else _load_yaml(text, rel)
    if not isinstance(doc, dict):
        raise PointerError(f"{rel}: expected a YAML mapping of {', '.join(FIELDS)}", FIX.format(file=rel))
    unknown = sorted((key for key in doc if key not in FIELDS), key=str)  # keys may be any YAML scalar
    if unknown:
        raise PointerError(f"{rel}: unknown field {unknown[0]!r}", FIX.format(file=rel))
    return doc


def _load_yaml(text: str, rel: str) -> Any:
    import yaml

    from himo.workspace import yamlload

    try:
        return yamlload.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "bad syntax"
        raise PointerError(f"{rel}: invalid YAML{where}: {problem}", FIX.format(file=rel)) from exc


def _refuse_conflict(text: str, rel: str) -> None:
    """A pointer that git could not merge: say so, rather than report bad YAML."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(CONFLICT_MARK):
            raise PointerError(
                f"{rel}: unresolved git merge conflict (line {number})",
                f"keep one side (`git checkout --ours -- {rel}` or `--theirs`), then `himo checkout`",
            )


def _field(doc: dict[str, Any], name: str, kind: type, rel: str) -> Any:
    if name not in doc:
        raise PointerError(f"{rel}: missing field {name!r}", FIX.format(file=rel))
    value = doc[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PointerError(
            f"{rel}: field {name!r} must be {kind.__name__}, not {value!r}", FIX.format(file=rel)
        )
    return value


def _hash_info(doc: dict[str, Any], rel: str) -> HashInfo:
    algorithm = _field(doc, "hash", str, rel)
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise PointerError(
            f"{rel}: unknown hash algorithm {algorithm!r} (this himo knows: blake3)",
            "upgrade himo, or re-create the pointer with `himo add`",
        )
    digest = _field(doc, "digest", str, rel)
    if not is_digest(digest):
        raise PointerError(
            f"{rel}: malformed digest {digest!r} (expected 64 lower-case hex characters)",
            FIX.format(file=rel),
        )
    size = _field(doc, "size", int, rel)
    nfiles = _field(doc, "nfiles", int, rel) if "nfiles" in doc else None
    if size < 0 or (nfiles is not None and nfiles < 0):
        raise PointerError(f"{rel}: size and nfiles must not be negative", FIX.format(file=rel))
    return HashInfo(digest, size, nfiles, algorithm)


def _target(doc: dict[str, Any], file: Path, root: Path, rel: str) -> Path:
    raw = _field(doc, "path", str, rel)
    problem = path_problem(raw)
    if problem in (ABSOLUTE, GOES_UP) or raw.startswith("~"):
        problem = "escapes the repository (must be relative, without '..')"
    if problem is not None:
        raise PointerError(f"{rel}: path {_quoted(raw)} {problem}", FIX.format(file=rel))
    target = file.parent / raw
    real = Path(os.path.realpath(target.parent)) / target.name
    if not real.is_relative_to(root):
        raise PointerError(
            f"{rel}: path {_quoted(raw)} resolves outside the repository through a symlink",
            FIX.format(file=rel),
        )
    _refuse_reserved(real.relative_to(root), raw, rel)
    return target


def _refuse_reserved(inside: PurePosixPath | Path, raw: str, rel: str) -> None:
    """Checkout replaces the target: it must not be himo's own folder or a pointer file."""
    if inside.parts[:1] == (HIMO_DIR,):
        raise PointerError(f"{rel}: path {_quoted(raw)} is inside {HIMO_DIR}/, which himo manages",
                           FIX.format(file=rel))
    if inside.name.endswith(SUFFIX):
        raise PointerError(f"{rel}: path {_quoted(raw)} names a pointer file, not tracked data",
                           FIX.format(file=rel))


def _quoted(text: str) -> str:
    """`text` quoted on one line, whatever it holds (repr escapes NUL, CR and LF)."""
    return repr(text if len(text) <= 200 else text[:200] + "...")


def dump_pointer(target: Path, info: HashInfo) -> str:
    lines = [
        f"# himo pointer: {target.name} is tracked by content; commit this file to git.",
        f"path: {_yaml_str(target.name)}",
        f"hash: {info.algorithm}",
        f"digest: {info.digest}",
        f"size: {info.size}",
    ]
    if info.nfiles is not None:
        lines.append(f"nfiles: {info.nfiles}")
    return "\n".join(lines) + "\n"


def _yaml_str(text: str) -> str:
    if re.fullmatch(PLAIN_STR, text) and text.lower() not in YAML_WORDS:
        return text
    import yaml

    return yaml.safe_dump(text, default_style=None, width=10**6).removesuffix("\n...\n").strip()


def write_pointer(target: Path, info: HashInfo) -> Path:
    file = pointer_file_for(target)
    write_text_atomic(file, dump_pointer(target, info))
    return file


def _display(file: Path, root: Path) -> str:
    try:
        return file.relative_to(root).as_posix()
    except ValueError:
        return str(file)
