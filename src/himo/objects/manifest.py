"""Directory manifests: a tracked directory is one object listing its files.

Format (JSON, UTF-8, no whitespace, files sorted by path so equal trees give equal bytes):

    {"himo-manifest": 1, "hash": "blake3", "files": [["sub/a.csv", "<digest>", 4096], ...]}

The manifest's own digest names the directory, like a git tree.
"""

from __future__ import annotations

import json

from himo.model import HASH_ALGORITHM, TreeEntry

FORMAT_VERSION = 1


def dump_manifest(entries: list[TreeEntry]) -> bytes:
    files = [[e.path, e.digest, e.size] for e in sorted(entries, key=lambda e: e.path)]
    doc = {"himo-manifest": FORMAT_VERSION, "hash": HASH_ALGORITHM, "files": files}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def load_manifest(data: bytes) -> list[TreeEntry]:
    """Parse a manifest; ValueError if it is not one."""
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("himo-manifest") != FORMAT_VERSION:
        raise ValueError("not a himo directory manifest")
    return [TreeEntry(path, digest, size) for path, digest, size in doc["files"]]


def manifest_digests(data: bytes) -> dict[str, str]:
    """{path: digest} of a manifest, without building TreeEntry values (status on big trees)."""
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("himo-manifest") != FORMAT_VERSION:
        raise ValueError("not a himo directory manifest")
    return {path: digest for path, digest, _size in doc["files"]}
