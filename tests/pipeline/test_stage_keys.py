"""What each himo.yaml key means, checked by running real stages: cmd, wdir, deps, params,
outs/metrics/plots and their flags, desc, frozen, always_changed, foreach/matrix, vars and `${...}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Himo, write


def locked(repo: Path) -> dict[str, Any]:
    """The stages of himo.lock."""
    return yaml.safe_load((repo / "himo.lock").read_text())["stages"]


def listed(himo: Himo) -> dict[str, dict[str, Any]]:
    """`himo stage list --json`, by stage name (in file order)."""
    return {s.pop("name"): s for s in json.loads(himo("stage", "list", "--json").stdout)}


def cached(repo: Path, digest: str) -> bool:
    return (repo / ".himo" / "cache" / digest[:2] / digest[2:]).is_file()


def test_cmd_string_and_list_wdir_deps_and_desc(repo: Path, himo: Himo):
    write(repo / "sub" / "in.txt", "a\n")
    write(repo / "himo.yaml", """\
stages:
  copy:
    desc: Copy the input twice
    wdir: sub
    cmd:
      - cp in.txt out.txt
      - cat in.txt >> out.txt
    deps: [in.txt]
    outs: [out.txt]
  count:
    cmd: wc -l < sub/out.txt > count.txt
    deps: [sub/out.txt]
    outs: [count.txt]
""")
    assert himo("stage", "list").stdout == (
        "copy\tCopy the input twice\ncount\twc -l < sub/out.txt > count.txt\n")
    assert himo("repro").stdout == (
        "Running stage 'copy': never ran\n$ cp in.txt out.txt\n$ cat in.txt >> out.txt\n"
        "Running stage 'count': never ran\n$ wc -l < sub/out.txt > count.txt\n"
        "Pipeline is up to date (2 stage(s) run or restored).\n"
        "To track the changes with git, run:\n  git add himo.lock\n")
    assert (repo / "sub" / "out.txt").read_text() == "a\na\n"  # both commands ran, in sub/
    assert (repo / "count.txt").read_text().strip() == "2"
    lock = locked(repo)
    assert lock["copy"]["cmd"] == ["cp in.txt out.txt", "cat in.txt >> out.txt"]
    assert [d["path"] for d in lock["copy"]["deps"]] == ["sub/in.txt"]  # wdir-relative in himo.yaml
    assert [o["path"] for o in lock["copy"]["outs"]] == ["sub/out.txt"]
    assert lock["count"]["cmd"] == ["wc -l < sub/out.txt > count.txt"]
    assert (repo / "sub" / ".gitignore").read_text() == "/out.txt\n"


def test_params_default_file_colon_form_mapping_form_and_whole_file(repo: Path, himo: Himo):
    write(repo / "params.yaml", "train:\n  lr: 0.1\n  epochs: 3\n")
    write(repo / "conf.yaml", "model:\n  depth: 4\n  width: 8\n  unused: 0\n")
    write(repo / "train.json", '{"a": 1, "b": 2}')
    write(repo / "whole.toml", "x = 1\n[y]\nz = 'w'\n")
    write(repo / "himo.yaml", """\
stages:
  s:
    cmd: echo ok > s.txt
    params:
      - train.lr
      - conf.yaml:model.depth,model.width
      - train.json: [a]
      - whole.toml:
    outs: [s.txt]
""")
    himo("repro")
    assert locked(repo)["s"]["params"] == {
        "params.yaml": {"train.lr": 0.1},
        "conf.yaml": {"model.depth": 4, "model.width": 8},
        "train.json": {"a": 1},
        "whole.toml": {"x": 1, "y": {"z": "w"}},
    }
    write(repo / "train.json", '{"a": 1, "b": 3}')  # b is not a param of the stage
    write(repo / "conf.yaml", "model:\n  depth: 4\n  width: 8\n  unused: 1\n")
    assert himo("repro").stdout.startswith("Stage 's' is up to date\n")
    write(repo / "train.json", '{"a": 5, "b": 3}')
    assert himo("repro").stdout.startswith("Running stage 's': param a changed (1 -> 5)\n")


def test_params_files_are_relative_to_wdir_as_in_dvc(repo: Path, himo: Himo):
    write(repo / "params.yaml", "lr: 1\n")
    write(repo / "sub" / "params.yaml", "lr: 2\n")
    write(repo / "himo.yaml", "stages:\n  s:\n    wdir: sub\n    cmd: echo > o.txt\n    params: [lr]\n"
                              "    outs: [o.txt]\n")
    himo("repro")
    assert locked(repo)["s"]["params"] == {"sub/params.yaml": {"lr": 2}}


def test_output_flags_cache_false_persist_metrics_and_plots(repo: Path, himo: Himo):
    write(repo / "himo.yaml", """\
stages:
  build:
    cmd: >-
      echo run >> history.txt && echo model > model.bin && echo log > build.log &&
      echo '{"acc": 0.9}' > metrics.json && printf 'x,y\\n1,2\\n' > plot.csv
    outs:
      - model.bin
      - history.txt: {persist: true, cache: false}
      - build.log: {cache: false}
    metrics:
      - metrics.json: {cache: false}
    plots:
      - plot.csv: {x: x, y: y}
""")
    himo("repro")
    himo("repro", "-f")
    assert (repo / "history.txt").read_text() == "run\nrun\n"  # persist: kept before the stage ran
    outs = {o["path"]: o["digest"] for o in locked(repo)["build"]["outs"]}
    assert list(outs) == ["model.bin", "history.txt", "build.log", "metrics.json", "plot.csv"]
    # cache: false outputs are copied into the cache for the run-cache only (as in DVC): every
    # output's bytes are there, and the uncached ones stay the stage's own files in the workspace
    assert all(cached(repo, d) for d in outs.values())
    for path in ("history.txt", "build.log", "metrics.json"):
        assert not (repo / path).is_symlink() and (repo / path).stat().st_nlink == 1
    assert (repo / ".gitignore").read_text() == "/model.bin\n/plot.csv\n"  # git keeps the uncached ones


def test_frozen_stage_never_runs_and_always_changed_always_does(repo: Path, himo: Himo):
    write(repo / "in.txt", "1\n")
    pipeline = """\
stages:
  stamp:
    cmd: echo x >> stamps.txt
    outs: [stamps.txt: {persist: true, cache: false}]
    always_changed: true
  copy:
    cmd: cp in.txt copy.txt
    deps: [in.txt]
    outs: [copy.txt]
    frozen: FROZEN
"""
    write(repo / "himo.yaml", pipeline.replace("FROZEN", "false"))
    himo("repro")
    write(repo / "himo.yaml", pipeline.replace("FROZEN", "true"))
    write(repo / "in.txt", "2\n")
    out = himo("repro").stdout
    assert "Running stage 'stamp': always_changed\n" in out
    assert "Stage 'copy' is up to date\n" in out
    assert (repo / "copy.txt").read_text() == "1\n"  # frozen: its changed dep did not re-run it
    assert (repo / "stamps.txt").read_text() == "x\nx\n"


def test_foreach_list_dict_list_of_mappings_and_matrix(repo: Path, himo: Himo):
    write(repo / "params.yaml", "models: [small, large]\n")
    write(repo / "himo.yaml", """\
stages:
  fit:
    foreach: ${models}
    do:
      cmd: echo ${item} > model-${item}.txt
      outs:
        - model-${item}.txt
  score:
    foreach:
      small: 1
      large: 2
    do:
      cmd: cat model-${key}.txt > score-${key}.txt && echo ${item} >> score-${key}.txt
      deps:
        - model-${key}.txt
      outs: ['score-${key}.txt']  # quoted: '{' would open a mapping
  rows:
    foreach:
      - {name: x, n: 1}
      - {name: y, n: 2}
    do:
      cmd: echo ${item.n} > row-${item.name}.txt
      outs:
        - row-${item.name}.txt
  grid:
    matrix:
      lr: [0.1, 0.01]
      depth: [3, 5]
    cmd: echo ${item.lr}/${item.depth} > grid-${item.lr}-${item.depth}.txt
    outs:
      - grid-${item.lr}-${item.depth}.txt
""")
    assert list(listed(himo)) == ["fit@small", "fit@large", "score@small", "score@large", "rows@0", "rows@1",
                                  "grid@0.1-3", "grid@0.1-5", "grid@0.01-3", "grid@0.01-5"]
    out = himo("repro", "score@large").stdout  # a generated stage is a target, with its upstream
    assert [line for line in out.splitlines() if line.startswith("Running")] == [
        "Running stage 'fit@large': never ran", "Running stage 'score@large': never ran"]
    assert (repo / "score-large.txt").read_text() == "large\n2\n"
    himo("repro", "rows", "grid")  # the base name selects all its generated stages
    assert (repo / "row-y.txt").read_text() == "2\n"
    assert (repo / "grid-0.01-5.txt").read_text() == "0.01/5\n"
    assert sorted(locked(repo)) == ["fit@large", "grid@0.01-3", "grid@0.01-5", "grid@0.1-3", "grid@0.1-5",
                                    "rows@0", "rows@1", "score@large"]


def test_vars_inline_from_a_file_and_selected_keys(repo: Path, himo: Himo):
    write(repo / "params.yaml", "greeting: from-params\n")
    write(repo / "config.yaml", "paths:\n  out: result.txt\n")
    write(repo / "sizes.yaml", "small: 1\nlarge: 9\nnested:\n  deep: 7\n  other: 0\n")
    write(repo / "himo.yaml", """\
vars:
  - config.yaml
  - sizes.yaml:small,nested.deep
  - greeting: hello
    word: world
stages:
  s:
    cmd: echo ${greeting} ${word} ${small} ${nested.deep} > ${paths.out}
    outs:
      - ${paths.out}
""")
    himo("repro")
    assert (repo / "result.txt").read_text() == "hello world 1 7\n"  # vars override params.yaml


def test_interpolation_keeps_whole_values_typed_and_formats_embedded_ones(repo: Path, himo: Himo):
    write(repo / "params.yaml", """\
train: {lr: 0.001, epochs: 3, shuffle: true, name: run-1}
steps: [echo one > a.txt, echo two > b.txt]
files: [a.txt, b.txt]
freeze: false
""")
    write(repo / "himo.yaml", """\
stages:
  typed:
    cmd: ${steps}
    outs: ${files}
    frozen: ${freeze}
  embedded:
    cmd: X=sh; echo ${train.lr} ${train.epochs} ${train.shuffle} ${ train.name } \\${X} > args.txt
    outs: [args.txt]
""")
    stages = listed(himo)
    assert stages["typed"]["cmd"] == ["echo one > a.txt", "echo two > b.txt"]  # a list stays a list
    assert stages["typed"]["outs"] == ["a.txt", "b.txt"]
    assert stages["embedded"]["cmd"] == [
        "X=sh; echo 0.001 3 true run-1 ${X} > args.txt"]  # \\${...} is the shell's
    himo("repro")
    assert (repo / "b.txt").read_text() == "two\n"
    assert (repo / "args.txt").read_text() == "0.001 3 true run-1 sh\n"
