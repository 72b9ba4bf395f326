"""`.himo/config` as a user might leave it: any TOML (or not-TOML) text gives a usable config or a
one-line HimoError naming the file and key, never an internal error."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from himo.api.config import list_config, list_remotes
from himo.api.init import init
from himo.api.recording import recording_enabled, store_url
from himo.api.transfer import get_remote
from himo.errors import ConfigError, HimoError
from himo.meta.store import check_url
from himo.workspace.config import REMOTE_KEYS, SECTION_KEYS
from himo.workspace.repo import Repo
from tests.conftest import Himo, write

# Keys himo knows, so that generated files often reach the code that reads them.
WORDS = sorted({*SECTION_KEYS, *(k for keys in SECTION_KEYS.values() for k in keys), *REMOTE_KEYS,
                "remote", "r", "origin"})
SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(), st.booleans(),
    st.text(max_size=30), st.sampled_from(["s3://bucket/p", "copy", "inline", "true", "4", "", "x:/y"]),
    st.datetimes(), st.dates(), st.lists(st.integers(), max_size=3),
)
KEYS = st.one_of(st.sampled_from(WORDS), st.text(string.ascii_letters + "._- ", min_size=1, max_size=8))
TABLES = st.recursive(SCALARS, lambda inner: st.dictionaries(KEYS, inner, max_size=4), max_leaves=12)
DOCUMENTS = st.dictionaries(KEYS, TABLES, max_size=4)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "repo"
    folder.mkdir()
    init(folder, no_scm=True)
    return folder


def use_config(root: Path) -> None:
    """Everything that reads the config, as commands do; nothing but HimoError may escape."""
    repo = Repo(root)
    assert not any(isinstance(value, dict) for value in list_config(repo).values())
    for remote in list_remotes(repo):
        assert isinstance(remote["url"], str)
    repo.linker  # noqa: B018 -- cache.type parsed
    assert repo.jobs >= 1
    recording_enabled(repo)
    check_url(store_url(repo))
    for name in repo.config.remote_names():
        assert get_remote(repo, name).jobs >= 1


def check(root: Path, text: bytes) -> None:
    write(root / ".himo" / "config", text)
    try:
        use_config(root)
    except ConfigError as error:  # the file's own faults name it
        assert "\n" not in error.message, error.message
    except HimoError as error:  # e.g. a remote URL no installed filesystem opens
        assert "\n" not in error.message, error.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(DOCUMENTS)
def test_any_toml_document_is_a_config_or_a_himo_error(root: Path, document: dict):
    check(root, tomli_w.dumps(document).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_a_config_or_a_himo_error(root: Path, data: bytes):
    check(root, data)


@pytest.mark.parametrize("text, key, said", [
    ('[remote.r]\nurl = 5\n[core]\nremote = "r"\n', "remote.r.url", "must be a string, not 5"),
    ("[remote]\nr = 5\n", "remote.r", "must be a table, not 5"),
    ("remote = 5\n", "remote", "must be a table, not 5"),
    ("[core]\njobs = 0\n", "core.jobs", "must be a positive integer, not 0"),
    ('[cache]\ntype = ["copy"]\n', "cache.type", "must be a string, not ['copy']"),
    ('[meta]\nrecord = "maybe"\n', "meta.record", "must be true or false, not 'maybe'"),
])
@pytest.mark.parametrize("command", [("push",), ("remote", "list"), ("config", "--list")])
def test_wrong_types_in_config_are_one_line_errors(repo: Path, himo: Himo, text: str, key: str, said: str,
                                                   command: tuple[str, ...]):
    write(repo / ".himo" / "config", text)
    proc = himo(*command, ok=False)
    assert (proc.returncode, proc.stderr.splitlines()) == (1, [
        f"Error: .himo/config: {key} {said}", "Hint: fix it in the file by hand"])
