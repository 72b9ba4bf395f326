"""himo.yaml: stage keys, foreach/matrix/vars, `himo stage add` and `himo run`, and every bad
input of the pipeline issue (clear error naming file, line and stage; exit 1; nothing changed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import Himo, write


def stage_names(himo: Himo) -> list[str]:
    return [s["name"] for s in json.loads(himo("stage", "list", "--json").stdout)]


def test_foreach_list_and_dict_and_matrix_generate_stages(repo: Path, himo: Himo):
    write(repo / "params.yaml", "models: [small, large]\n")
    write(repo / "himo.yaml", """\
stages:
  fit:
    foreach: ${models}
    do:
      cmd: echo ${item} > ${item}.txt
      outs:
        - ${item}.txt
  score:
    foreach: {a: 1, b: 2}
    do:
      cmd: echo ${key}=${item} > score-${key}.txt
      outs:
        - score-${key}.txt
  grid:
    matrix:
      lr: [0.1, 0.01]
      depth: [3]
    cmd: echo ${item.lr} ${item.depth} > grid-${item.lr}-${item.depth}.txt
    outs:
      - grid-${item.lr}-${item.depth}.txt
""")
    assert stage_names(himo) == ["fit@small", "fit@large", "score@a", "score@b", "grid@0.1-3",
                                 "grid@0.01-3"]
    himo("repro")
    assert (repo / "large.txt").read_text() == "large\n"
    assert (repo / "score-b.txt").read_text() == "b=2\n"
    assert (repo / "grid-0.01-3.txt").read_text() == "0.01 3\n"
    himo("repro", "fit", "-f")  # a target names all its generated stages


def test_vars_inline_and_from_file_and_typed_interpolation(repo: Path, himo: Himo):
    write(repo / "config.yaml", "paths:\n  out: result.txt\n")
    write(repo / "himo.yaml", """\
vars:
  - config.yaml
  - {greeting: hello, flags: [a, b]}
stages:
  s:
    cmd: echo ${greeting} > ${paths.out}
    outs:
      - ${paths.out}
""")
    himo("repro")
    assert (repo / "result.txt").read_text() == "hello\n"


def test_cmd_list_wdir_persist_and_uncached_outputs(repo: Path, himo: Himo):
    write(repo / "sub" / "in.txt", "x\n")
    write(repo / "himo.yaml", """\
stages:
  s:
    wdir: sub
    cmd:
      - cp in.txt out.txt
      - echo more >> out.txt
    deps: [in.txt]
    outs:
      - out.txt
      - keep.txt: {persist: true, cache: false}
""")
    write(repo / "sub" / "keep.txt", "kept\n")
    himo("repro")
    assert (repo / "sub" / "out.txt").read_text() == "x\nmore\n"
    assert (repo / "sub" / "keep.txt").read_text() == "kept\n"  # persist: not deleted first
    outs = yaml.safe_load((repo / "himo.lock").read_text())["stages"]["s"]["outs"]
    assert [o["path"] for o in outs] == ["sub/out.txt", "sub/keep.txt"]
    assert "/out.txt" in (repo / "sub" / ".gitignore").read_text()


def test_frozen_and_always_changed(repo: Path, himo: Himo):
    write(repo / "himo.yaml", """\
stages:
  stamp:
    cmd: date +%N >> stamps.txt
    outs: [stamps.txt: {persist: true}]
    always_changed: true
  never:
    cmd: echo once >> once.txt
    outs: [once.txt: {persist: true}]
    frozen: true
""")
    himo("repro")
    himo("repro")
    assert len((repo / "stamps.txt").read_text().splitlines()) == 2
    assert not (repo / "once.txt").exists()  # frozen stages never run


def test_stage_add_keeps_comments_and_order(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "# my pipeline\nstages:\n  first:  # the first one\n    cmd: echo 1 > one.txt\n"
                              "    outs: [one.txt]\n")
    himo("stage", "add", "-n", "second", "-d", "one.txt", "-o", "two.txt", "cp one.txt two.txt")
    text = (repo / "himo.yaml").read_text()
    assert text.startswith("# my pipeline\nstages:\n  first:  # the first one\n")
    assert list(yaml.safe_load(text)["stages"]) == ["first", "second"]
    proc = himo("stage", "add", "-n", "second", "-o", "x.txt", "true", ok=False)
    assert proc.returncode == 1
    assert "Error: stage 'second' already exists in himo.yaml" in proc.stderr
    himo("stage", "add", "-f", "-n", "second", "-o", "x.txt", "echo > x.txt")
    assert yaml.safe_load((repo / "himo.yaml").read_text())["stages"]["second"]["outs"] == ["x.txt"]


def test_the_exact_run_line_of_the_issue(repo: Path, himo: Himo):
    write(repo / "params.yaml", "prepare:\n  seed: 20\n  split: 0.2\n")
    write(repo / "data" / "data.xml", "<rows/>\n")
    write(repo / "src" / "prepare.py", "import os, sys\nos.makedirs('data/prepared', exist_ok=True)\n"
                                       "open('data/prepared/out.xml', 'w').write(open(sys.argv[1]).read())\n")
    himo("run", "-n", "prepare", "-p", "prepare.seed,prepare.split", "-d", "src/prepare.py", "-d",
         "data/data.xml", "-o", "data/prepared", "python", "src/prepare.py", "data/data.xml")
    stage = yaml.safe_load((repo / "himo.yaml").read_text())["stages"]["prepare"]
    assert stage == {"cmd": "python src/prepare.py data/data.xml",
                     "deps": ["src/prepare.py", "data/data.xml"],
                     "params": ["prepare.seed", "prepare.split"], "outs": ["data/prepared"]}
    assert (repo / "data" / "prepared" / "out.xml").read_text() == "<rows/>\n"
    lock = yaml.safe_load((repo / "himo.lock").read_text())["stages"]["prepare"]
    assert lock["params"] == {"params.yaml": {"prepare.seed": 20, "prepare.split": 0.2}}


def test_params_from_other_files(repo: Path, himo: Himo):
    write(repo / "train.json", '{"lr": 0.5, "other": 1}')
    write(repo / "conf.toml", "[net]\nlayers = 3\n")
    write(repo / "himo.yaml", """\
stages:
  s:
    cmd: echo ok > s.txt
    params:
      - train.json: [lr]
      - conf.toml:net.layers
    outs: [s.txt]
""")
    himo("repro")
    params = yaml.safe_load((repo / "himo.lock").read_text())["stages"]["s"]["params"]
    assert params == {"train.json": {"lr": 0.5}, "conf.toml": {"net.layers": 3}}


BAD = [
    ("stages:\n  a:\n    cmd: [unclosed\n", "himo.yaml:4: invalid YAML"),
    ("stages:\n  a:\n    cmd: x\n    dep: [y]\n", "himo.yaml:4: stage 'a': unknown stage key 'dep'"),
    ("stages:\n  a:\n    cmd: cp b.txt a.txt\n    deps: [b.txt]\n    outs: [a.txt]\n"
     "  b:\n    cmd: cp a.txt b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n",
     "stage 'a': dependency cycle: a -> b -> a"),
    ("stages:\n  a:\n    cmd: x\n    outs: [o.txt]\n  b:\n    cmd: y\n    outs: [o.txt]\n",
     "himo.yaml:5: stage 'b': output 'o.txt' is also an output of stage 'a'"),
    ("stages:\n  a:\n    cmd: x\n    outs: [d]\n  b:\n    cmd: y\n    outs: [d/inner.txt]\n",
     "himo.yaml:5: stage 'b': output 'd/inner.txt' is inside output 'd' of stage 'a'"),
    ("stages:\n  a:\n    cmd: x\n    deps: [missing.txt]\n",
     "himo.yaml:2: stage 'a': dependency 'missing.txt' does not exist and no stage produces it"),
    ("stages:\n  a:\n    cmd: x\n    params: [train.nope]\n",
     "himo.yaml:2: stage 'a': params key 'train.nope' not found in params.yaml"),
    ("stages:\n  a/b:\n    cmd: x\n", "himo.yaml:2: stage 'a/b': invalid stage name 'a/b'"),
    ("stages:\n  a:\n    cmd: echo ${nope}\n", "himo.yaml:2: stage 'a': cannot resolve ${nope}"),
    ("stages:\n  a:\n    cmd: x\n    outs: [../x.txt]\n",
     "himo.yaml:2: stage 'a': outs: '../x.txt' is outside"),
    ("stages:\n  a:\n    cmd: x\n    outs: [/abs.txt]\n",
     "himo.yaml:2: stage 'a': outs: '/abs.txt' is outside"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[
    "yaml", "unknown-key", "cycle", "same-output", "nested-output", "missing-dep", "missing-param",
    "bad-name", "unresolved", "outside-relative", "outside-absolute"])
def test_bad_pipelines_are_refused_and_nothing_runs(repo: Path, himo: Himo, text: str, message: str):
    write(repo / "params.yaml", "train:\n  lr: 1\n")
    write(repo / "himo.yaml", text)
    commands = [["repro"], ["status"]] + ([] if "params key" in message else [["dag"]])
    for command in commands:
        proc = himo(*command, ok=False)
        assert proc.returncode == 1, command
        assert proc.stderr.startswith(f"Error: {message}") or message in proc.stderr.splitlines()[0]
        assert "Traceback" not in proc.stderr
    assert not (repo / "himo.lock").exists()
    assert not list((repo / ".himo").glob("logs/*"))


def test_unknown_key_suggests_the_right_one(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "stages:\n  a:\n    cmd: x\n    dep: [y]\n")
    assert "Hint: did you mean 'deps'?" in himo("repro", ok=False).stderr


def test_stage_add_with_a_bad_stage_writes_nothing(repo: Path, himo: Himo):
    write(repo / "himo.yaml", "stages:\n  a:\n    cmd: echo > a.txt\n    outs: [a.txt]\n")
    before = (repo / "himo.yaml").read_text()
    for args in (["-n", "b", "-o", "a.txt", "true"], ["-n", "c", "-d", "ghost.txt", "true"],
                 ["-n", "bad/name", "true"], ["-n", "d", "-o", "../out", "true"]):
        proc = himo("stage", "add", *args, ok=False)
        assert proc.returncode == 1 and proc.stderr.startswith("Error: himo.yaml:"), args
    assert (repo / "himo.yaml").read_text() == before


def test_dag_formats(repo: Path, himo: Himo):
    write(repo / "himo.yaml", """\
stages:
  a:
    cmd: echo > a.txt
    outs: [a.txt]
  b:
    cmd: echo > b.txt
    outs: [b.txt]
  c:
    cmd: cat a.txt b.txt > c.txt
    deps: [a.txt, b.txt]
    outs: [c.txt]
""")
    assert himo("dag").stdout == "* a  -> c\n* b  -> c\n* c\n"
    doc = json.loads(himo("dag", "--json").stdout)
    assert [n["name"] for n in doc["nodes"]] == ["a", "b", "c"]
    assert doc["edges"] == [{"from": "a", "to": "c"}, {"from": "b", "to": "c"}]
    assert himo("dag", "--mermaid").stdout.splitlines()[-2:] == ["    s0 --> s2", "    s1 --> s2"]
    assert '"a" -> "c";' in himo("dag", "--dot").stdout
    assert himo("dag", "a").stdout == "* a\n"
