"""A path has one owner: `himo add` refuses a stage's output (or a path inside or around one), and
`himo stage add`/`run` refuse an output folder that holds a pointer, so the pipeline keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Himo, write
from tests.remotes.helpers import errors_of

PIPELINE = """\
stages:
  features:
    cmd: mkdir -p data/features && cp raw.csv data/features/f.csv
    deps: [raw.csv]
    outs: [data/features]
  train:
    cmd: cp data/features/f.csv model.bin
    deps: [data/features]
    outs: [model.bin]
"""


@pytest.fixture
def pipeline(repo: Path, himo: Himo) -> Path:
    write(repo / "raw.csv", "a,b\n1,2\n")
    write(repo / "himo.yaml", PIPELINE)
    write(repo / "data" / "other.csv", "x\n")
    himo("repro")
    return repo


REFUSED = {
    "model.bin": ["Error: model.bin: an output of stage 'train' in himo.yaml, which himo.lock records",
                  "Hint: run `himo repro train` to record it, not `himo add`"],
    "data/features/f.csv": [
        "Error: data/features/f.csv: inside data/features, an output of stage 'features' in himo.yaml,"
        " which himo.lock records", "Hint: run `himo repro features` to record it, not `himo add`"],
    "data": ["Error: data: contains data/features, an output of stage 'features' in himo.yaml",
             "Hint: add the other paths in data one by one; `himo repro features` records data/features"],
}


@pytest.mark.parametrize("path", sorted(REFUSED))
def test_add_refuses_a_stage_output(pipeline: Path, himo: Himo, path: str):
    proc = himo("add", path, ok=False)

    assert proc.returncode == 1
    assert errors_of(proc.stderr) == REFUSED[path]
    assert not (pipeline / f"{path}.himo").exists()
    assert himo("repro").stdout == ("Stage 'features' is up to date\nStage 'train' is up to date\n"
                                    "Pipeline is up to date (0 stage(s) run or restored).\n")
    assert himo("status").stdout == "Everything is up to date.\n"
    assert himo("add", "data/other.csv").stdout.startswith("Recorded data/other.csv")


def test_stage_add_refuses_an_output_folder_holding_a_pointer(repo: Path, himo: Himo):
    write(repo / "out" / "kept.csv", "x\n")
    himo("add", "out/kept.csv")
    for command in (["stage", "add"], ["run"]):
        proc = himo(*command, "-n", "make", "-o", "out", "mkdir -p out", ok=False)
        assert proc.returncode == 1
        assert errors_of(proc.stderr) == [
            "Error: himo.yaml: stage 'make' (not added): output 'out' holds out/kept.csv.himo, a path"
            " tracked by himo add",
            "Hint: a stage output cannot also be added: himo remove out/kept.csv.himo"]
    assert not (repo / "himo.yaml").exists()
    assert himo("status").stdout == "Everything is up to date.\n"


def test_add_refuses_while_himo_yaml_cannot_be_read(pipeline: Path, himo: Himo):
    """add cannot tell whether a stage writes the path: it says so rather than guess."""
    with open(pipeline / "himo.yaml", "a") as f:
        f.write("stages: [\n")
    proc = himo("add", "data/other.csv", ok=False)
    assert proc.returncode == 1
    assert errors_of(proc.stderr) == [
        "Error: himo.yaml:11: invalid YAML: did not find expected node content (himo add checks that no"
        " stage writes data/other.csv)", "Hint: fix the syntax of himo.yaml"]
    assert not (pipeline / "data" / "other.csv.himo").exists()
