"""Remotes seen from outside himo: a local folder or an S3 bucket, read with plain tools."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path

import boto3
from blake3 import blake3

from tests.conftest import Himo

DIGEST = re.compile(r"^[0-9a-f]{64}$")
PUSHED = re.compile(r"^Pushed (\d+) object\(s\) to (\S+) \((\d+) already there\)$", re.M)


def digest_of(data: bytes) -> str:
    return blake3(data).hexdigest()


def pushed(stdout: str) -> tuple[int, int]:
    """(sent, already there) from the output of `himo push`."""
    match = PUSHED.search(stdout)
    assert match, f"no push summary in {stdout!r}"
    return int(match.group(1)), int(match.group(3))


def cache_objects(repo: Path) -> set[str]:
    cache = repo / ".himo" / "cache"
    return {p.parent.name + p.name for p in cache.glob("??/*") if DIGEST.match(p.parent.name + p.name)}


def pointer_digest(pointer: Path) -> str:
    for line in pointer.read_text().splitlines():
        if line.startswith("digest: "):
            return line.split()[1]
    raise AssertionError(f"no digest in {pointer}")


def errors_of(stderr: str) -> list[str]:
    """The lines of stderr, asserting the CLI printed no traceback."""
    assert "Traceback" not in stderr, stderr
    return stderr.splitlines()


class Store(ABC):
    """A remote under test: `name` and `url` as configured, its objects read directly."""

    name = "store"
    url: str

    @abstractmethod
    def stored(self) -> list[str]:
        """Every stored key below the remote's root, temp files included."""

    @abstractmethod
    def read(self, oid: str) -> bytes: ...

    @abstractmethod
    def write(self, oid: str, data: bytes) -> None: ...

    @abstractmethod
    def delete(self, oid: str) -> None: ...

    def configure(self, himo: Himo, default: bool = True) -> None:
        himo("remote", "add", *(["-d"] if default else []), self.name, self.url)

    def objects(self) -> set[str]:
        """Objects: keys `ab/cdef...` whose name is a digest."""
        return {k.replace("/", "") for k in self.stored() if DIGEST.match(k.replace("/", ""))}

    def verify(self) -> None:
        """Every object's bytes hash to its name."""
        for oid in self.objects():
            assert digest_of(self.read(oid)) == oid, f"{oid} on {self.name} is corrupted"


class FolderStore(Store):
    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = root
        self.url = url or str(root)

    def stored(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def _path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:]

    def read(self, oid: str) -> bytes:
        return self._path(oid).read_bytes()

    def write(self, oid: str, data: bytes) -> None:
        self._path(oid).parent.mkdir(parents=True, exist_ok=True)
        self._path(oid).write_bytes(data)

    def delete(self, oid: str) -> None:
        self._path(oid).unlink()


class S3Store(Store):
    def __init__(self, endpoint: str, bucket: str, prefix: str = "store") -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.url = f"s3://{bucket}/{prefix}"
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    def configure(self, himo: Himo, default: bool = True) -> None:
        super().configure(himo, default)
        himo("remote", "modify", self.name, "endpointurl", self.endpoint)

    def stored(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        assert all(k.startswith(self.prefix + "/") for k in keys), keys
        return sorted(k[len(self.prefix) + 1 :] for k in keys)

    def _key(self, oid: str) -> str:
        return f"{self.prefix}/{oid[:2]}/{oid[2:]}"

    def read(self, oid: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(oid))["Body"].read()

    def write(self, oid: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(oid), Body=data)

    def delete(self, oid: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(oid))
