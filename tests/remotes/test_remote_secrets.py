"""Passwords in URLs never reach the git-tracked `.himo/config`, and are masked wherever a URL is
printed or recorded: `https://user:***@host/...`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Himo, write
from tests.remotes.helpers import errors_of

SECRET_URL = "https://user:s3cr3t@127.0.0.1:1/store"  # port 1: nothing listens, a push fails at once
MASKED_URL = "https://user:***@127.0.0.1:1/store"
REMOTE_HINT = ("Hint: use --local (`himo remote add --local NAME URL`) to keep it in .himo/config.local, "
               "or the storage's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY ...)")


def refused(key: str) -> list[str]:
    return [f"Error: refusing to write a password in {key} to .himo/config (tracked by git)", REMOTE_HINT]


def test_remote_add_refuses_a_password_for_the_tracked_config(repo: Path, himo: Himo):
    before = (repo / ".himo" / "config").read_bytes()
    proc = himo("remote", "add", "r", SECRET_URL, ok=False)
    assert proc.returncode == 1
    assert errors_of(proc.stderr) == refused("remote.r.url")
    assert proc.stdout == ""
    assert (repo / ".himo" / "config").read_bytes() == before
    assert not (repo / ".himo" / "config.local").exists()


@pytest.mark.parametrize("args, key", [
    (("remote", "modify", "r", "url", SECRET_URL), "remote.r.url"),
    (("remote", "modify", "r", "endpointurl", "http://key:secret@127.0.0.1:9000"), "remote.r.endpointurl"),
    (("config", "remote.r.url", SECRET_URL), "remote.r.url"),
])
def test_modify_and_config_refuse_a_password_for_the_tracked_config(repo: Path, himo: Himo, args, key):
    himo("remote", "add", "r", "s3://bucket/path")
    before = (repo / ".himo" / "config").read_bytes()
    proc = himo(*args, ok=False)
    assert (proc.returncode, errors_of(proc.stderr)) == (1, refused(key))
    assert (repo / ".himo" / "config").read_bytes() == before


def test_remote_add_local_keeps_the_url_out_of_git_and_masks_it(repo: Path, himo: Himo):
    out = himo("remote", "add", "--local", "-d", "r", SECRET_URL).stdout
    assert out == f"Added remote r -> {MASKED_URL} in .himo/config.local (default)\n"
    assert "s3cr3t" not in (repo / ".himo" / "config").read_text()
    assert SECRET_URL in (repo / ".himo" / "config.local").read_text()  # where the push reads it
    assert himo("remote", "list").stdout == f"* r\t{MASKED_URL}\n"
    assert json.loads(himo("remote", "list", "--json").stdout) == [
        {"name": "r", "url": MASKED_URL, "default": True}]
    assert himo("config", "--list").stdout == f"remote.r.url={MASKED_URL}\ncore.remote=r\n"
    assert json.loads(himo("config", "--list", "--json").stdout) == {
        "remote.r.url": MASKED_URL, "core.remote": "r"}


def test_credentials_are_masked_in_config_list(himo: Himo):
    himo("remote", "add", "r", "s3://bucket/path")
    himo("remote", "modify", "--local", "r", "secret_access_key", "wJalrXUtnFEMI")
    himo("config", "--local", "meta.url", "postgresql+psycopg://me:pgpass@db.example/himo")
    assert himo("config", "--list").stdout == (
        "remote.r.url=s3://bucket/path\n"
        "remote.r.secret_access_key=***\n"
        "meta.url=postgresql+psycopg://me:***@db.example/himo\n")


def test_a_hand_written_secret_in_the_tracked_config_is_still_masked(repo: Path, himo: Himo):
    write(repo / ".himo" / "config", f'[remote.r]\nurl = "{SECRET_URL}"\n')
    assert himo("remote", "list").stdout == f"  r\t{MASKED_URL}\n"
    assert himo("config", "--list").stdout == f"remote.r.url={MASKED_URL}\n"


def test_push_error_masks_the_password(repo: Path, himo: Himo):
    write(repo / "data.txt", "bytes\n")
    himo("add", "data.txt")
    himo("remote", "add", "--local", "-d", "r", SECRET_URL)
    proc = himo("push", ok=False)
    assert proc.returncode == 1
    lines = errors_of(proc.stderr)
    assert lines[0].startswith(f"Error: remote 'r' ({MASKED_URL}): ClientConnectorError: "), lines
    assert "s3cr3t" not in proc.stderr + proc.stdout


def test_locations_and_run_args_are_recorded_masked(repo: Path, himo: Himo):
    """The metadata store (and so `himo where`, history and the dashboard) never holds the password:
    an export to a URL with one is recorded with it masked, in the journal and the store."""
    write(repo / "data.txt", "bytes\n")
    himo("add", "data.txt")
    dest = repo.parent / "deliveries"
    proc = himo("export", "data.txt", f"file://user:s3cr3t@{dest}", ok=False)
    assert "s3cr3t" not in proc.stdout + proc.stderr
    with sqlite3.connect(repo / ".himo" / "meta.db") as db:
        args = [row[0] for row in db.execute("SELECT args FROM run WHERE command = 'export'")]
    assert args and all("s3cr3t" not in a for a in args), args
    assert "user:***@" in args[0]
