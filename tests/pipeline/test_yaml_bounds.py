"""Hostile YAML: a 640-byte alias bomb ran `status`/`dag`/`repro` to 3 GB and 40 s (issue 12).

Every YAML file himo reads goes through himo.workspace.yamlload, which refuses alias expansion
beyond a bound, recursive aliases and deep nesting, before anything is built from the document.
Ordinary anchors and merge keys (`<<: *defaults`, as DVC users write) keep working.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from himo.workspace import yamlload
from tests.api.helpers import assert_error
from tests.conftest import Himo, write
from tests.dvc import snapshot

# The classic "billion laughs": 9 levels of 9 aliases, 10^9 strings once expanded.
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
BOMB_PROBLEM = "aliases expand the document to 490,329,064 nodes (more than 100,000): an alias bomb?"
ANY_BOMB = re.compile(r"aliases expand the document to [0-9,]+ nodes \(more than 100,000\): an alias bomb\?")
DEFAULTS = """\
defaults: &defaults
  cmd: cp in.txt ${item}.txt
  deps: [in.txt]
"""


def test_the_bomb_is_small() -> None:
    assert len(BOMB.encode()) < 640


@pytest.mark.parametrize(("text", "problem"), [
    (BOMB, BOMB_PROBLEM),
    ("a: &a [x, *a]\n", "an alias refers to a node that contains it (a recursive document)"),
    ("a: &a {b: *a}\n", "an alias refers to a node that contains it (a recursive document)"),
    ("x: " + "[" * 101 + "]" * 101 + "\n", "nested deeper than 100 levels"),
    pytest.param("x: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested deeper than 100 levels",
                 id="100000-levels"),  # crashed libyaml
    ("- " * 101 + "x\n", "nested deeper than 100 levels"),
    ("a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 50 + "*a" + "]" * 50 + "\n",
     "nested deeper than 100 levels"),
])
def test_loader_refuses_quickly(text: str, problem: str) -> None:
    start = time.monotonic()
    with pytest.raises(yaml.MarkedYAMLError) as info:
        yamlload.load(text)
    assert info.value.problem == problem
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("text", [
    DEFAULTS + "a:\n  <<: *defaults\n  outs: [a]\nb:\n  <<: *defaults\n",
    "x: " + "[" * 99 + "]" * 99 + "\n",
    pytest.param("a: &a [1, 2, 3]\n" + "".join(f"k{i}: *a\n" for i in range(1000)),
                 id="1000-aliases"),  # small aliases, many times
])
def test_loader_accepts_ordinary_documents(text: str) -> None:
    assert yamlload.load(text) == yaml.load(text, Loader=yaml.CSafeLoader)


def test_loader_accepts_a_big_document_without_aliases() -> None:
    """200,000 items, no expansion: read whole, as PyYAML's safe loader reads it (the literal is
    what it returns; asking it again cost another second)."""
    assert yamlload.load("list: [" + ", ".join(["1"] * 200_000) + "]\n") == {"list": [1] * 200_000}


@pytest.fixture
def pipeline(repo: Path) -> Path:
    write(repo / "in.txt", "in\n")
    write(repo / "params.yaml", "lr: 0.1\n")
    write(repo / "himo.yaml", "stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n"
                              "    params: [lr]\n    outs: [out.txt]\n")
    return repo


@pytest.mark.parametrize("file", ["himo.yaml", "params.yaml"])
def test_bomb_is_one_line_error_for_status_dag_repro(pipeline: Path, himo: Himo, file: str) -> None:
    write(pipeline / file, BOMB)
    where = "himo.yaml:1: invalid YAML" if file == "himo.yaml" else "params.yaml:1: cannot parse"
    for command in ("status", "dag", "repro"):
        start = time.monotonic()
        proc = himo(command, ok=False)
        assert time.monotonic() - start < 10, command
        assert_error(proc, f"{where}: {BOMB_PROBLEM}")
        assert len(proc.stderr.splitlines()) == 2
    assert not (pipeline / "out.txt").exists()


def test_bomb_in_lock_and_pointer(pipeline: Path, himo: Himo) -> None:
    write(pipeline / "himo.lock", BOMB)
    assert_error(himo("status", ok=False), f"himo.lock: unreadable: invalid YAML on line 1: {BOMB_PROBLEM}")
    (pipeline / "himo.lock").unlink()
    write(pipeline / "x.himo", BOMB)
    assert_error(himo("status", ok=False), f"x.himo: invalid YAML (line 1): {BOMB_PROBLEM}")


def test_bomb_refused_by_stage_add(pipeline: Path, himo: Himo) -> None:
    write(pipeline / "himo.yaml", BOMB)
    proc = himo("stage", "add", "-n", "more", "echo hi", ok=False)
    assert_error(proc, f"himo.yaml:1: invalid YAML: {BOMB_PROBLEM}")
    assert (pipeline / "himo.yaml").read_text() == BOMB


def test_merge_keys_and_aliases_still_work(repo: Path, himo: Himo) -> None:
    write(repo / "in.txt", "in\n")
    write(repo / "himo.yaml", """\
vars:
  - defaults: &defaults
      deps: &inputs [in.txt]
      frozen: false
stages:
  first:
    <<: *defaults
    cmd: cp in.txt out.txt
    outs: [out.txt]
  second:
    <<: *defaults
    cmd: cat in.txt out.txt > out2.txt
    deps: [out.txt, in.txt]
    outs: [out2.txt]
  third:
    cmd: cp in.txt out3.txt
    deps: *inputs
    outs: [out3.txt]
""")
    himo("repro")
    assert (repo / "out2.txt").read_text() == "in\nin\n"
    assert (repo / "out3.txt").read_text() == "in\n"
    assert himo("status").stdout == "Everything is up to date.\n"
    assert himo("dag").returncode == 0


def test_dashboard_pipeline_answers_the_bomb_with_one_error(pipeline: Path, himo: Himo) -> None:
    """/pipeline was an internal error after 1.27 GB; now the one-line error, as JSON and as a page
    (the dashboard answers every error of the repository it serves with 500: not the client's)."""
    from fastapi.testclient import TestClient

    from himo.ui.app import create_app
    from himo.ui.server import open_source

    himo("repro")
    write(pipeline / "params.yaml", BOMB)
    store, repo = open_source(None, pipeline)
    try:
        client = TestClient(create_app(store, repo), base_url="http://127.0.0.1")
        start = time.monotonic()
        answer = client.get("/api/pipeline")
        assert time.monotonic() - start < 10
        assert answer.status_code == 500, answer.text
        assert answer.json() == {"error": f"params.yaml:1: cannot parse: {BOMB_PROBLEM}",
                                 "hint": "fix params.yaml"}
        page = client.get("/pipeline", headers={"accept": "text/html"})
        assert page.status_code == 500
        assert "an alias bomb?" in page.text
    finally:
        store.close()



DEEP = "x: " + "[" * 101 + "]" * 101 + "\n"
DEEP_PROBLEM = re.compile(re.escape("nested deeper than 100 levels"))
# A section of himo.yaml, up to where the hostile mapping goes (6 spaces in), and a command reading it.
SECTIONS = {
    "plots": ("plots:\n  - loss.csv:\n", ["plots", "show", "loss.csv"]),
    "artifacts": ("artifacts:\n  model:\n    path: model.bin\n    meta:\n", ["dag"]),
    "datasets": ("datasets:\n  - name: d\n    type: url\n    meta:\n", ["status"]),
}


def indented(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


HOSTILE = pytest.mark.parametrize(("hostile", "problem"), [(BOMB, ANY_BOMB), (DEEP, DEEP_PROBLEM)],
                                  ids=["alias bomb", "deep"])


@HOSTILE
@pytest.mark.parametrize("section", SECTIONS)
def test_hostile_yaml_in_the_new_sections_is_one_line_error(pipeline: Path, himo: Himo, section: str,
                                                           hostile: str, problem: re.Pattern[str]) -> None:
    """plots:, artifacts:, datasets: are read with the rest of himo.yaml, through the bounded loader."""
    head, command = SECTIONS[section]
    write(pipeline / "loss.csv", "step,loss\n0,1\n")
    write(pipeline / "himo.yaml", (pipeline / "himo.yaml").read_text() + head + indented(hostile, 6))
    before = snapshot(pipeline)
    proc = himo(*command, ok=False)
    first = proc.stderr.splitlines()[0]
    assert re.fullmatch(rf"Error: himo.yaml:[0-9]+: invalid YAML: {problem.pattern}", first), first
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 2
    assert snapshot(pipeline) == before  # no himo_plots/, nothing written



@pytest.mark.parametrize("command", [["lineage", "model"], ["where", "model"]])
def test_an_artifact_name_with_an_unreadable_himo_yaml_names_the_yaml_problem(
        pipeline: Path, himo: Himo, command: list[str]) -> None:
    """Not `model: not tracked`: the name could not be looked up, and the YAML is what to fix."""
    head, _ = SECTIONS["artifacts"]
    write(pipeline / "himo.yaml", (pipeline / "himo.yaml").read_text() + head + indented(BOMB, 6))
    proc = himo(*command, ok=False)
    first = proc.stderr.splitlines()[0]
    assert re.fullmatch(rf"Error: himo.yaml:[0-9]+: invalid YAML: {ANY_BOMB.pattern}", first), first
    assert proc.returncode == 1
