"""Directory manifests from outside: every entry is checked where the manifest is loaded (issue 12)."""

from __future__ import annotations

import json

import pytest

from himo.errors import ManifestError
from himo.objects.manifest import load_manifest, manifest_digests

D = "1" * 64
OID = "ab" * 32
HINT = "run `himo fsck`, or re-create the pointer with `himo add`"


def _manifest(files: object, **extra: object) -> bytes:
    return json.dumps({"himo-manifest": 1, "hash": "blake3", "files": files, **extra}).encode()


M = "directory manifest abababababab: "
STAY = ": entries must stay inside the directory"
NOT_ONE = "digest abababababab names a file, not a directory manifest"

BAD = {
    "list-of-lists": (b"[[1,2,3]]", NOT_ONE),
    "deep-nesting": (b"[" * 100_000, NOT_ONE),
    "not-utf8": (b"\xff\xfe", NOT_ONE),
    "other-hash": (_manifest([], hash="md5"), M + "unknown hash algorithm 'md5' (this himo knows: blake3)"),
    "files-not-list": (_manifest({"a": 1}), M + "'files' must be a list of [path, digest, size]"),
    "entry-of-ints": (_manifest([[1, 2, 3]]), M + "entry 1 has path 1, not a string"),
    "entry-short": (_manifest([["a", D]]), M + f"entry 1 is ['a', '{D}'], not [path, digest, size]"),
    "up": (_manifest([["ok", D, 1], ["../../x", D, 1]]),
           M + "entry 2 path '../../x' goes up with '..'" + STAY),
    "absolute": (_manifest([["/abs/x", D, 1]]), M + "entry 1 path '/abs/x' is absolute" + STAY),
    "empty": (_manifest([["", D, 1]]), M + "entry 1 path '' is empty" + STAY),
    "dot": (_manifest([["a/./b", D, 1]]),
            M + "entry 1 path 'a/./b' is not normalised (an empty or '.' part)" + STAY),
    "double-slash": (_manifest([["a//b", D, 1]]),
                     M + "entry 1 path 'a//b' is not normalised (an empty or '.' part)" + STAY),
    "newline": (_manifest([["a\nb", D, 1]]), M + "entry 1 path 'a\\nb' contains a line break" + STAY),
    "nul": (_manifest([["a\x00b", D, 1]]), M + "entry 1 path 'a\\x00b' contains NUL" + STAY),
    "git-hooks": (_manifest([["sub/.Git/hooks/pre-commit", D, 1]]),
                  M + "entry 1 path 'sub/.Git/hooks/pre-commit' is inside '.git', which belongs to git"
                  + STAY),
    "bad-digest": (_manifest([["a", D + "\n", 1]]), M + f"entry 1 has malformed digest '{D}\\n'"),
    "negative-size": (_manifest([["a", D, -1]]), M + "entry 1 has size -1, not a non-negative integer"),
    "bool-size": (_manifest([["a", D, True]]), M + "entry 1 has size True, not a non-negative integer"),
    "twice": (_manifest([["a", D, 1], ["b", D, 1], ["a", D, 2]]), M + "path 'a' is listed twice"),
    "file-and-folder": (_manifest([["a/b/c", D, 1], ["a/b", D, 1]]),
                        M + "path 'a/b' is both a file and a folder"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_manifest_is_one_manifest_error(case: str) -> None:
    data, message = BAD[case]
    for load in (load_manifest, manifest_digests):
        with pytest.raises(ManifestError) as info:
            load(data, OID)
        assert info.value.message == message
        assert info.value.hint == HINT


def test_good_manifest_loads() -> None:
    data = _manifest([["a", D, 1], ["a.b/c", D, 0], [".gitignore", D, 2], ["sub/..x", D, 3], ["é", D, 4]])
    assert [e.path for e in load_manifest(data, OID)] == ["a", "a.b/c", ".gitignore", "sub/..x", "é"]
    assert manifest_digests(data, OID) == dict.fromkeys(["a", "a.b/c", ".gitignore", "sub/..x", "é"], D)
