"""Bad pointer files: one clear line naming the file and the problem, exit 1, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from himo.errors import PointerError
from himo.workspace.pointer import load_pointer
from tests.api.helpers import assert_error, digest_of, snapshot
from tests.conftest import Himo, write

GOOD_DIGEST = digest_of(b"bad\n")
FIX = "Hint: restore it with `git checkout -- bad.csv.himo` or re-create it with `himo add`"


def _pointer(**fields: object) -> str:
    doc = {"path": "bad.csv", "hash": "blake3", "digest": GOOD_DIGEST, "size": 4} | fields
    return "".join(f"{k}: {v}\n" for k, v in doc.items() if v is not None)


CASES = {
    "invalid-yaml": (
        f"path: bad.csv\nhash: blake3\ndigest: [{GOOD_DIGEST}\nsize: 4\n",
        "bad.csv.himo: invalid YAML (line 4): did not find expected ',' or ']'",
    ),
    "bad-indent": (
        "path: bad.csv\n  hash: blake3\n",
        "bad.csv.himo: invalid YAML (line 2): mapping values are not allowed in this context",
    ),
    "not-a-mapping": (
        "just some text\n",
        "bad.csv.himo: expected a YAML mapping of path, hash, digest, size, nfiles",
    ),
    "empty": ("", "bad.csv.himo: expected a YAML mapping of path, hash, digest, size, nfiles"),
    "missing-field": (_pointer(size=None), "bad.csv.himo: missing field 'size'"),
    "unknown-field": (_pointer(owner="me"), "bad.csv.himo: unknown field 'owner'"),
    "wrong-type": (_pointer(size="big"), "bad.csv.himo: field 'size' must be int, not 'big'"),
    "negative-size": (_pointer(size=-1), "bad.csv.himo: size and nfiles must not be negative"),
    "unknown-algorithm": (
        _pointer(hash="md5"), "bad.csv.himo: unknown hash algorithm 'md5' (this himo knows: blake3)"
    ),
    "malformed-digest": (
        _pointer(digest="abc123"),
        "bad.csv.himo: malformed digest 'abc123' (expected 64 lower-case hex characters)",
    ),
    "upper-case-digest": (
        _pointer(digest=GOOD_DIGEST.upper()),
        f"bad.csv.himo: malformed digest '{GOOD_DIGEST.upper()}' (expected 64 lower-case hex characters)",
    ),
    "dot-dot": (
        _pointer(path="../x"),
        "bad.csv.himo: path '../x' escapes the repository (must be relative, without '..')",
    ),
    "dot-dot-inside": (
        _pointer(path="sub/../../x"),
        "bad.csv.himo: path 'sub/../../x' escapes the repository (must be relative, without '..')",
    ),
    "absolute": (
        _pointer(path="/etc/passwd"),
        "bad.csv.himo: path '/etc/passwd' escapes the repository (must be relative, without '..')",
    ),
    "home": (
        _pointer(path="~/secrets"),
        "bad.csv.himo: path '~/secrets' escapes the repository (must be relative, without '..')",
    ),
    "dot": (_pointer(path="."), "bad.csv.himo: path '.' is '.', the folder itself"),
    "empty-path": (_pointer(path="''"), "bad.csv.himo: path '' is empty"),
    "not-normalised": (
        _pointer(path="sub//x"), "bad.csv.himo: path 'sub//x' is not normalised (an empty or '.' part)"
    ),
    "dot-inside": (
        _pointer(path="sub/./x"), "bad.csv.himo: path 'sub/./x' is not normalised (an empty or '.' part)"
    ),
    "trailing-slash": (
        _pointer(path="sub/"), "bad.csv.himo: path 'sub/' is not normalised (an empty or '.' part)"
    ),
    "line-break": (_pointer(path='"a\\nb"'), "bad.csv.himo: path 'a\\nb' contains a line break"),
    "carriage-return": (
        _pointer(path='"a\\rb"'), "bad.csv.himo: path 'a\\rb' contains a carriage return"
    ),
    "nul": (_pointer(path='"a\\0b"'), "bad.csv.himo: path 'a\\x00b' contains NUL"),
    "git-folder": (
        _pointer(path=".git/config"),
        "bad.csv.himo: path '.git/config' is inside '.git', which belongs to git",
    ),
    "git-folder-upper-case": (
        _pointer(path=".GIT"), "bad.csv.himo: path '.GIT' is inside '.git', which belongs to git"
    ),
    "himo-folder": (
        _pointer(path=".himo/cache"), "bad.csv.himo: path '.himo/cache' is inside .himo/, which himo manages"
    ),
    "pointer-itself": (
        _pointer(path="bad.csv.himo"),
        "bad.csv.himo: path 'bad.csv.himo' names a pointer file, not tracked data",
    ),
    "symlinked-folder": (
        _pointer(path="out/passwd"),
        "bad.csv.himo: path 'out/passwd' resolves outside the repository through a symlink",
    ),
    "merge-conflict": (
        f"path: bad.csv\nhash: blake3\n<<<<<<< HEAD\ndigest: {GOOD_DIGEST}\n=======\n"
        f"digest: {'0' * 64}\n>>>>>>> other\nsize: 4\n",
        "bad.csv.himo: unresolved git merge conflict (line 3)",
    ),
}


@pytest.fixture
def broken(repo: Path, himo: Himo, tmp_path: Path) -> Path:
    """A repository with a good pointer whose data is deleted (checkout would restore it)."""
    write(repo / "good.csv", "good\n")
    himo("add", "good.csv")
    (repo / "good.csv").unlink()
    write(repo / "bad.csv", "bad\n")
    write(tmp_path / "outside" / "passwd", "not yours\n")
    (repo / "out").symlink_to(tmp_path / "outside")
    return repo


@pytest.mark.parametrize("case", CASES)
def test_bad_pointer_stops_checkout_and_status(broken: Path, himo: Himo, case: str) -> None:
    text, message = CASES[case]
    write(broken / "bad.csv.himo", text)
    before = snapshot(broken)
    for command in ("checkout", "status"):
        proc = himo(command, ok=False)
        assert_error(proc, message)
        hint = proc.stderr.splitlines()[1]
        assert hint.startswith("Hint: "), proc.stderr
        assert len(proc.stderr.splitlines()) == 2
    assert snapshot(broken) == before
    assert not (broken / "good.csv").exists()


def test_undecodable_pointer(broken: Path, himo: Himo) -> None:
    write(broken / "bad.csv.himo", b"\xff\xfe\x00binary")
    proc = himo("status", ok=False)
    assert_error(proc, "bad.csv.himo: cannot read: 'utf-8' codec can't decode byte 0xff in position 0:"
                       " invalid start byte")
    assert proc.stderr.splitlines()[1] == FIX


def test_pointer_to_a_file_object_with_nfiles(broken: Path, himo: Himo) -> None:
    """A directory pointer whose digest names a plain file, not a manifest."""
    digest = digest_of(b"good\n")
    write(broken / "bad.csv.himo", _pointer(digest=digest, nfiles=1))
    proc = himo("checkout", "bad.csv", ok=False)
    assert_error(proc, f"bad.csv.himo: digest {digest[:12]} names a file, not a directory manifest")
    assert proc.stderr.splitlines()[1] == (
        "Hint: run `himo fsck`, or re-create the pointer with `himo add`"
    )


def test_pointer_file_behind_a_symlink_out_of_the_repo(broken: Path, himo: Himo, tmp_path: Path) -> None:
    write(tmp_path / "outside" / "x.himo", _pointer(path="x"))
    proc = himo("status", "out/x.himo", ok=False)
    assert_error(proc, f"out/x.himo: outside the repository {broken}")


def test_add_replaces_a_broken_pointer(broken: Path, himo: Himo) -> None:
    write(broken / "bad.csv.himo", CASES["invalid-yaml"][0])
    himo("add", "bad.csv")
    assert load_pointer(broken / "bad.csv.himo", broken).hash_info.digest == GOOD_DIGEST


def test_load_pointer_api_raises_pointer_error(tmp_path: Path) -> None:
    write(tmp_path / "x.himo", _pointer(hash="sha256"))
    with pytest.raises(PointerError) as info:
        load_pointer(tmp_path / "x.himo", tmp_path)
    assert info.value.message == "x.himo: unknown hash algorithm 'sha256' (this himo knows: blake3)"
    assert info.value.hint == "upgrade himo, or re-create the pointer with `himo add`"
    assert info.value.exit_code == 1


# -- the plain-layout fast path reads exactly what YAML reads -------------------------------

NAMES = ["data.csv", "data", "my-data_v2.parquet", "_x", "e5", "inf", "nan", "x.y.z", "A1",
         "123", "0", "0123", "0x1f", "1.5", "2001-12-14", "yes", "No", "NULL", "on", "true", "~",
         "-a", ".hidden", "a b", "a:b", "'q'", "#c", "ü.csv", "a\tb"]


@pytest.mark.parametrize("name", NAMES)
def test_plain_pointers_read_like_yaml(name: str) -> None:
    import yaml

    from himo.model import HashInfo
    from himo.workspace.pointer import _parse_plain, dump_pointer

    for text in (
        dump_pointer(Path(name), HashInfo(GOOD_DIGEST, 4, None)),  # as himo writes it
        _pointer(path=name),  # as a person might, unquoted
        _pointer(path=name, nfiles=3, size="0012"),
        _pointer(digest="1" * 64),
    ):
        plain = _parse_plain(text)
        if plain is not None:
            assert plain == yaml.safe_load(text) or plain["digest"] == "1" * 64, text
    assert yaml.safe_load(dump_pointer(Path(name), HashInfo(GOOD_DIGEST, 4, None)))["path"] == name


# -- issue 12: a pointer naming its own folder deleted the repository on `checkout -f` ---------


@pytest.mark.parametrize(("pointer", "path"), [
    ("evil.himo", "."), ("sub/evil.himo", "."), ("evil.himo", "./"), ("evil.himo", "sub/.."),
    ("evil.himo", ".git"), ("evil.himo", ".himo"),
])
def test_forced_checkout_of_a_pointer_to_its_own_folder_changes_nothing(
    repo: Path, himo: Himo, pointer: str, path: str
) -> None:
    write(repo / "a.txt", "hello\n")
    write(repo / "sub" / "keep.txt", "keep\n")
    himo("add", "a.txt")
    write(repo / pointer, _pointer(path=f"'{path}'", digest=digest_of(b"hello\n"), size=6))
    before = snapshot(repo)
    git_before = sorted(p.relative_to(repo).as_posix() for p in (repo / ".git").rglob("*"))
    proc = himo("checkout", "-f", pointer, ok=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"Error: {pointer}: path '{path}' "), proc.stderr
    assert len(proc.stderr.splitlines()) == 2
    assert snapshot(repo) == before
    assert sorted(p.relative_to(repo).as_posix() for p in (repo / ".git").rglob("*")) == git_before
