"""Directory manifests: a tracked directory is one object listing its files.

Format (JSON, UTF-8, no whitespace, files sorted by path so equal trees give equal bytes):

    {"himo-manifest": 1, "hash": "blake3", "files": [["sub/a.csv", "<digest>", 4096], ...]}

The manifest's own digest names the directory, like a git tree. A manifest may come from anyone
(a remote, a pushed commit): every entry is validated when it is loaded, so nothing below ever
receives a path that leaves the directory (see himo.model.paths).
"""

from __future__ import annotations

import json
from typing import Any

from himo.errors import ManifestError
from himo.model import HASH_ALGORITHM, TreeEntry, all_digests, is_digest
from himo.model.paths import all_safe_paths, is_safe_path, name_problem, path_problem

FORMAT_VERSION = 1
HINT = "run `himo fsck`, or re-create the pointer with `himo add`"


def dump_manifest(entries: list[TreeEntry], where: str = "") -> bytes:
    """The manifest of `entries` (files of directory `where`, named in errors); ManifestError if a
    name could not be read back: a line break or carriage return, or bytes that are not UTF-8."""
    files = [[e.path, e.digest, e.size] for e in sorted(entries, key=lambda e: e.path)]
    doc = {"himo-manifest": FORMAT_VERSION, "hash": HASH_ALGORITHM, "files": files}
    try:
        if all_safe_paths([e.path for e in entries]):
            return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a name of bytes that are not UTF-8 (os gives them as surrogates)
        pass
    bad, problem = next((e.path, p) for e in entries if (p := path_problem(e.path) or name_problem(e.path)))
    shown = f"{where}/{bad}" if where else bad
    raise ManifestError(f"cannot track {shown!r}: its name {problem}",
                        "rename it, or list it in .himoignore")


def load_manifest(data: bytes, oid: str = "") -> list[TreeEntry]:
    """The entries of manifest object `oid`; ManifestError if it is not a valid one."""
    return [TreeEntry(path, digest, size) for path, digest, size in _files(data, oid)]


def manifest_digests(data: bytes, oid: str = "") -> dict[str, str]:
    """{path: digest} of a manifest, without building TreeEntry values (status on big trees)."""
    return {path: digest for path, digest, _size in _files(data, oid)}


def _files(data: bytes, oid: str) -> list[list[Any]]:
    """The validated `files` list: [path, digest, size] triples of a tree that cannot escape."""
    doc = _document(data, oid)
    files = doc.get("files")
    if not isinstance(files, list):
        raise _error(oid, "'files' must be a list of [path, digest, size]")
    if not _all_valid(files):
        index, entry = next((i, e) for i, e in enumerate(files) if not _valid_entry(e))
        raise _error(oid, f"entry {index + 1} {_entry_problem(entry)}")
    _refuse_overlaps(files, oid)
    return files


def _all_valid(files: list[Any]) -> bool:
    """Every entry valid, checked column by column in a few C calls: the 20,000 entries of a big
    tree are checked on every `himo status` (a few ms; entry by entry took 30)."""
    if not files:
        return True
    if set(map(type, files)) != {list} or set(map(len, files)) != {3}:
        return False
    paths, digests, sizes = zip(*files)  # noqa: B905 (every entry has 3 items: checked above)
    return (
        set(map(type, paths)) == {str} and set(map(type, digests)) == {str}
        and set(map(type, sizes)) == {int} and min(sizes) >= 0
        and all_digests(digests) and all_safe_paths(paths)
    )


def _document(data: bytes, oid: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict) or doc.get("himo-manifest") != FORMAT_VERSION:
        raise ManifestError(f"digest {oid[:12]} names a file, not a directory manifest", HINT)
    if doc.get("hash") != HASH_ALGORITHM:
        raise _error(oid, f"unknown hash algorithm {_short(doc.get('hash'))} (this himo knows: blake3)")
    return doc


def _valid_entry(entry: Any) -> bool:
    """The fast check, on every entry of every manifest read (20,000 on a big `himo status`)."""
    return (
        type(entry) is list and len(entry) == 3
        and type(entry[0]) is str and is_safe_path(entry[0])
        and type(entry[1]) is str and is_digest(entry[1])
        and type(entry[2]) is int and entry[2] >= 0
    )


def _entry_problem(entry: Any) -> str:
    """Why an entry that failed _valid_entry is wrong, for the message."""
    if not isinstance(entry, list) or len(entry) != 3:
        return f"is {_short(entry)}, not [path, digest, size]"
    path, digest, size = entry
    if not isinstance(path, str):
        return f"has path {_short(path)}, not a string"
    problem = path_problem(path)
    if problem is not None:
        return f"path {_short(path)} {problem}: entries must stay inside the directory"
    if not isinstance(digest, str) or not is_digest(digest):
        return f"has malformed digest {_short(digest)}"
    return f"has size {_short(size)}, not a non-negative integer"


def _refuse_overlaps(files: list[list[Any]], oid: str) -> None:
    """Two entries for one path, or a path that is both a file and a folder: no tree is like that."""
    paths = {entry[0] for entry in files}
    if len(paths) != len(files):
        seen: set[str] = set()
        twice = next(e[0] for e in files if e[0] in seen or seen.add(e[0]))  # type: ignore[func-returns-value]
        raise _error(oid, f"path {_short(twice)} is listed twice")
    folders = {path.rpartition("/")[0] for path in paths}  # the parents: few, so add their parents
    for folder in list(folders):
        while "/" in folder:
            folder = folder.rpartition("/")[0]
            folders.add(folder)
    both = folders & paths
    if both:
        raise _error(oid, f"path {_short(min(both))} is both a file and a folder")


def _short(value: Any) -> str:
    """`value` on one line (repr escapes line breaks), cut if long: it may be anything at all."""
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


def _error(oid: str, problem: str) -> ManifestError:
    return ManifestError(f"directory manifest {oid[:12]}: {problem}", HINT)
