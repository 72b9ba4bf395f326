"""Fixtures for remote tests: a local-folder remote and an S3 remote on the moto server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Himo
from tests.remotes.helpers import FolderStore, S3Store, Store


@pytest.fixture
def folder_store(tmp_path: Path) -> FolderStore:
    """A remote folder beside the repository (not yet configured)."""
    return FolderStore(tmp_path / "remote")


@pytest.fixture
def s3_store(s3_server: str, s3_bucket: str) -> S3Store:
    """A prefix in a new bucket on the moto S3 server (not yet configured)."""
    return S3Store(s3_server, s3_bucket)


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, himo: Himo) -> Store:
    """Each kind of remote in turn, configured as the repository's default remote."""
    chosen: Store = request.getfixturevalue(f"{request.param}_store")
    chosen.configure(himo)
    return chosen
