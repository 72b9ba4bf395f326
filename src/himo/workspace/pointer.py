"""Pointer files: `PATH.himo` records what PATH should contain, and lives in git.

    # himo pointer: data.csv is tracked by content; commit this file to git.
    path: data.csv          # the target, relative to this file's folder
    hash: blake3            # digest algorithm
    digest: 9f86d08...      # 64 hex; for a directory, the digest of its manifest object
    size: 1048576           # bytes (a directory: all its files together)
    nfiles: 20000           # directories only: number of files

An import (`himo import`, or a DVC import converted by `himo migrate dvc`) also records where the
bytes came from; `himo update` moves it to a newer commit, unless it is frozen:

    source_url: https://github.com/org/registry   # the git repository it was imported from
    source_path: data/data.xml                    # the path in that repository
    source_rev: main                              # what was asked for (absent: the default branch)
    source_commit: 0f3a...                        # 40 hex: the commit the bytes were read at
    frozen: true                                  # absent or false: `himo update` may move it
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
SOURCE_FIELDS = ("source_url", "source_path", "source_rev", "source_commit", "frozen")
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
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
    source: ImportSource | None = None  # set for an import from another repository


@dataclass(frozen=True, slots=True)
class ImportSource:
    """Where an imported file or directory comes from."""

    url: str  # the git repository (URL or local folder)
    path: str  # the path in that repository
    rev: str | None  # the branch or tag asked for; None: the repository's default branch
    commit: str  # 40 hex: the commit the bytes were read at
    frozen: bool = False  # `himo update` leaves it alone


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
    return Pointer(file, _target(doc, file, root, rel), _hash_info(doc, rel), _source(doc, rel))


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
    known = FIELDS + SOURCE_FIELDS
    unknown = sorted((key for key in doc if key not in known), key=str)  # keys may be any YAML scalar
    if unknown:
        raise PointerError(f"{rel}: unknown field {unknown[0]!r}", FIX.format(file=rel))
    return doc


def _load_yaml(text: str, rel: str) -> Any:
    import yaml

    from himo.workspace import yamlload

    try:
        return yamlload.load(text)
    except yaml.YAMLError as exc:
        raise PointerError(f"{rel}: {yamlload.invalid(exc)}", FIX.format(file=rel)) from exc


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


def _source(doc: dict[str, Any], rel: str) -> ImportSource | None:
    if not any(key in doc for key in SOURCE_FIELDS):
        return None
    url, path = _field(doc, "source_url", str, rel), _field(doc, "source_path", str, rel)
    commit = _field(doc, "source_commit", str, rel)
    if not COMMIT_RE.fullmatch(commit):
        raise PointerError(f"{rel}: source_commit {commit!r} is not a 40-hex commit id", FIX.format(file=rel))
    problem = path_problem(path)
    if problem is not None:
        raise PointerError(f"{rel}: source_path {_quoted(path)} {problem}", FIX.format(file=rel))
    rev = _field(doc, "source_rev", str, rel) if doc.get("source_rev") is not None else None
    frozen = doc.get("frozen", False)
    if not isinstance(frozen, bool):
        raise PointerError(f"{rel}: field 'frozen' must be true or false, not {frozen!r}",
                           FIX.format(file=rel))
    return ImportSource(url, path, rev, commit, frozen)


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


def dump_pointer(target: Path, info: HashInfo, source: ImportSource | None = None) -> str:
    lines = [
        f"# himo pointer: {target.name} is tracked by content; commit this file to git.",
        f"path: {_yaml_str(target.name)}",
        f"hash: {info.algorithm}",
        f"digest: {info.digest}",
        f"size: {info.size}",
    ]
    if info.nfiles is not None:
        lines.append(f"nfiles: {info.nfiles}")
    if source is not None:
        lines += [f"source_url: {_yaml_str(source.url)}", f"source_path: {_yaml_str(source.path)}"]
        lines += [f"source_rev: {_yaml_str(source.rev)}"] if source.rev else []
        lines += [f"source_commit: {_yaml_str(source.commit)}"] + (["frozen: true"] if source.frozen else [])
    return "\n".join(lines) + "\n"


def _yaml_str(text: str) -> str:
    if re.fullmatch(PLAIN_STR, text) and text.lower() not in YAML_WORDS:
        return text
    import yaml

    return yaml.safe_dump(text, default_style=None, width=10**6).removesuffix("\n...\n").strip()


def write_pointer(target: Path, info: HashInfo, source: ImportSource | None = None) -> Path:
    file = pointer_file_for(target)
    write_text_atomic(file, dump_pointer(target, info, source))
    return file


def _display(file: Path, root: Path) -> str:
    try:
        return file.relative_to(root).as_posix()
    except ValueError:
        return str(file)
