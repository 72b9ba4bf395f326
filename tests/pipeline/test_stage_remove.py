"""`himo stage remove` (comments kept, lock entry and ignore lines gone, outputs kept), what a failed
`himo run` leaves, the `git add` hint naming the real files, and `.gitignore` lines that another
owner (DVC, a stage) needs staying through `himo remove`."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import Himo, write

PIPELINE = """\
# The project's pipeline: keep this comment
stages:
  prepare:   # splits the data
    cmd: mkdir -p data && echo rows > data/prepared.txt
    outs: [data/prepared.txt]
  train:
    cmd: cat data/prepared.txt > model.bin
    deps: [data/prepared.txt]
    outs: [model.bin]   # the model
# closing comment
"""


def test_stage_remove_keeps_comments_and_outputs_and_drops_lock_and_ignore_lines(repo: Path, himo: Himo):
    write(repo / "himo.yaml", PIPELINE)
    write(repo / "data" / ".gitignore", "/scratch\n")  # the user's own line
    himo("repro")
    assert (repo / "data" / ".gitignore").read_text() == "/scratch\n/prepared.txt\n"
    out = himo("stage", "remove", "train").stdout
    assert "git add himo.yaml himo.lock .gitignore" in out
    assert (repo / "himo.yaml").read_text() == PIPELINE.replace(
        "  train:\n    cmd: cat data/prepared.txt > model.bin\n    deps: [data/prepared.txt]\n"
        "    outs: [model.bin]   # the model\n", "")
    assert list(yaml.safe_load((repo / "himo.lock").read_text())["stages"]) == ["prepare"]
    assert (repo / "model.bin").read_text() == "rows\n" and not (repo / ".gitignore").exists()
    himo("stage", "remove", "prepare")
    assert (repo / "data" / ".gitignore").read_text() == "/scratch\n"  # only himo's line went
    proc = himo("stage", "remove", "prepare", ok=False)
    assert proc.stderr.startswith("Error: no stage named 'prepare' in himo.yaml (stages: none)")


def test_a_failed_run_names_stage_remove_which_takes_it_back(repo: Path, himo: Himo):
    proc = himo("run", "-n", "broken", "-o", "out/model.bin", "exit 3", ok=False)
    assert proc.returncode == 1
    assert "`himo stage remove broken`" in proc.stderr
    assert "himo.yaml" in himo("stage", "remove", "broken").stdout
    assert yaml.safe_load((repo / "himo.yaml").read_text()) == {"stages": {}}
    assert not (repo / "out" / ".gitignore").exists()


def test_git_hint_names_the_nested_gitignore_and_uncached_metrics(repo: Path, himo: Himo):
    out = himo("stage", "add", "-n", "s", "-o", "data/model.bin", "-M", "eval/metrics.json",
               "mkdir -p data eval && echo m > data/model.bin && echo '{}' > eval/metrics.json").stdout
    assert out.endswith("git add himo.yaml data/.gitignore\n")  # metrics.json does not exist yet
    out = himo("run", "-n", "t", "-o", "models/m.bin", "-M", "scores.json",
               "mkdir -p models && echo m > models/m.bin && echo '{}' > scores.json").stdout
    assert out.endswith("git add himo.yaml himo.lock models/.gitignore scores.json\n")


def test_remove_keeps_the_ignore_line_dvc_wrote(repo: Path, himo: Himo):
    """A migrated DVC project: data/.gitignore's `/data.xml` is DVC's (data/data.xml.dvc tracks it)."""
    write(repo / "data" / "data.xml", "<xml/>")
    himo("add", "data/data.xml")  # as migrate would: data.xml.himo beside DVC's data.xml.dvc
    write(repo / "data" / "data.xml.dvc", "outs:\n- md5: 0\n  path: data.xml\n")
    write(repo / "dvc.yaml", "stages:\n  prep:\n    cmd: x\n    wdir: data\n    outs: [prepared]\n")
    write(repo / "data" / "prepared", "p")
    write(repo / "dvc.lock", "schema: '2.0'\nstages:\n  prep:\n    cmd: x\n    outs:\n"
                             "    - path: scores.json\n      hash: md5\n"
                             "      md5: 99914b932bd37a50b983c5e7c90ae93b\n")
    write(repo / "data" / "scores.json", "{}")
    write(repo / "data" / ".gitignore", "/data.xml\n/scores.json\n")
    himo("add", "data/data.xml", "data/prepared", "data/scores.json")
    assert (repo / "data" / ".gitignore").read_text() == "/data.xml\n/scores.json\n/prepared\n"
    himo("remove", "data/data.xml.himo", "data/prepared.himo", "data/scores.json.himo")
    assert (repo / "data" / ".gitignore").read_text() == "/data.xml\n/scores.json\n/prepared\n"
    write(repo / "notes.txt", "n")
    himo("add", "notes.txt")
    himo("remove", "notes.txt.himo")
    assert not (repo / ".gitignore").exists() or "/notes.txt" not in (repo / ".gitignore").read_text()
