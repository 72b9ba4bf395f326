"""`himo export` and `himo where` on real git repositories, a folder and the real S3 server,
with SQLite and PostgreSQL stores: the bytes land where asked, each delivery is recorded with
time and who, a failed export records nothing, and `where` lists every place the bytes are."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Himo, git, make_tree, write

MODEL = "models/model.pkl"


@pytest.fixture
def project(make_repo: Callable[..., Path], meta_url: str) -> tuple[Path, Himo]:
    root = make_repo()
    himo = Himo(root)
    himo("config", "--local", "meta.url", meta_url)
    write(root / MODEL, b"the model bytes")
    make_tree(root / "data/images", files=12, subdirs=3)
    himo("add", MODEL, "data/images")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tracked")
    return root, himo


def where(himo: Himo, target: str) -> dict[str, Any]:
    return json.loads(himo("where", target, "--json").stdout)


def places(found: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [p for p in found["places"] if p["kind"] == kind]


def test_export_a_file_to_a_folder_is_recorded_with_time_and_who(project, tmp_path: Path) -> None:
    _, himo = project
    dest = tmp_path / "deliveries" / "2024-05"  # created on the way
    out = json.loads(himo("export", MODEL, str(dest), "--json").stdout)
    assert (dest / "model.pkl").read_bytes() == b"the model bytes"
    assert out["url"] == str(dest / "model.pkl") and out["files"] == 1

    found = where(himo, MODEL)
    assert found["path"] == MODEL and found["digest"] == out["digest"]
    assert places(found, "cache")[0]["detail"] == "complete"
    export = places(found, "export")
    assert [(p["url"], p["who"] != "") for p in export] == [(str(dest / "model.pkl"), True)]
    first = export[0]["first_at"]
    himo("export", MODEL, str(dest))  # again: the same place, seen again later
    again = places(where(himo, MODEL), "export")
    assert len(again) == 1 and again[0]["first_at"] == first and again[0]["last_at"] >= first
    runs = json.loads(himo("runs", "--json").stdout)
    assert [r["command"] for r in runs][:2] == ["export", "export"]

    text = himo("where", MODEL).stdout.splitlines()
    assert text[0] == f"{MODEL} ({out['digest'][:12]})"
    assert any(line.split()[:2] == ["export", str(dest / "model.pkl")] for line in text)


def test_export_a_directory_to_s3_and_where_lists_remote_export_and_release(
        project, s3_server: str, s3_bucket: str) -> None:
    root, himo = project
    himo("remote", "add", "-d", "storage", f"s3://{s3_bucket}/cache")
    himo("remote", "modify", "storage", "endpointurl", s3_server)
    himo("push", "data/images")
    dest = f"s3://{s3_bucket}/deliveries"
    out = json.loads(himo("export", "data/images", dest, "--json").stdout)  # the remote's endpoint
    assert (out["url"], out["files"]) == (f"{dest}/images", 12)
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="deliveries/")["Contents"])
    local = sorted(p.relative_to(root / "data").as_posix() for p in (root / "data/images").rglob("*")
                   if p.is_file())
    assert keys == [f"deliveries/{rel}" for rel in local]
    body = s3.get_object(Bucket=s3_bucket, Key=keys[0])["Body"].read()
    assert body == (root / "data" / keys[0].split("/", 1)[1]).read_bytes()

    himo("release", "data/images", "--env", "staging")
    found = where(himo, "data/images")
    assert [p["url"] for p in places(found, "remote")] == [f"s3://{s3_bucket}/cache"]
    assert [p["url"] for p in places(found, "export")] == [f"{dest}/images"]
    release = places(found, "release")
    assert [(p["url"], p["detail"], p["last_at"]) for p in release] == [("staging", "images v1, live", None)]
    by_digest = where(himo, found["digest"][:10])  # a digest prefix names the same artifact
    assert by_digest["path"] is None and by_digest["places"] == found["places"]


def test_a_destination_that_cannot_be_written_records_nothing(project, tmp_path: Path, s3_server: str,
                                                               s3_bucket: str) -> None:
    _, himo = project
    blocker = write(tmp_path / "a-file", "not a folder")
    folder = himo("export", MODEL, str(blocker / "sub"), ok=False)
    assert folder.returncode == 1
    assert folder.stderr.startswith(f"Error: cannot export {MODEL} to {blocker / 'sub'}: ")
    assert "Hint: check that DEST exists or can be created and is writable" in folder.stderr

    himo("remote", "add", "storage", f"s3://{s3_bucket}/cache")
    himo("remote", "modify", "storage", "endpointurl", s3_server)
    bucket = himo("export", MODEL, "s3://no-such-bucket-himo/x", "-r", "storage", ok=False)
    assert bucket.returncode == 1 and bucket.stderr.startswith(f"Error: cannot export {MODEL} to s3://")
    assert places(where(himo, MODEL), "export") == []
    assert json.loads(himo("runs", "--json").stdout)[0]["command"] == "add"  # no export run


def test_export_and_where_refuse_what_they_cannot_name(project, tmp_path: Path) -> None:
    root, himo = project
    write(root / "notes.txt", "untracked")
    for args in (("export", "notes.txt", str(tmp_path)), ("where", "notes.txt")):
        proc = himo(*args, ok=False)
        assert proc.stderr.splitlines()[0] == (
            "Error: notes.txt: not tracked (no notes.txt.himo and no output notes.txt in himo.lock)")
    unknown = himo("where", "abcdef0123", ok=False)
    assert unknown.stderr.startswith("Error: abcdef0123: no tracked path, and no artifact")

    pointer = (root / f"{MODEL}.himo").read_text()
    oid = next(line.split()[1] for line in pointer.splitlines() if line.startswith("digest:"))
    cached = root / ".himo/cache" / oid[:2] / oid[2:]
    os.chmod(cached, 0o644)
    cached.unlink()
    missing = himo("export", MODEL, str(tmp_path / "out"), ok=False)
    assert missing.stderr.splitlines()[0] == (
        f"Error: {MODEL}: its bytes (digest {oid[:12]}) are not all in the cache")
    assert not (tmp_path / "out").exists()
    assert places(where(himo, MODEL), "cache")[0]["detail"] == "not in the cache"


def test_where_after_a_pull_lists_the_remote_pulled_from(project, tmp_path: Path) -> None:
    root, himo = project
    remote = tmp_path / "remote"
    himo("remote", "add", "-d", "storage", str(remote))
    himo("push", MODEL, env={**os.environ, "HIMO_META_RECORD": "0"})  # only the pull will say it
    assert places(where(himo, MODEL), "remote") == []
    pointer = (root / f"{MODEL}.himo").read_text()
    oid = next(line.split()[1] for line in pointer.splitlines() if line.startswith("digest:"))
    cached = root / ".himo/cache" / oid[:2] / oid[2:]
    os.chmod(cached, 0o644)
    cached.unlink()
    himo("pull", MODEL)
    found = where(himo, MODEL)
    assert [p["url"] for p in places(found, "remote")] == [str(remote)]
    assert places(found, "cache")[0]["detail"] == "complete"
    himo("release", MODEL, "--env", "production")
    text = himo("where", MODEL).stdout.splitlines()
    assert any(line.split()[:2] == ["remote", str(remote)] for line in text)
    assert any(line.split()[:2] == ["release", "production"] and line.endswith("model v1, live")
               for line in text)
