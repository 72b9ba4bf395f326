"""The remote contract: what push, fetch and gc need from a store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from himo.model import is_digest


class Remote(ABC):
    # True where transfers are local file copies, which run faster on forked processes than
    # on threads (objects.parallel.run_forked); network remotes keep threads.
    forkable = False

    def __init__(self, name: str, url: str, jobs: int = 1) -> None:
        self.name = name  # as configured in .himo/config
        self.url = url  # where the objects are
        self.jobs = jobs  # concurrent requests or copies

    def key(self, oid: str) -> str:
        """The object's path relative to the remote's root."""
        return f"{oid[:2]}/{oid[2:]}"

    @abstractmethod
    def existing(self, oids: Iterable[str]) -> set[str]:
        """Which of `oids` the remote has (batched: listing, not one request per object)."""

    @abstractmethod
    def upload(self, local_path: str, oid: str) -> None:
        """Store the file as object `oid`, atomically: readers never see a partial object."""

    @abstractmethod
    def put_bytes(self, oid: str, data: bytes) -> None:
        """Store `data` as object `oid`, atomically (small objects, already read and verified)."""

    @abstractmethod
    def download(self, oid: str, local_path: str) -> None:
        """Write object `oid` to `local_path` (which the caller verifies and moves into the cache)."""

    def read_small(self, oid: str, limit: int) -> bytes | None:
        """The bytes of object `oid` if it is smaller than `limit` and cheap to read whole
        (then the caller verifies and stores them without a temp file); None otherwise."""
        return None

    @abstractmethod
    def all_oids(self) -> set[str]:
        """Every object on the remote."""

    @abstractmethod
    def delete(self, oids: list[str]) -> None:
        """Remove the objects `oids` (those already gone are no error)."""

    @staticmethod
    def oid_of(shard: str, name: str) -> str | None:
        oid = shard + name
        return oid if is_digest(oid) else None
