"""The S3 remote against a real S3 HTTP server (moto) — push, pull, resume, corruption."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.conftest import Himo, make_tree


def configure_s3(himo: Himo, endpoint: str, bucket: str) -> None:
    himo("remote", "add", "-d", "s3r", f"s3://{bucket}/store")
    himo("remote", "modify", "s3r", "endpointurl", endpoint)


def test_push_then_pull_into_an_empty_cache(repo: Path, himo: Himo, s3_server: str, s3_bucket: str):
    make_tree(repo / "data", files=30)
    himo("add", "data")
    configure_s3(himo, s3_server, s3_bucket)
    out = himo("push").stdout
    assert "Pushed 31 object(s)" in out  # 30 files + the directory manifest
    keys = boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert len(keys) == 31 and all(k["Key"].startswith("store/") for k in keys)
    assert "Pushed 0 object(s)" in himo("push").stdout  # nothing twice
    before = {p.relative_to(repo): p.read_bytes() for p in (repo / "data").rglob("*") if p.is_file()}
    import shutil

    shutil.rmtree(repo / ".himo" / "cache")
    shutil.rmtree(repo / "data")
    himo("pull")
    after = {p.relative_to(repo): p.read_bytes() for p in (repo / "data").rglob("*") if p.is_file()}
    assert after == before
    assert "up to date" in himo("status").stdout
