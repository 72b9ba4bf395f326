"""`himo migrate dvc` on small repositories made by the real DVC 3 (tests/dvc.py)."""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.conftest import PIPELINE
from tests.api.helpers import assert_error
from tests.conftest import Himo, git, write
from tests.dvc import dvc, snapshot
from tests.pipeline.test_yaml_bounds import HOSTILE, indented

pytestmark = pytest.mark.xdist_group("dvc")  # one worker builds the DVC repositories, once

@pytest.fixture
def project(dvc_project: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(dvc_project, root, symlinks=True)
    return root


def migrate(root: Path, *args: str, ok: bool = True):  # type: ignore[no-untyped-def]
    return Himo(root)("migrate", "dvc", *args, ok=ok)


def steps(root: Path, *args: str) -> dict[str, str]:
    out = json.loads(Himo(root)("migrate", "dvc", "--json", *args).stdout)
    return {f"{s['what']} {s['path']}": s["status"] for s in out["steps"]}


def test_converts_in_place_and_nothing_needs_a_rerun(project: Path) -> None:
    proc = migrate(project)
    assert "lock train: converted" in proc.stdout and "pointer data/raw.dvc -> data/raw.himo" in proc.stdout
    assert (project / "himo.yaml").read_text() == PIPELINE  # every key and comment kept
    assert (project / "data" / "raw.himo").is_file() and (project / "single.bin.himo").is_file()
    himo = Himo(project)
    assert "0 stage(s) run" in himo("repro").stdout
    assert "up to date" in himo("status").stdout
    assert (project / "dvc.yaml").exists() and (project / "data" / "raw.dvc").exists()  # DVC's files stay


def test_running_it_again_changes_nothing(project: Path) -> None:
    migrate(project)
    before = snapshot(project)
    assert set(steps(project).values()) == {"unchanged"}
    assert snapshot(project) == before


def test_dry_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    found = steps(project, "--dry")
    assert found["lock train"] == "would be converted" and found["remote store"] == "would be converted"
    assert snapshot(project) == before


def test_an_output_changed_since_dvc_ran_is_left_stale(project: Path) -> None:
    (project / "model.txt").write_text("edited by hand\n")
    found = steps(project)
    assert found["lock prepare"] == "converted" and found["lock train"] == "stale"
    ran = Himo(project)("repro").stdout
    assert "Running stage 'train'" in ran and "Running stage 'prepare'" not in ran


def test_a_param_change_reruns_what_dvc_would(project: Path) -> None:
    migrate(project)
    (project / "params.yaml").write_text("train:\n  lr: 0.2\n")
    himo = Himo(project)
    ran = himo("repro").stdout
    assert "Running stage 'train'" in ran and "prepare' is up to date" in ran
    (project / "params.yaml").write_text("train:\n  lr: 0.1\n")
    assert "Restored stage 'train' from the run-cache" in himo("repro").stdout  # DVC's run, kept by migrate
    assert (project / "model.txt").read_text().endswith("lr=0.1\n")
    assert json.loads((project / "metrics.json").read_text()) == {"score": 0.9}  # uncached, restored too
    assert "metrics.json" not in (project / ".gitignore").read_text()  # it stays in git


def test_bytes_missing_from_the_workspace_come_from_dvc_cache(project: Path) -> None:
    shutil.rmtree(project / "data" / "raw")
    (project / "single.bin").unlink()
    found = steps(project)
    assert found["pointer data/raw.dvc -> data/raw.himo"] == "converted"
    assert (project / "data" / "raw" / "b.csv").read_text() == "3,4\n"
    assert (project / "single.bin").read_bytes() == b"\0\1\2" * 100
    assert "0 stage(s) run" in Himo(project)("repro").stdout


def test_bytes_nowhere_are_reported_missing(project: Path) -> None:
    (project / "single.bin").unlink()
    shutil.rmtree(project / ".dvc" / "cache")
    proc = migrate(project)
    assert "pointer single.bin.dvc -> single.bin.himo: missing" in proc.stdout
    assert not (project / "single.bin.himo").exists()
    assert "remove single.bin.dvc: kept" in migrate(project, "--remove-dvc").stdout
    assert (project / "single.bin.dvc").exists()


def test_corrupted_dvc_cache_object_stops_before_anything_is_written(project: Path) -> None:
    (project / "single.bin").unlink()
    md5 = _dvc_md5(project / "single.bin.dvc")
    obj = project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not the bytes")
    before = snapshot(project)
    proc = migrate(project, ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"Error: DVC object {obj} is corrupted (its md5 is "), proc.stderr
    assert snapshot(project) == before and not (project / ".himo").exists()


@pytest.mark.parametrize(("file", "text", "message"), [
    ("data/raw.dvc", "outs: [", "data/raw.dvc: invalid YAML (line 2)"),
    ("data/raw.dvc", "outs:\n- path: ../../etc\n  md5: 0123456789abcdef0123456789abcdef\n",
     "data/raw.dvc: outs '../../etc' goes up with '..'"),
    ("dvc.lock", "schema: '2.0'\nstages:\n  prepare:\n    cmd: x\n    outs:\n    - path: ../evil\n",
     "dvc.lock: stage 'prepare': outs '../evil' goes up with '..'"),
    (".dvc/config", "[core\n", ".dvc/config: unreadable"),
    ("dvc.yaml", PIPELINE + "bogus: 1\n",
     f"dvc.yaml:{len(PIPELINE.splitlines()) + 1}: unknown top-level key 'bogus' (read as himo.yaml)"),
])
def test_hostile_dvc_files_are_refused_in_one_line(project: Path, file: str, text: str, message: str) -> None:
    (project / file).write_text(text)
    before = snapshot(project)
    proc = migrate(project, ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0].startswith(f"Error: {message}"), proc.stderr
    assert snapshot(project) == before


def test_remotes_are_converted_under_a_prefix_push_fills_them_and_a_clone_pulls(project: Path) -> None:
    migrate(project)
    himo = Himo(project)
    remotes = json.loads(himo("remote", "list", "--json").stdout)
    assert remotes == [{"name": "store", "url": "../dvc-store/himo", "default": True}]
    himo("push")
    assert any((project.parent / "dvc-store" / "himo").iterdir())
    git(project, "add", "-A")
    git(project, "commit", "-qm", "migrated")
    clone = project.parent / "clone"  # beside the project: the remote's relative URL holds
    git(project.parent, "clone", "-q", str(project), str(clone))
    Himo(clone)("pull")
    assert (clone / "data" / "raw" / "b.csv").read_text() == "3,4\n" and (clone / "model.txt").exists()
    assert "up to date" in Himo(clone)("status").stdout and "0 stage(s) run" in Himo(clone)("repro").stdout


def test_remove_dvc_deletes_what_was_converted(project: Path) -> None:
    out = migrate(project, "--remove-dvc").stdout
    assert "remove dvc.yaml: removed" in out and "remove .dvc/: kept" in out
    for gone in ("dvc.yaml", "dvc.lock", "data/raw.dvc", "single.bin.dvc", ".dvcignore"):
        assert not (project / gone).exists(), gone
    assert (project / ".dvc" / "cache").is_dir()  # DVC's copies are not deleted by himo
    assert "0 stage(s) run" in Himo(project)("repro").stdout


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink"])
def test_migrated_data_meets_gc_status_checkout(project: Path, link: str) -> None:
    himo = Himo(project)
    himo("init")
    himo("config", "cache.type", link)
    migrate(project)
    himo("gc", "-f")  # nothing migrated is garbage: pointers and himo.lock keep it
    (project / "model.txt").unlink()
    shutil.rmtree(project / "data" / "raw")
    assert "model.txt" in himo("status").stdout
    himo("checkout")
    assert (project / "data" / "raw" / "a.csv").read_text() == "x,y\n1,2\n"
    assert (project / "model.txt").read_text().endswith("lr=0.1\n")
    assert "0 stage(s) run" in himo("repro").stdout
    assert "up to date" in himo("status").stdout


def test_the_migration_is_recorded(project: Path) -> None:
    from himo import api

    migrate(project)
    with api.Repo(project) as repo:
        run = api.runs(repo, limit=1)[0]
    assert run.command == "migrate"
    stages = {e.stage for e in run.executions}
    assert {"migrate", "prepare", "train"} <= stages


def test_not_a_dvc_repository(make_repo) -> None:  # type: ignore[no-untyped-def]
    root = make_repo()
    assert_error(migrate(root, ok=False), f"{root}: not a DVC repository (no .dvc/ and no dvc.yaml)")


def _dvc_md5(file: Path) -> str:
    import yaml

    return yaml.safe_load(file.read_text())["outs"][0]["md5"]


@pytest.mark.slow
def test_killed_midway_then_run_again_ends_as_a_clean_migration(project: Path, tmp_path: Path) -> None:
    """kill -9 at moments spread over a migration; running it again always finishes the job."""
    rng = random.Random(11)
    shutil.rmtree(project / "data" / "raw")  # restored from DVC's cache: the scratch folder is used
    for trial in range(4):
        root = shutil.copytree(project, tmp_path / f"trial{trial}", symlinks=True)
        proc = subprocess.Popen([sys.executable, "-m", "himo", "migrate", "dvc"], cwd=root,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        migrate(root)
        assert "0 stage(s) run" in Himo(root)("repro").stdout
        assert "up to date" in Himo(root)("status").stdout
        assert (root / "data" / "raw" / "a.csv").read_text() == "x,y\n1,2\n"
        assert not list((root / ".himo" / "tmp").glob("migrate-*"))


@HOSTILE
@pytest.mark.parametrize(("file", "where"), [
    ("single.bin.dvc", r"single.bin.dvc: invalid YAML \(line [0-9]+\)"),
    ("dvc.lock", r"dvc.lock: invalid YAML \(line [0-9]+\)"),
    ("dvc.yaml", r"dvc.yaml:[0-9]+: invalid YAML"),
])
def test_hostile_yaml_in_dvc_files_stops_migrate_before_anything_is_written(
        project: Path, file: str, where: str, hostile: str, problem: re.Pattern[str]) -> None:
    """`himo migrate dvc` reads .dvc files, dvc.yaml and dvc.lock through the bounded loader: its
    one-line error, nothing written (not even .himo/)."""
    write(project / file, (project / file).read_text() + "extra:\n" + indented(hostile, 2))
    before = snapshot(project)
    proc = Himo(project)("migrate", "dvc", ok=False)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 2, proc.stderr
    assert re.match(f"Error: {where}: {problem.pattern}", proc.stderr), proc.stderr
    assert snapshot(project) == before and not (project / ".himo").exists()


HINT = ("This is a DVC repository (dvc.yaml, 2 .dvc files): `himo migrate dvc` takes it over,"
        " re-running nothing.")
NOT_DATA = "data/raw.dvc: a DVC pointer file (for data/raw), not data"


def test_commands_finding_nothing_of_himos_point_a_dvc_user_to_migrate(project: Path) -> None:
    himo = Himo(project)
    assert himo("init").stdout.splitlines()[-1] == HINT
    for command in (["repro"], ["repro", "--dry"], ["status"], ["stage", "list"], ["dag"],
                    ["metrics", "show"], ["plots", "show"]):
        assert himo(*command).stdout == HINT + "\n", command
    migrate(project)
    assert "DVC" not in himo("status").stdout + himo("repro").stdout


def test_add_refuses_dvc_pointer_files_and_data_dvc_tracks_until_migrated(project: Path) -> None:
    himo = Himo(project)
    himo("init")
    assert_error(himo("add", "data/raw.dvc", ok=False), NOT_DATA)
    assert_error(himo("add", "single.bin", ok=False), "single.bin: tracked by DVC (single.bin.dvc)")
    assert_error(himo("add", "data/raw/a.csv", ok=False), "data/raw/a.csv: tracked by DVC (data/raw.dvc)")
    migrate(project)
    (project / "single.bin").write_bytes(b"new")
    assert himo("add", "single.bin").stdout.startswith("Recorded single.bin")
    assert_error(himo("add", "data/raw.dvc", ok=False), NOT_DATA)


def test_dvcignore_becomes_himoignore_and_folders_hash_as_dvc_hashed_them(project: Path) -> None:
    """Files .dvcignore names (the root's and a folder's) are not in DVC's records: migrate
    converts the patterns first, so the folder still matches dvc.lock and its .dvc file (DVC
    itself says so) and nothing is stale."""
    write(project / ".dvcignore", "*.tmp\n")
    write(project / "data" / ".dvcignore", "/raw/*.bak\n")
    write(project / "data" / "raw" / "junk.tmp", "x\n")
    write(project / "data" / "raw" / "old.bak", "y\n")
    assert "changed" not in dvc(project, "status")  # DVC: nothing changed
    found = steps(project)
    assert found["ignore .dvcignore -> .himoignore"] == "converted"
    assert found["pointer data/raw.dvc -> data/raw.himo"] == found["lock prepare"] == "converted"
    header = "# From .dvcignore (himo migrate dvc): files DVC left out of tracked folders\n"
    assert (project / ".himoignore").read_text().endswith(header + "*.tmp\ndata/raw/*.bak\n")
    himo = Himo(project)
    assert "up to date" in himo("status").stdout and "0 stage(s) run" in himo("repro").stdout
    assert steps(project)["ignore .dvcignore -> .himoignore"] == "unchanged"
    migrate(project, "--remove-dvc")
    assert not (project / ".dvcignore").exists() and not (project / "data" / ".dvcignore").exists()


def test_metrics_and_params_compare_with_the_commits_dvc_made(project: Path) -> None:
    """A commit from before the migration has dvc.yaml and dvc.lock, not himo's files: they are
    read the same way, a cached metrics file from DVC's cache (md5-checked), as `dvc metrics
    diff` would; so `himo metrics diff HEAD~1` compares across the migration."""
    migrate(project)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "migrated")
    (project / "params.yaml").write_text("train:\n  lr: 0.3\n")
    himo = Himo(project)
    himo("repro")
    shown = json.loads(himo("metrics", "show", "-r", "HEAD~1", "--json").stdout)
    assert shown == {"stats/rows.json": {"rows": 3}, "metrics.json": {"score": 0.9}}
    diff = json.loads(himo("metrics", "diff", "HEAD~1", "--all", "--json").stdout)
    assert diff["stats/rows.json"]["rows"] == {"old": 3, "new": 3, "diff": 0}
    assert json.loads(himo("params", "diff", "HEAD~1", "--json").stdout) == {
        "params.yaml": {"train.lr": {"old": 0.1, "new": 0.3}}}
    shutil.rmtree(project / ".dvc" / "cache")  # DVC's copies gone: said, not guessed
    proc = himo("metrics", "show", "-r", "HEAD~1")
    assert "Warning: stats/rows.json: not found" in proc.stderr


def test_running_it_again_takes_what_dvc_ran_since(project: Path) -> None:
    """While a team moves over, DVC may run the pipeline after the migration: running it again
    converts DVC's new record (checked by md5 as the first time), and nothing re-runs."""
    migrate(project)
    (project / "params.yaml").write_text("train:\n  lr: 0.4\n")
    dvc(project, "repro", "-q")
    found = steps(project)
    assert found["lock train"] == "converted" and found["lock prepare"] == "unchanged"
    assert "0 stage(s) run" in Himo(project)("repro").stdout
    assert (project / "model.txt").read_text().endswith("lr=0.4\n")
