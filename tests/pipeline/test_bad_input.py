"""Every bad himo.yaml of the pipeline issue is refused with one clear error naming the file, the
line and the stage; exit code 1; and nothing changes: himo.yaml and himo.lock stay as they were,
no stage runs, no log is written. `himo stage add` refuses the same mistakes and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Himo, git, write

# Lines 1-6; a case's stages start on line 7. `ok` re-runs on every repro that gets to run.
GOOD = """\
stages:
  ok:
    cmd: echo run >> runs.txt && cp data.txt ok.txt
    deps: [data.txt]
    outs: [ok.txt]
    always_changed: true
"""


@pytest.fixture(scope="module")
def ran_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose good pipeline ran once, and a file tracked with `himo add`."""
    root = tmp_path_factory.mktemp("template") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root / "data.txt", "data\n")
    write(root / "tracked.txt", "added\n")
    write(root / "params.yaml", "train:\n  lr: 0.1\n")
    write(root / "himo.yaml", GOOD)
    himo = Himo(root)
    himo("init")
    himo("add", "tracked.txt")
    himo("repro")
    assert (root / "runs.txt").read_text() == "run\n"
    return root


@pytest.fixture
def repo(ran_once: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(ran_once, tmp_path / "repo", symlinks=True))


def snapshot(repo: Path) -> dict[str, object]:
    """What a refused command must not change."""
    return {
        "himo.yaml": (repo / "himo.yaml").read_text(),
        "himo.lock": (repo / "himo.lock").read_text(),
        ".gitignore": (repo / ".gitignore").read_text(),
        "runs": (repo / "runs.txt").read_text(),
        "logs": sorted(p.name for p in (repo / ".himo" / "logs").rglob("*")),
    }


def refused(himo: Himo, *args: str) -> str:
    """Run a command that must fail as a user error; its stderr."""
    proc = himo(*args, ok=False)
    assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
    return proc.stderr


CASES = {
    "invalid-yaml": (
        "  bad:\n    cmd: [unclosed\n",
        "himo.yaml:9: invalid YAML: did not find expected ',' or ']'"
        " (while parsing a flow sequence that starts on line 8)",
        "fix the syntax of himo.yaml"),
    "invalid-yaml-indent": (
        "  bad:\n    cmd: x\n   deps: [data.txt]\n",
        "himo.yaml:9: invalid YAML: did not find expected key"
        " (while parsing a block mapping that starts on line 2)",
        "fix the syntax of himo.yaml"),
    "interpolation-in-flow-list": (
        "  bad:\n    cmd: x\n    outs: [${train.lr}.txt]\n",
        "himo.yaml:9: invalid YAML: did not find expected ',' or ']'",
        "inside [...] or {...}, YAML reads '{' as a mapping: quote the value ('${x}.txt')"
        " or write one item per line (- ${x}.txt)"),
    "duplicate-stage": (
        "  ok:\n    cmd: echo again\n",
        "himo.yaml:7: duplicate key 'ok' (also on line 2)",
        "remove or rename one of them in himo.yaml"),
    "unknown-stage-key": (
        "  bad:\n    cmd: x\n    dep: [data.txt]\n",
        "himo.yaml:9: stage 'bad': unknown stage key 'dep'",
        "did you mean 'deps'?"),
    "unknown-output-flag": (
        "  bad:\n    cmd: x\n    outs:\n      - o.txt: {cahce: false}\n",
        "himo.yaml:10: stage 'bad': unknown flag of 'o.txt' 'cahce'",
        "did you mean 'cache'?"),
    "unknown-top-level-key": (
        "stage:\n  bad:\n    cmd: x\n",
        "himo.yaml:7: unknown top-level key 'stage'",
        "did you mean 'stages'?"),
    "cycle": (
        "  a:\n    cmd: x\n    deps: [c.txt]\n    outs: [a.txt]\n"
        "  b:\n    cmd: x\n    deps: [a.txt]\n    outs: [b.txt]\n"
        "  c:\n    cmd: x\n    deps: [b.txt]\n    outs: [c.txt]\n",
        "himo.yaml:7: stage 'a': dependency cycle: a -> b -> c -> a",
        "each stage reads an output of the one before it; a stage cannot depend on what it"
        " produces, even indirectly"),
    "same-output": (
        "  bad:\n    cmd: x\n    outs: [ok.txt]\n",
        "himo.yaml:7: stage 'bad': output 'ok.txt' is also an output of stage 'ok'",
        "each path is written by one stage only"),
    "output-inside-output": (  # `d-x` sorts between `d` and `d/inner.txt`
        "  dir:\n    cmd: x\n    outs: [d]\n  dash:\n    cmd: x\n    outs: [d-x]\n"
        "  inner:\n    cmd: x\n    outs: [d/inner.txt]\n",
        "himo.yaml:13: stage 'inner': output 'd/inner.txt' is inside output 'd' of stage 'dir'",
        "outputs must not overlap"),
    "output-added-with-himo-add": (
        "  bad:\n    cmd: x\n    outs: [tracked.txt]\n",
        "himo.yaml:7: stage 'bad': output 'tracked.txt' is tracked by tracked.txt.himo (himo add)",
        "a stage output cannot also be added: himo remove tracked.txt.himo"),
    "missing-dependency": (
        "  bad:\n    cmd: x\n    deps: [ghost.txt]\n",
        "himo.yaml:7: stage 'bad': dependency 'ghost.txt' does not exist and no stage produces it",
        "create ghost.txt, `himo add` it, or add the stage that writes it"),
    "missing-params-key": (
        "  bad:\n    cmd: x\n    params: [train.lr, train.nope]\n",
        "himo.yaml:7: stage 'bad': params key 'train.nope' not found in params.yaml",
        "add train.nope to params.yaml, or remove it from the stage"),
    "missing-params-file": (
        "  bad:\n    cmd: x\n    params: ['other.yaml:lr']\n",
        "himo.yaml:7: stage 'bad': params file other.yaml does not exist",
        "create other.yaml"),
    "params-keys-not-a-list": (
        "  bad:\n    cmd: x\n    params:\n      - params.yaml: train.lr\n",
        "himo.yaml:7: stage 'bad': params: the keys of 'params.yaml' must be a list",
        "each 'params' item is a key, 'file:key1,key2' or a mapping file: [keys]"),
    "output-flag-not-a-boolean": (
        "  bad:\n    cmd: x\n    outs:\n      - o.txt: {cache: 'no'}\n",
        "himo.yaml:10: stage 'bad': outs: 'o.txt': 'cache' must be true or false",
        "fix himo.yaml"),
    "name-with-slash": (
        "  a/b:\n    cmd: x\n",
        "himo.yaml:7: stage 'a/b': invalid stage name 'a/b'",
        "use letters, digits, '_', '-' and '.'"),
    "name-with-at": (
        "  '@x':\n    cmd: x\n",
        "himo.yaml:7: stage '@x': invalid stage name '@x'",
        "use letters, digits, '_', '-' and '.'"),
    "unresolved": (
        "  bad:\n    cmd: echo ${train.nope}\n",
        "himo.yaml:7: stage 'bad': cannot resolve ${train.nope}",
        "define it in params.yaml or under 'vars' in himo.yaml"),
    "unresolved-foreach": (
        "  bad:\n    foreach: ${models}\n    do:\n      cmd: echo ${item}\n",
        "himo.yaml:7: stage 'bad': cannot resolve ${models}",
        "define it in params.yaml or under 'vars' in himo.yaml"),
    "mapping-inside-a-string": (
        "  bad:\n    cmd: echo ${train}\n",
        "himo.yaml:7: stage 'bad': ${train} is a mapping: it can only be a whole value, not part of"
        " a longer string",
        "fix himo.yaml"),
    "unparsable-interpolation": (
        "  bad:\n    cmd: echo ${train lr}\n",
        "himo.yaml:7: stage 'bad': cannot parse '${train lr}': write ${name} or ${a.b},"
        " or \\${...} for the shell",
        "fix himo.yaml"),
    "output-outside-relative": (
        "  bad:\n    cmd: x\n    outs: [../x]\n",
        "himo.yaml:7: stage 'bad': outs: '../x' is outside the repository",
        "pipelines read and write inside the repository only"),
    "output-outside-absolute": (
        "  bad:\n    cmd: x\n    metrics: [/abs.json]\n",
        "himo.yaml:7: stage 'bad': metrics: '/abs.json' is outside the repository",
        "pipelines read and write inside the repository only"),
    "output-outside-through-wdir": (
        "  bad:\n    wdir: sub\n    cmd: x\n    outs: [../../x]\n",
        "himo.yaml:7: stage 'bad': outs: '../../x' is outside the repository",
        "pipelines read and write inside the repository only"),
    "output-is-the-repository": (
        "  bad:\n    cmd: x\n    outs: [.]\n",
        "himo.yaml:7: stage 'bad': outs: '.' is the whole repository",
        "name the files or folders the stage writes"),
    "output-holds-the-wdir": (
        "  bad:\n    wdir: sub\n    cmd: x\n    outs: [.]\n",
        "himo.yaml:7: stage 'bad': outs: '.' holds the stage's wdir 'sub', which would be removed before"
        " the stage runs",
        "write into a folder below wdir, or add persist: true"),
    "output-in-himo-dir": (
        "  bad:\n    cmd: x\n    outs: [.himo/cache]\n",
        "himo.yaml:7: stage 'bad': outs: '.himo/cache' is inside .himo, which himo manages",
        "a stage cannot write there: its outputs are removed before it runs"),
    "output-is-the-lock-file": (
        "  bad:\n    cmd: x\n    plots: [himo.lock]\n",
        "himo.yaml:7: stage 'bad': plots: 'himo.lock' is himo.lock, which himo manages",
        "a stage cannot write there: its outputs are removed before it runs"),
    "missing-wdir": (
        "  bad:\n    wdir: nowhere\n    cmd: x\n",
        "himo.yaml:7: stage 'bad': wdir 'nowhere' does not exist",
        "create the folder nowhere, or fix 'wdir'"),
    "vars-not-a-list": (
        "vars: {a: 1}\n",
        "himo.yaml:7: 'vars' must be a list of file names and mappings",
        "write vars:\n  - name: value"),
    "vars-key-missing": (
        "vars: ['params.yaml:train.nope']\n",
        "himo.yaml:7: vars: key 'train.nope' not found in params.yaml",
        "fix himo.yaml"),
    "vars-file-missing": (
        "vars: [nothere.yaml]\n",
        "himo.yaml:7: vars: file 'nothere.yaml' does not exist",
        "create nothere.yaml, or remove it from 'vars'"),
}


@pytest.mark.parametrize(("stages", "message", "hint"), CASES.values(), ids=CASES.keys())
def test_bad_himo_yaml_is_refused_and_changes_nothing(repo: Path, stages: str, message: str, hint: str):
    write(repo / "himo.yaml", GOOD + stages)
    before = snapshot(repo)
    assert refused(Himo(repo), "repro") == f"Error: {message}\nHint: {hint}\n"
    assert snapshot(repo) == before  # `ok` did not run (it always would), nothing was written


@pytest.mark.parametrize("command", [["dag"], ["status"], ["stage", "list"], ["repro", "--dry"]], ids=str)
def test_read_only_commands_refuse_it_too(repo: Path, himo: Himo, command: list[str]):
    write(repo / "himo.yaml", GOOD + "  bad:\n    cmd: x\n    dep: [data.txt]\n")
    assert refused(himo, *command) == (
        "Error: himo.yaml:9: stage 'bad': unknown stage key 'dep'\nHint: did you mean 'deps'?\n")


ADD_CASES = {
    "same-output": (["-n", "b", "-o", "ok.txt", "true"],
                    "himo.yaml: stage 'b' (not added): output 'ok.txt' is also an output of stage 'ok'"),
    "output-inside-output": (["-n", "b", "-o", "ok.txt/inner", "true"],
                             "himo.yaml: stage 'b' (not added): output 'ok.txt/inner' is inside output"
                             " 'ok.txt' of stage 'ok'"),
    "cycle": (["-n", "b", "-d", "ok.txt", "-o", "data.txt", "true"],
              "himo.yaml:2: stage 'ok': dependency cycle: ok -> b -> ok"),
    "missing-dependency": (["-n", "b", "-d", "ghost.txt", "true"],
                           "himo.yaml: stage 'b' (not added): dependency 'ghost.txt' does not exist and"
                           " no stage produces it"),
    "missing-params-key": (["-n", "b", "-p", "train.lr,train.nope", "true"],
                           "himo.yaml: stage 'b' (not added): params key 'train.nope' not found in"
                           " params.yaml"),
    "name-with-slash": (["-n", "a/b", "true"],
                        "himo.yaml: stage 'a/b' (not added): invalid stage name 'a/b'"),
    "name-with-at": (["-n", "@x", "true"], "himo.yaml: stage '@x' (not added): invalid stage name '@x'"),
    "unresolved": (["-n", "b", "echo", "${nope}"],
                   "himo.yaml: stage 'b' (not added): cannot resolve ${nope}"),
    "output-outside-relative": (["-n", "b", "-o", "../x", "true"],
                                "himo.yaml: stage 'b' (not added): outs: '../x' is outside the repository"),
    "output-outside-absolute": (["-n", "b", "-M", "/abs.json", "true"],
                                "himo.yaml: stage 'b' (not added): metrics: '/abs.json' is outside the"
                                " repository"),
    "output-is-the-repository": (["-n", "b", "-w", "sub", "-o", "..", "true"],
                                 "himo.yaml: stage 'b' (not added): outs: '..' is the whole repository"),
}


@pytest.mark.parametrize(("args", "message"), ADD_CASES.values(), ids=ADD_CASES.keys())
def test_stage_add_refuses_the_same_mistakes_and_writes_nothing(repo: Path, args: list[str], message: str):
    (repo / "sub").mkdir()
    before = snapshot(repo)
    for command in ("stage", "add"), ("run",):
        assert refused(Himo(repo), *command, *args).startswith(f"Error: {message}\nHint: ")
    assert snapshot(repo) == before


def test_stage_add_into_a_broken_himo_yaml_names_its_line(repo: Path, himo: Himo):
    write(repo / "himo.yaml", GOOD + "  bad:\n    cmd: [unclosed\n")
    before = snapshot(repo)
    assert refused(himo, "stage", "add", "-n", "b", "true") == (
        "Error: himo.yaml:9: invalid YAML: did not find expected ',' or ']'"
        " (while parsing a flow sequence that starts on line 8)\nHint: fix the syntax of himo.yaml\n")
    assert snapshot(repo) == before


LOCKS = {
    "invalid-yaml": ("stages: [\n", "invalid YAML on line 2: did not find expected node content"),
    "bad-digest": ("stages:\n  ok:\n    cmd: [x]\n    deps: [{path: data.txt, digest: zz}]\n",
                   "bad digest 'zz'"),
    "no-cmd": ("stages:\n  ok: {deps: []}\n", "a stage lacks 'cmd'"),
}


@pytest.mark.parametrize(("lock", "problem"), LOCKS.values(), ids=LOCKS.keys())
def test_an_unreadable_himo_lock_is_named_and_left_alone(repo: Path, himo: Himo, lock: str, problem: str):
    write(repo / "himo.lock", lock)
    before = snapshot(repo)
    assert refused(himo, "repro") == (
        f"Error: himo.lock: unreadable: {problem}\n"
        "Hint: restore it with `git checkout -- himo.lock`, or delete it and run `himo repro`\n")
    assert snapshot(repo) == before
