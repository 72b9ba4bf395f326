"""`himo config [--local] [--unset] [--list] [--json] KEY [VALUE]`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.api.helpers import assert_error
from tests.conftest import Himo, write

VALID_KEYS = ("Hint: valid keys: core.jobs, core.remote, cache.type, meta.deliver, meta.record, meta.url, "
              "openlineage.namespace, openlineage.url, ui.metrics, ui.params, executor.dask.scheduler, "
              "executor.default, remote.NAME.OPTION")


def _toml(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text())


def test_set_get_and_the_file_written(repo: Path, himo: Himo) -> None:
    assert himo("config", "core.jobs", "8").stdout == ""
    himo("config", "cache.type", "hardlink,copy")
    assert himo("config", "core.jobs").stdout == "8\n"
    assert himo("config", "cache.type").stdout == "hardlink,copy\n"
    assert _toml(repo / ".himo" / "config") == {"core": {"jobs": 8}, "cache": {"type": "hardlink,copy"}}
    assert not (repo / ".himo" / "config.local").exists()


def test_list_plain_and_json(repo: Path, himo: Himo) -> None:
    assert himo("config", "--list").stdout == ""
    assert json.loads(himo("config", "--list", "--json").stdout) == {}
    himo("config", "core.jobs", "3")
    himo("config", "cache.type", "copy")
    himo("remote", "add", "store", str(repo.parent / "store"))
    assert himo("config", "-l").stdout == (
        f"core.jobs=3\ncache.type=copy\nremote.store.url={repo.parent / 'store'}\n"
    )
    assert json.loads(himo("config", "--list", "--json").stdout) == {
        "core.jobs": 3, "cache.type": "copy", "remote.store.url": str(repo.parent / "store"),
    }


def test_local_overrides_shared(repo: Path, himo: Himo) -> None:
    himo("config", "cache.type", "copy")
    himo("config", "--local", "cache.type", "symlink")
    assert himo("config", "cache.type").stdout == "symlink\n"
    assert json.loads(himo("config", "--list", "--json").stdout) == {"cache.type": "symlink"}
    assert _toml(repo / ".himo" / "config.local") == {"cache": {"type": "symlink"}}
    himo("config", "--local", "--unset", "cache.type")
    assert himo("config", "cache.type").stdout == "copy\n"


def test_unset(repo: Path, himo: Himo) -> None:
    himo("config", "core.jobs", "2")
    himo("config", "--unset", "core.jobs")
    assert _toml(repo / ".himo" / "config") == {}
    proc = himo("config", "--unset", "core.jobs", ok=False)
    assert_error(proc, "config key 'core.jobs' is not set in config")


def test_get_of_a_key_not_set(himo: Himo) -> None:
    proc = himo("config", "core.remote", ok=False)
    assert_error(proc, "config key 'core.remote' is not set")
    assert proc.stderr.splitlines()[1] == "Hint: set it with `himo config core.remote VALUE`"


def test_unknown_keys_are_refused(repo: Path, himo: Himo) -> None:
    config = (repo / ".himo" / "config").read_text()
    for key in ("core.colour", "cache", "jobs", "core.jobs.extra"):
        proc = himo("config", key, "1", ok=False)
        assert_error(proc, f"unknown config key {key!r}")
        assert proc.stderr.splitlines()[1] == VALID_KEYS
        assert_error(himo("config", key, ok=False), f"unknown config key {key!r}")
    proc = himo("config", "remote.store.colour", "red", ok=False)
    assert_error(proc, "unknown remote option 'colour' in 'remote.store.colour'")
    assert (repo / ".himo" / "config").read_text() == config


def test_bad_values_are_refused(repo: Path, himo: Himo) -> None:
    for value in ("0", "1.5", "many"):
        proc = himo("config", "core.jobs", value, ok=False)
        assert_error(proc, f"core.jobs must be a positive integer, not {value!r}")
    assert_error(himo("config", "core.remote", "nowhere", ok=False), "no remote named 'nowhere'")
    assert_error(himo("config", "cache.type", "", ok=False), "cache.type: unknown link type ''")
    assert (repo / ".himo" / "config").read_text() == ""


def test_credentials_only_in_the_local_file(repo: Path, himo: Himo) -> None:
    himo("remote", "add", "s3", "s3://bucket/path")
    proc = himo("config", "remote.s3.secret_access_key", "hunter2", ok=False)
    assert_error(proc, "refusing to write credential 'remote.s3.secret_access_key' to .himo/config"
                       " (tracked by git)")
    assert "hunter2" not in (repo / ".himo" / "config").read_text()
    himo("config", "--local", "remote.s3.secret_access_key", "hunter2")
    assert _toml(repo / ".himo" / "config.local") == {"remote": {"s3": {"secret_access_key": "hunter2"}}}


def test_hand_edited_bad_values_are_config_errors(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    write(repo / ".himo" / "config", '[core]\njobs = "lots"\n')
    # read from the file: the error names it (himo config cannot fix what it cannot load)
    proc = himo("add", "a.txt", ok=False)
    assert_error(proc, ".himo/config: core.jobs must be a positive integer, not 'lots'")
    assert proc.stderr.splitlines()[1] == "Hint: fix it in the file by hand"
    write(repo / ".himo" / "config", "[core\njobs = 2\n")
    for args in (["config", "--list"], ["add", "a.txt"]):
        proc = himo(*args, ok=False)
        assert_error(proc, ".himo/config: invalid TOML: Expected ']' at the end of a"
                           " table declaration (at line 1, column 6)")
        assert proc.stderr.splitlines()[1] == (
            "Hint: fix the file by hand: himo cannot rewrite a file it cannot read"
        )
    assert not (repo / "a.txt.himo").exists()


def test_store_and_openlineage_urls_are_checked_when_set(repo: Path, himo: Himo) -> None:
    forms = "Hint: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    for value, message in (
        ("not a url", "meta.url 'not a url' is not a database URL"),
        ("mysql://me@db/himo", "meta.url 'mysql://me@db/himo': unsupported database 'mysql'"),
    ):
        for local in ([], ["--local"]):
            proc = himo("config", *local, "meta.url", value, ok=False)
            assert_error(proc, message)
            assert proc.stderr.splitlines()[1].startswith(forms)
    for value in ("localhost:5000", "ftp://host/x", "http://", "http://[::1", "http://h:0"):
        proc = himo("config", "openlineage.url", value, ok=False)
        assert_error(proc, f"openlineage.url {value!r} is not an http(s) URL")
        assert proc.stderr.splitlines()[1].startswith("Hint: use the receiver's base URL")
    assert (repo / ".himo" / "config").read_text() == ""
    assert not (repo / ".himo" / "config.local").exists()
    himo("config", "meta.url", f"sqlite:///{repo / 'team.db'}")
    himo("config", "--local", "meta.url", "postgresql+psycopg://me@db.example/himo")
    himo("config", "openlineage.url", "https://lineage.example:5000/")
    assert _toml(repo / ".himo" / "config") == {
        "meta": {"url": f"sqlite:///{repo / 'team.db'}"}, "openlineage": {"url": "https://lineage.example:5000/"}}
    assert not (repo / "team.db").exists()  # checked, not opened
