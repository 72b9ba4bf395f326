"""`himo remote add/list/remove/modify/default`: what lands in .himo/config{,.local}."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.conftest import Himo, git, write
from tests.remotes.helpers import FolderStore, errors_of, pushed

VALID_OPTIONS = "access_key_id, endpointurl, jobs, profile, region, secret_access_key, session_token, url"


def config(repo: Path, name: str = "config") -> dict:
    path = repo / ".himo" / name
    return tomllib.loads(path.read_text()) if path.exists() else {}


def fails(himo: Himo, *args: str, code: int = 1) -> list[str]:
    proc = himo(*args, ok=False)
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return errors_of(proc.stderr)


def test_add_list_and_default(repo: Path, himo: Himo, tmp_path: Path):
    out = himo("remote", "add", "-d", "store", str(tmp_path / "remote")).stdout
    assert out == f"Added remote store -> {tmp_path / 'remote'} (default)\n"
    assert himo("remote", "add", "backup", "s3://bucket/path").stdout == (
        "Added remote backup -> s3://bucket/path\n"
    )
    assert config(repo) == {
        "remote": {"store": {"url": str(tmp_path / "remote")}, "backup": {"url": "s3://bucket/path"}},
        "core": {"remote": "store"},
    }
    assert himo("remote", "list").stdout == f"  backup\ts3://bucket/path\n* store\t{tmp_path / 'remote'}\n"
    assert json.loads(himo("remote", "list", "--json").stdout) == [
        {"name": "backup", "url": "s3://bucket/path", "default": False},
        {"name": "store", "url": str(tmp_path / "remote"), "default": True},
    ]
    assert himo("remote", "default", "backup").stdout == "Default remote: backup\n"
    assert config(repo)["core"] == {"remote": "backup"}
    assert json.loads(himo("remote", "list", "--json").stdout)[0]["default"] is True


def test_list_with_no_remotes(himo: Himo):
    assert himo("remote", "list").stdout == ""
    assert json.loads(himo("remote", "list", "--json").stdout) == []


def test_config_is_meant_for_git_and_config_local_is_not(repo: Path, himo: Himo):
    himo("remote", "add", "-d", "s3r", "s3://bucket/data")
    himo("remote", "modify", "--local", "s3r", "access_key_id", "AKIAEXAMPLE")
    git(repo, "add", ".himo")
    assert git(repo, "diff", "--cached", "--name-only").split() == [".himo/.gitignore", ".himo/config"]


def test_modify_endpointurl_and_profile(repo: Path, himo: Himo):
    himo("remote", "add", "s3r", "s3://bucket/data")
    out = himo("remote", "modify", "s3r", "endpointurl", "http://127.0.0.1:9000").stdout
    assert out == "Set endpointurl of remote s3r in .himo/config\n"
    himo("remote", "modify", "s3r", "profile", "research")
    himo("remote", "modify", "s3r", "jobs", "16")
    assert config(repo)["remote"]["s3r"] == {
        "url": "s3://bucket/data", "endpointurl": "http://127.0.0.1:9000", "profile": "research", "jobs": 16,
    }
    assert not (repo / ".himo" / "config.local").exists()


def test_modify_url_is_checked(repo: Path, himo: Himo):
    himo("remote", "add", "s3r", "s3://bucket/data")
    assert fails(himo, "remote", "modify", "s3r", "url", "nosuch://x") == [
        "Error: unknown remote URL scheme 'nosuch' in 'nosuch://x'",
        "Hint: use a folder path, s3://, gs://, azure:// or ssh://",
    ]
    himo("remote", "modify", "s3r", "url", "s3://other/place")
    assert config(repo)["remote"]["s3r"] == {"url": "s3://other/place"}


def test_credentials_are_refused_outside_config_local(repo: Path, himo: Himo):
    himo("remote", "add", "s3r", "s3://bucket/data")
    before = (repo / ".himo" / "config").read_text()
    for key in ("access_key_id", "secret_access_key", "session_token"):
        assert fails(himo, "remote", "modify", "s3r", key, "secret-value") == [
            f"Error: refusing to write credential 'remote.s3r.{key}' to .himo/config (tracked by git)",
            "Hint: use --local to keep it in .himo/config.local, or the standard AWS/GCP environment",
        ]
    assert (repo / ".himo" / "config").read_text() == before
    assert "secret-value" not in before
    out = himo("remote", "modify", "--local", "s3r", "secret_access_key", "secret-value").stdout
    assert out == "Set secret_access_key of remote s3r in .himo/config.local\n"
    assert config(repo, "config.local") == {"remote": {"s3r": {"secret_access_key": "secret-value"}}}
    assert "secret-value" not in (repo / ".himo" / "config").read_text()


def test_credentials_are_refused_by_himo_config_too(repo: Path, himo: Himo):
    himo("remote", "add", "s3r", "s3://bucket/data")
    assert fails(himo, "config", "remote.s3r.access_key_id", "AKIA")[0] == (
        "Error: refusing to write credential 'remote.s3r.access_key_id' to .himo/config (tracked by git)"
    )
    assert "AKIA" not in (repo / ".himo" / "config").read_text()


def test_unknown_option(repo: Path, himo: Himo):
    himo("remote", "add", "s3r", "s3://bucket/data")
    assert fails(himo, "remote", "modify", "s3r", "colour", "blue") == [
        "Error: unknown remote option 'colour' in 'remote.s3r.colour'",
        f"Hint: valid options: {VALID_OPTIONS}",
    ]
    assert fails(himo, "remote", "modify", "s3r", "jobs", "0")[0] == (
        "Error: remote.s3r.jobs must be a positive integer, not '0'"
    )
    assert config(repo)["remote"]["s3r"] == {"url": "s3://bucket/data"}


def test_unknown_remote_name(himo: Himo, tmp_path: Path):
    himo("remote", "add", "store", str(tmp_path / "remote"))
    expected = [
        "Error: no remote named 'nope' (known: store)",
        "Hint: add it with `himo remote add NAME URL`",
    ]
    assert fails(himo, "remote", "modify", "nope", "profile", "x") == expected
    assert fails(himo, "remote", "remove", "nope") == expected
    assert fails(himo, "remote", "default", "nope") == expected
    for verb in ("push", "fetch", "pull"):
        assert fails(himo, verb, "-r", "nope") == [
            "Error: no remote named 'nope' (known: store)",
            "Hint: list remotes with `himo remote list`",
        ]


def test_no_remote_at_all(himo: Himo):
    for verb in ("push", "fetch", "pull"):
        assert fails(himo, verb) == [
            "Error: no remote given and no default remote set",
            "Hint: use `-r NAME`, or set one with `himo remote add -d NAME URL`",
        ]


def test_invalid_url_and_name(repo: Path, himo: Himo):
    assert fails(himo, "remote", "add", "x", "foo://bucket/path") == [
        "Error: unknown remote URL scheme 'foo' in 'foo://bucket/path'",
        "Hint: use a folder path, s3://, gs://, azure:// or ssh://",
    ]
    assert fails(himo, "remote", "add", "x", "") == [
        "Error: remote URL is empty",
        "Hint: give a folder path or a URL such as s3://bucket/path",
    ]
    assert fails(himo, "remote", "add", "my.remote", "s3://b/p") == [
        "Error: invalid remote name 'my.remote'",
        "Hint: use letters, digits, '-' and '_', starting with a letter or digit",
    ]
    assert config(repo) == {}


def test_duplicate_name(repo: Path, himo: Himo):
    himo("remote", "add", "store", "s3://one/p")
    assert fails(himo, "remote", "add", "store", "s3://two/p") == [
        "Error: remote 'store' already exists",
        "Hint: use `himo remote modify store url URL`",
    ]
    assert config(repo)["remote"]["store"] == {"url": "s3://one/p"}
    himo("remote", "add", "-f", "store", "s3://two/p")
    assert config(repo)["remote"]["store"] == {"url": "s3://two/p"}


def test_usage_errors_exit_2(himo: Himo):
    lines = fails(himo, "remote", "add", "onlyname", code=2)
    assert lines[-1] == "Error: Missing argument 'URL'."
    lines = fails(himo, "remote", "modify", "x", "url", code=2)
    assert lines[-1] == "Error: Missing argument 'VALUE'."
    lines = fails(himo, "push", "-j", "0", code=2)
    assert lines[-1] == "Error: Invalid value for '-j' / '--jobs': 0 is not in the range x>=1."


def test_remove_forgets_remote_default_and_credentials(repo: Path, himo: Himo):
    himo("remote", "add", "-d", "s3r", "s3://bucket/data")
    himo("remote", "add", "other", "s3://bucket/other")
    himo("remote", "modify", "--local", "s3r", "access_key_id", "AKIA")
    assert himo("remote", "remove", "s3r").stdout == "Removed remote s3r\n"
    assert config(repo) == {"remote": {"other": {"url": "s3://bucket/other"}}}
    assert config(repo, "config.local") == {}
    assert himo("remote", "list").stdout == "  other\ts3://bucket/other\n"
    assert fails(himo, "push")[0] == "Error: no remote given and no default remote set"


def test_remove_leaves_config_local_alone_when_unused(repo: Path, himo: Himo):
    himo("remote", "add", "s3r", "s3://bucket/data")
    himo("remote", "remove", "s3r")
    assert not (repo / ".himo" / "config.local").exists()
    assert config(repo) == {}


def test_relative_folder_is_relative_to_the_repository_root(repo: Path, himo: Himo, tmp_path: Path):
    write(repo / "sub" / "a.txt", "hello")
    himo("add", "sub/a.txt")
    himo("remote", "add", "-d", "store", "../../remote", cwd=repo / "sub")
    assert config(repo)["remote"]["store"] == {"url": "../remote"}
    assert pushed(himo("push", cwd=repo / "sub").stdout) == (1, 0)
    assert FolderStore(tmp_path / "remote").objects() == {
        "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"
    }
    assert pushed(himo("push").stdout) == (0, 1)  # the same folder, seen from the root
