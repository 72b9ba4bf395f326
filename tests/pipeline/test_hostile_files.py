"""Pipeline files that were internal errors (exit 3), now one line naming the file (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.helpers import assert_error
from tests.conftest import Himo, write

PIPELINE = ("stages:\n  s:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    params: [train]\n"
            "    outs: [out.txt]\n")
LOCK_HINT = "Hint: restore it with `git checkout -- himo.lock`, or delete it and run `himo repro`"


@pytest.fixture
def pipeline(repo: Path) -> Path:
    write(repo / "in.txt", "in\n")
    write(repo / "params.yaml", "train:\n  lr: 0.1\n")
    write(repo / "himo.yaml", PIPELINE)
    return repo


@pytest.mark.parametrize(("data", "problem"), [
    (b"\x82\x00\xff binary", "byte 0 is 0x82"), (bytes(range(256)), "byte 128 is 0x80"),
])
def test_binary_lock(pipeline: Path, himo: Himo, data: bytes, problem: str) -> None:
    himo("repro")
    write(pipeline / "himo.lock", data)
    for command in ("status", "repro"):
        proc = himo(command, ok=False)
        assert_error(proc, f"himo.lock: not UTF-8 text ({problem})")
        assert proc.stderr.splitlines()[1] == LOCK_HINT
    assert_error(himo("gc", "-w", "-f", ok=False), f"himo.lock: not UTF-8 text ({problem}) (gc cannot tell"
                                                   " which objects are in use, so it deleted nothing)")
    assert (pipeline / "himo.lock").read_bytes() == data


@pytest.mark.parametrize("file", ["himo.yaml", "params.yaml"])
def test_binary_pipeline_files(pipeline: Path, himo: Himo, file: str) -> None:
    write(pipeline / file, b"stages:\n\xff\xfe")
    proc = himo("status", ok=False)
    assert_error(proc, f"{file}: not UTF-8 text (byte 8 is 0xff)")
    assert proc.stderr.splitlines()[1] == f"Hint: fix {file}"


def test_nul_in_a_foreach_item(pipeline: Path, himo: Himo) -> None:
    write(pipeline / "himo.yaml", 'stages:\n  s:\n    foreach: ["a\\0b", c]\n'
                                  '    do:\n      cmd: echo ${item}\n')
    for command in ("status", "repro", "dag"):
        assert_error(himo(command, ok=False),
                     "himo.yaml:2: stage 's': foreach/matrix: the stage name 's@a\\x00b' contains NUL")
    write(pipeline / "himo.yaml", 'stages:\n  s:\n    foreach: {a: "x\\0y"}\n'
                                  '    do:\n      cmd: echo ${item}\n')
    assert_error(himo("repro", ok=False), "himo.yaml:2: stage 's@a': 'cmd' contains a NUL character")


def test_params_with_mixed_keys_run_and_compare(pipeline: Path, himo: Himo) -> None:
    """`1: x` beside `b: 2` could not be sorted (run-cache key): repro was an internal error."""
    write(pipeline / "params.yaml", "train:\n  1: x\n  b: 2\n  false: 3\n  ~: 4\n")
    himo("repro")
    assert himo("status").stdout == "Everything is up to date.\n"
    write(pipeline / "params.yaml", "train:\n  1: y\n  b: 2\n  false: 3\n  ~: 4\n")
    assert himo("status").stdout == (
        "stage s: param train changed ({'1': 'x', 'b': 2, 'false': 3, 'null': 4} -> "
        "{'1': 'y', 'b': 2, 'false': 3, 'null': 4})\n"
    )
    himo("repro")
    assert himo("status").stdout == "Everything is up to date.\n"


def test_params_key_written_twice(pipeline: Path, himo: Himo) -> None:
    write(pipeline / "params.yaml", "train:\n  1: x\n  '1': y\n")
    proc = himo("status", ok=False)
    assert_error(proc, "params.yaml: key 'train.1' is written twice (1 and '1')")
    assert proc.stderr.splitlines()[1] == "Hint: fix params.yaml: keep one of them"
