"""S3 only: listing-based existence checks, resuming, credentials (moto S3 server)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Himo, make_tree, write
from tests.remotes.helpers import S3Store, cache_objects, digest_of, errors_of, pushed


@pytest.mark.slow
def test_many_objects_are_checked_by_listing_and_resumed(repo: Path, himo: Himo, s3_store: S3Store):
    s3_store.configure(himo)
    make_tree(repo / "data", files=80)  # over 64 objects: existence is checked by listing shards
    himo("add", "data")
    cache = repo / ".himo" / "cache"
    arrived = sorted(cache_objects(repo))[::8]
    for oid in arrived:  # what an interrupted earlier push left
        s3_store.write(oid, (cache / oid[:2] / oid[2:]).read_bytes())
    assert pushed(himo("push", "-j", "8").stdout) == (81 - len(arrived), len(arrived))
    assert s3_store.objects() == cache_objects(repo)
    s3_store.verify()

    before = {p.relative_to(repo): p.read_bytes() for p in (repo / "data").rglob("*") if p.is_file()}
    shutil.rmtree(cache)
    shutil.rmtree(repo / "data")
    assert himo("pull", "-j", "8").stdout == (
        "Fetched 81 object(s) from store\nRestored data (80 written, 0 removed)\n"
    )
    after = {p.relative_to(repo): p.read_bytes() for p in (repo / "data").rglob("*") if p.is_file()}
    assert after == before


def env_without_aws_keys(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_DEFAULT_REGION"}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return {**env, **extra}


def test_credentials_come_from_config_local(repo: Path, himo: Himo, s3_store: S3Store):
    s3_store.configure(himo)
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    env = env_without_aws_keys()
    proc = himo("push", ok=False, env=env)
    assert proc.returncode == 1
    assert errors_of(proc.stderr)[0] == (
        f"Error: remote 'store' ({s3_store.url}): NoCredentialsError: Unable to locate credentials"
    )
    himo("remote", "modify", "--local", "store", "access_key_id", "testing")
    himo("remote", "modify", "--local", "store", "secret_access_key", "testing")
    assert pushed(himo("push", env=env).stdout) == (1, 0)
    assert s3_store.objects() == {digest_of(b"alpha\n")}


def test_profile_option_picks_aws_credentials(repo: Path, himo: Himo, s3_store: S3Store, tmp_path: Path):
    s3_store.configure(himo)
    himo("remote", "modify", "store", "profile", "research")
    profile = "[research]\naws_access_key_id = testing\naws_secret_access_key = x\n"
    write(tmp_path / "aws-credentials", profile)
    write(repo / "a.txt", "alpha\n")
    himo("add", "a.txt")
    env = env_without_aws_keys(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"))
    assert pushed(himo("push", env=env).stdout) == (1, 0)
    assert s3_store.objects() == {digest_of(b"alpha\n")}
