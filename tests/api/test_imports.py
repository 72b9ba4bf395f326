"""`himo import`, `get`, `update` from local git repositories: a himo registry and a DVC one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.api.helpers import assert_error
from tests.conftest import Himo, git, write
from tests.dvc import snapshot

pytestmark = pytest.mark.xdist_group("dvc")  # shares the DVC registry built once


@pytest.fixture(scope="session")
def himo_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A himo registry: a file and a folder, pushed to its default remote ../registry-store, its
    own cache emptied (bytes come from the remote). Made once; tests use copies (`registry`)."""
    root = tmp_path_factory.mktemp("himo-registry") / "registry"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "models").mkdir()
    (root / "models" / "a.bin").write_bytes(b"A" * 300)
    (root / "models" / "b.bin").write_bytes(b"B" * 200)
    (root / "labels.csv").write_text("id,label\n1,cat\n")
    himo = Himo(root)
    himo("init")
    himo("add", "models", "labels.csv")
    himo("remote", "add", "-d", "store", "../registry-store")
    himo("push")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "v1")
    shutil.rmtree(root / ".himo" / "cache")
    return root


@pytest.fixture
def registry(himo_registry: Path, tmp_path: Path) -> Path:
    root = shutil.copytree(himo_registry, tmp_path / "registry", symlinks=True)
    shutil.copytree(himo_registry.parent / "registry-store", tmp_path / "registry-store")
    return root


def new_version(registry: Path, text: str) -> str:
    (registry / "labels.csv").write_text(text)
    himo = Himo(registry)
    himo("add", "labels.csv")
    himo("push", "labels.csv")
    git(registry, "commit", "-qam", "v2")
    return git(registry, "rev-parse", "HEAD").strip()


def pointer(path: Path) -> dict[str, object]:
    return yaml.safe_load(path.read_text())


def test_import_from_a_himo_registry_records_the_source(repo: Path, registry: Path) -> None:
    himo = Himo(repo)
    out = himo("import", str(registry), "models", "-o", "data/models").stdout
    head = git(registry, "rev-parse", "HEAD").strip()
    assert out.startswith(f"Imported data/models from {registry} models @ {head[:12]}")
    doc = pointer(repo / "data" / "models.himo")
    assert (doc["source_url"], doc["source_path"], doc["source_commit"]) == (str(registry), "models", head)
    assert (repo / "data" / "models" / "a.bin").read_bytes() == b"A" * 300
    assert "up to date" in himo("status").stdout
    (repo / "data" / "models" / "a.bin").unlink()
    himo("checkout")
    assert (repo / "data" / "models" / "a.bin").read_bytes() == b"A" * 300


def test_update_moves_to_the_newest_commit_and_leaves_frozen_imports(repo: Path, registry: Path) -> None:
    himo = Himo(repo)
    himo("import", str(registry), "labels.csv")
    himo("import", str(registry), "labels.csv", "-o", "pinned.csv")
    with (repo / "pinned.csv.himo").open("a") as f:
        f.write("frozen: true\n")
    first = pointer(repo / "labels.csv.himo")["source_commit"]
    assert "is up to date" in himo("update").stdout
    head = new_version(registry, "id,label\n1,dog\n")
    out = himo("update").stdout
    assert "Updated labels.csv" in out and "pinned.csv is frozen: not updated" in out
    assert (repo / "labels.csv").read_text() == "id,label\n1,dog\n"
    assert pointer(repo / "labels.csv.himo")["source_commit"] == head
    assert pointer(repo / "pinned.csv.himo")["source_commit"] == first
    himo("update", "labels.csv", "--rev", str(first))
    assert (repo / "labels.csv").read_text() == "id,label\n1,cat\n"


def test_get_downloads_without_tracking(tmp_path: Path, registry: Path) -> None:
    out = Himo(tmp_path)("get", str(registry), "models", "-o", "copy").stdout
    assert out.startswith("Downloaded")
    assert (tmp_path / "copy" / "b.bin").read_bytes() == b"B" * 200
    assert not (tmp_path / "copy.himo").exists() and not (tmp_path / ".himo").exists()


def test_import_from_a_dvc_registry(repo: Path, dvc_registry: Path) -> None:
    himo = Himo(repo)
    himo("import", str(dvc_registry), "data/data.xml")
    himo("import", str(dvc_registry), "data/images", "-o", "images")
    assert (repo / "data.xml").read_text() == "<posts><row Id='1'/></posts>\n"
    assert (repo / "images" / "2.txt").read_text() == "two\n"
    assert pointer(repo / "images.himo")["source_path"] == "data/images"
    assert "up to date" in himo("status").stdout
    Himo(repo.parent)("get", str(dvc_registry), "data/images", "-o", "got")
    assert (repo.parent / "got" / "1.txt").read_text() == "one\n"


def test_a_corrupted_dvc_remote_object_is_refused(repo: Path, dvc_registry: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copied" / "registry"
    shutil.copytree(dvc_registry, copy)
    store = shutil.copytree(dvc_registry.parent / "registry-store", tmp_path / "copied" / "registry-store")
    md5 = yaml.safe_load((copy / "data" / "data.xml.dvc").read_text())["outs"][0]["md5"]
    obj = store / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(0o644)
    obj.write_text("<evil/>")
    before = snapshot(repo)
    proc = Himo(repo)("import", str(copy), "data/data.xml", ok=False)
    assert proc.returncode == 1 and "is corrupted (its md5 is" in proc.stderr.splitlines()[0]
    assert snapshot(repo) == before


def test_a_corrupted_himo_remote_object_is_refused(repo: Path, registry: Path) -> None:
    digest = pointer(registry / "labels.csv.himo")["digest"]
    obj = registry.parent / "registry-store" / str(digest)[:2] / str(digest)[2:]
    obj.chmod(0o644)
    obj.write_text("tampered")
    proc = Himo(repo)("import", str(registry), "labels.csv", ok=False)
    assert proc.returncode == 1 and "corrupted" in proc.stderr.splitlines()[0]
    assert not (repo / "labels.csv.himo").exists() and not (repo / "labels.csv").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["{tmp}/nothing", "x"], "{tmp}/nothing: cannot clone it as a git repository"),
    (["{registry}", "labels.csv", "--rev", "nope"], "{registry}: unknown revision 'nope'"),
    (["{registry}", "missing.csv"], "missing.csv: not tracked by himo, DVC or git in {registry} at "),
    (["{registry}", "models/c.bin"], "models/c.bin: nothing there in models, which the source tracks"),
    (["{registry}", "../outside"], "'../outside': goes up with '..'"),
])
def test_bad_sources_are_one_line_errors(repo: Path, registry: Path, tmp_path: Path, args: list[str],
                                         message: str) -> None:
    fill = {"tmp": tmp_path, "registry": registry}
    before = snapshot(repo)
    proc = Himo(repo)("import", *[a.format(**fill) for a in args], ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: " + message.format(**fill)), proc.stderr
    # The workspace is as it was; the cache may hold a folder's manifest, fetched (verified) to look in it.
    assert {k: v for k, v in snapshot(repo).items() if not k.startswith(".himo/cache/")} == before


def test_import_is_recorded_with_its_source(repo: Path, registry: Path) -> None:
    from himo import api

    himo = Himo(repo)
    himo("import", str(registry), "labels.csv")
    with api.Repo(repo) as opened:
        run = api.runs(opened, limit=1)[0]
    (execution,) = run.executions
    head = git(registry, "rev-parse", "HEAD").strip()
    assert execution.stage == "import" and head in execution.params.values()
    assert head[:12] in himo("lineage", "labels.csv").stdout


def test_import_over_tracked_data_is_refused(repo: Path, registry: Path) -> None:
    (repo / "labels.csv").write_text("mine\n")
    himo = Himo(repo)
    himo("add", "labels.csv")
    assert_error(himo("import", str(registry), "labels.csv", ok=False),
                 "labels.csv: already tracked (not an import)")


def test_a_migrated_dvc_import_with_a_relative_url_updates(repo: Path, registry: Path) -> None:
    """`dvc import ../registry ...` records the URL as typed; himo reads it from the repository root."""
    import hashlib

    v1 = b"id,label\n1,cat\n"
    (repo / ".dvc").mkdir()
    (repo / "labels.csv").write_bytes(v1)
    head = git(registry, "rev-parse", "HEAD").strip()
    (repo / "labels.csv.dvc").write_text(
        f"md5: 0123456789abcdef0123456789abcdef\ndeps:\n- path: labels.csv\n  repo:\n    url: ../registry\n"
        f"    rev_lock: {head}\nouts:\n- md5: {hashlib.md5(v1).hexdigest()}\n  size: {len(v1)}\n"
        "  hash: md5\n  path: labels.csv\n")
    himo = Himo(repo)
    assert "import labels.csv.dvc -> labels.csv.himo: converted" in himo("migrate", "dvc").stdout
    assert pointer(repo / "labels.csv.himo")["source_url"] == "../registry"
    new_version(registry, "id,label\n1,owl\n")
    (repo / "sub").mkdir()
    assert "Updated labels.csv" in himo("update", cwd=repo / "sub").stdout
    assert (repo / "labels.csv").read_text() == "id,label\n1,owl\n"
    assert pointer(repo / "labels.csv.himo")["source_url"] == "../registry"


def test_what_dvc_imports_too_a_path_inside_a_tracked_folder_and_files_in_git(
        repo: Path, registry: Path, dvc_registry: Path, dvc_project: Path) -> None:
    """As `dvc import` does: a file or folder inside a tracked folder (its bytes alone fetched,
    from the remote), a file committed to git (code; a metrics file a stage does not cache,
    which no remote holds), from a himo and from a DVC repository."""
    himo = Himo(repo)
    himo("import", str(registry), "models/a.bin", "-o", "a.bin")
    assert (repo / "a.bin").read_bytes() == b"A" * 300 and not (repo / "b.bin").exists()
    assert pointer(repo / "a.bin.himo")["source_path"] == "models/a.bin"
    himo("import", str(dvc_registry), "data/images/2.txt", "-o", "two.txt")
    assert (repo / "two.txt").read_text() == "two\n"
    himo("import", str(dvc_project), "metrics.json")  # `cache: false` in dvc.yaml: in git only
    assert json.loads((repo / "metrics.json").read_text()) == {"score": 0.9}
    himo("import", str(dvc_project), "model.txt")  # a cached output of dvc.lock, from DVC's cache
    assert (repo / "model.txt").read_text().endswith("lr=0.1\n")
    himo("import", str(dvc_project), "train.py", "-o", "code/train.py")
    assert (repo / "code" / "train.py").read_text() == (dvc_project / "train.py").read_text()
    assert "up to date" in himo("status").stdout
    Himo(repo.parent)("get", str(dvc_registry), "data/images/1.txt", "-o", "one.txt")
    assert (repo.parent / "one.txt").read_text() == "one\n"
    assert_error(himo("import", str(dvc_project), "data", ok=False),
                 f"data: a folder of git's holding tracked data (data/raw.dvc) in {dvc_project} at "
                 f"{git(dvc_project, 'rev-parse', 'HEAD')[:12]}")


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink"])
def test_imports_meet_gc_checkout_status_remove_push_and_pull(
        repo: Path, registry: Path, dvc_registry: Path, tmp_path: Path, link: str) -> None:
    """Imported data is tracked data like any other, whatever cache.type: gc keeps it, checkout
    restores it, push and pull move it (a clone gets it from the remote, not the source)."""
    himo = Himo(repo)
    himo("config", "cache.type", link)
    himo("import", str(registry), "models")
    himo("import", str(dvc_registry), "data/images/1.txt", "-o", "one.txt")
    himo("gc", "-f")
    shutil.rmtree(repo / "models")
    (repo / "one.txt").unlink()
    assert "models" in himo("status").stdout
    himo("checkout")
    assert (repo / "models" / "a.bin").read_bytes() == b"A" * 300
    assert (repo / "one.txt").read_text() == "one\n"
    assert himo("status").stdout == "Everything is up to date.\n"
    himo("remote", "add", "-d", "mine", str(tmp_path / "mine"))
    himo("push")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "imports")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    Himo(clone)("pull")
    assert (clone / "models" / "b.bin").read_bytes() == b"B" * 200
    assert (clone / "one.txt").read_text() == "one\n"
    himo("remove", "one.txt.himo")
    assert (repo / "one.txt").read_text() == "one\n" and not (repo / "one.txt").is_symlink()  # the data stays
    assert "/one.txt" not in (repo / ".gitignore").read_text()


def test_a_hostile_dvc_folder_listing_is_refused(repo: Path, dvc_registry: Path, tmp_path: Path) -> None:
    """A `.dir` listing (named by its md5, so consistent) whose entry leaves the folder: one line,
    nothing written."""
    import hashlib

    copy = shutil.copytree(dvc_registry, tmp_path / "copied" / "registry")
    store = shutil.copytree(dvc_registry.parent / "registry-store", tmp_path / "copied" / "registry-store")
    listing = json.dumps([{"md5": "0" * 32, "relpath": "../../evil"}]).encode()
    md5 = hashlib.md5(listing).hexdigest()
    write(store / "files" / "md5" / md5[:2] / f"{md5[2:]}.dir", listing)
    dvc_file = copy / "data" / "images.dvc"
    old = yaml.safe_load(dvc_file.read_text())["outs"][0]["md5"]
    dvc_file.write_text(dvc_file.read_text().replace(old, f"{md5}.dir"))
    git(copy, "commit", "-qam", "hostile")
    before = snapshot(repo)
    proc = Himo(repo)("import", str(copy), "data/images", ok=False)
    assert_error(proc, f"DVC directory listing {md5}.dir: bad entry '../../evil'")
    assert snapshot(repo) == before and not (tmp_path / "copied" / "evil").exists()
