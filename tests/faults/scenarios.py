"""The writing commands of the fault campaign: for each, how to set a repository up for it, how
a user recovers after it was interrupted, and what must then hold."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Himo, git
from tests.faults.helpers import (
    STAGE,
    STAGE_SCRIPT,
    Tree,
    World,
    assert_outside_untouched,
    assert_recovered,
    assert_workspace,
    digest_of,
    first_version,
    next_version,
    read_tree,
    stage_outputs,
    temp_leftovers,
    write_tree,
)

TARGETS = ("data", "model.bin")
STAGE_ARGS = ("-n", STAGE, "-d", "data", "-d", "stage.py", "-o", "out",
              sys.executable, "stage.py", "data", "out")


@dataclass(frozen=True)
class Scenario:
    """One writing command: how to set the repository up for it, how a user recovers after
    it was killed, and what must then hold."""

    prepare: Callable[[World, int], tuple[tuple[str, ...], Tree]]  # -> command, expected tree
    recover: Callable[[World, tuple[str, ...]], None]
    check: Callable[[World, Tree], None] = assert_recovered
    window: float = 1.3  # kill moments span this many times the slowest preparing command


def run_again(world: World, args: tuple[str, ...]) -> None:
    world.himo(*args)


# -- preparations ----------------------------------------------------------------------------
def _tracked_v1(world: World, files: int) -> Tree:
    v1 = first_version(world.rng, files)
    world.init_repo()
    write_tree(world.repo, v1)
    world.run("add", *TARGETS)
    world.remember(v1)
    return v1


def _tracked_v2(world: World, files: int, keep_v1: bool = True) -> tuple[Tree, Tree]:
    v1 = _tracked_v1(world, files)
    world.commit("v1", v1, keep=keep_v1)
    v2 = next_version(world.rng, v1)
    write_tree(world.repo, v2, v1)
    world.remember(v2)
    return v1, v2


def prepare_add(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    _, v2 = _tracked_v2(world, files)
    return ("add", *TARGETS), v2


def prepare_commit(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    _, v2 = _tracked_v2(world, files)
    return ("commit",), v2


def prepare_checkout(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    """Workspace and cache at v2, pointers back at v1; half the time `data/` is gone (the
    folder is then built under a temp name and renamed into place)."""
    v1, v2 = _tracked_v2(world, files)
    world.run("add", *TARGETS)
    world.commit("v2", v2)
    git(world.repo, "checkout", world.history[0][0], "--", "data.himo", "model.bin.himo")
    if world.rng.random() < 0.5:
        write_tree(world.repo, {p: d for p, d in v2.items() if p == "model.bin"}, v2)
    return ("checkout",), v1


def prepare_gc(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    """v1 and v2 in the cache, only v2 in use: gc deletes v1's objects."""
    _, v2 = _tracked_v2(world, files, keep_v1=False)
    world.run("add", *TARGETS)
    world.commit("v2", v2)
    return ("gc", "-w", "-f"), v2


def prepare_remove(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    v1 = _tracked_v1(world, files)
    world.commit("v1", v1, keep=False)  # after remove, nothing keeps v1 in the cache
    return ("remove", "data.himo", "model.bin.himo"), v1


def prepare_push(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    v1 = _tracked_v1(world, files)
    world.add_remote()
    world.commit("v1", v1)
    return ("push",), v1


def _pushed_source(world: World, name: str, files: int) -> tuple[Path, Tree]:
    """A repository `name` beside the one under test, its first version added, pushed to the
    folder remote and committed; that version."""
    source = world.base / name
    world.clones.add(name)
    world.init_repo(source)
    v1 = first_version(world.rng, files)
    write_tree(source, v1)
    world.run("add", *TARGETS, cwd=source)
    world.run("remote", "add", "-d", "store", str(world.remote), cwd=source)
    world.run("push", cwd=source)
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "v1")
    return source, v1


def _clone_of_pushed(world: World, files: int) -> Tree:
    """The repository under test is a fresh git clone of one whose data was pushed."""
    origin, v1 = _pushed_source(world, "origin", files)
    git(world.base, "clone", "-q", str(origin), str(world.repo))
    world.remember(v1)
    return v1


def prepare_fetch(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    return ("fetch",), _clone_of_pushed(world, files)


def prepare_pull(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    return ("pull",), _clone_of_pushed(world, files)


def _with_stage(world: World, files: int) -> Tree:
    v1 = _tracked_v1(world, files)
    (world.repo / "stage.py").write_text(STAGE_SCRIPT)
    outputs = stage_outputs(v1)
    world.remember(outputs)
    return {**v1, **outputs}


def prepare_repro(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    expected = _with_stage(world, files)
    world.run("stage", "add", *STAGE_ARGS)
    world.commit("stage", {p: d for p, d in expected.items() if not p.startswith("out/")})
    return ("repro",), expected


def prepare_run(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    expected = _with_stage(world, files)
    world.commit("data", {p: d for p, d in expected.items() if not p.startswith("out/")})
    return ("run", *STAGE_ARGS), expected


def _registry(world: World, files: int) -> tuple[Path, Tree]:
    """A data registry beside the repository: its data pushed to the folder remote and
    committed (imports read the bytes from there); the repository under test is initialised.
    The registry's whole tree: `data/` is what the tests import."""
    registry, v1 = _pushed_source(world, "registry", files)
    world.init_repo()
    world.remember(_data_only(v1))
    return registry, v1


def _data_only(tree: Tree) -> Tree:
    return {p: d for p, d in tree.items() if p.startswith("data/")}


def prepare_import(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    registry, v1 = _registry(world, files)
    return ("import", str(registry), "data"), _data_only(v1)


def prepare_update(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    """`data` imported at v1 and committed; the registry then moves to v2."""
    registry, v1 = _registry(world, files)
    world.run("import", str(registry), "data")
    world.commit("import v1", _data_only(v1))
    v2 = next_version(world.rng, v1)
    write_tree(registry, v2, v1)
    world.run("add", *TARGETS, cwd=registry)
    world.run("push", cwd=registry)
    git(registry, "commit", "-q", "-am", "v2")
    world.remember(_data_only(v2))
    return ("update",), _data_only(v2)


PLOTS = "plots"  # the folder `himo plots show -o` writes index.html into


def prepare_plots(world: World, files: int) -> tuple[tuple[str, ...], Tree]:
    """Tracked data (so recovery is checked as for the others) and a plot of many points."""
    v1 = _tracked_v1(world, files)
    rows = "".join(f"{i},{world.rng.random():.6f}\n" for i in range(files * 20))
    (world.repo / "loss.csv").write_text("step,loss\n" + rows)
    world.commit("v1", v1)
    world.run("plots", "show", "loss.csv", "-o", "calibrate")  # how long it takes: the kill window
    shutil.rmtree(world.repo / "calibrate")
    return ("plots", "show", "loss.csv", "-o", PLOTS), v1


# -- recoveries and checks that differ -------------------------------------------------------
def fetch_again_and_checkout(world: World, args: tuple[str, ...]) -> None:
    world.himo(*args)
    world.himo("checkout")


def run_forced(world: World, args: tuple[str, ...]) -> None:
    """`himo run` again: with -f, as the stage may already be in himo.yaml."""
    world.himo("run", "-f", *args[1:])


def remove_the_rest(world: World, args: tuple[str, ...]) -> None:
    """`himo remove` again, of the pointers that are still there (a removed one is an error)."""
    left = [p for p in args[1:] if (world.repo / p).exists()]
    if left:
        world.himo("remove", *left)


def assert_pushed_and_recovered(world: World, expected: Tree) -> None:
    """Every object on the remote is whole, and a fresh clone pulls every byte."""
    for shard in (p for p in world.remote.iterdir() if p.is_dir() and len(p.name) == 2):
        for obj in shard.iterdir():
            if ".himo-tmp-" not in obj.name:
                assert digest_of(obj.read_bytes()) == shard.name + obj.name, f"{obj} is corrupted"
    clone = world.clone("clone")
    Himo(clone)("pull")
    got = read_tree(clone, list(TARGETS))
    assert got == expected, "a fresh clone's pull differs"
    assert_recovered(world, expected)


def assert_removed(world: World, expected: Tree) -> None:
    """The data stays, as private writable files that no longer depend on the cache; git
    sees it again (no .gitignore line is left)."""
    assert not (world.repo / "data.himo").exists() and not (world.repo / "model.bin.himo").exists()
    assert world.himo("status").stdout == "Nothing is tracked yet: try `himo add PATH`.\n"
    world.himo("gc", "-w", "-f")
    assert_workspace(world, expected, "after remove and gc")
    for path in expected:
        st = os.lstat(world.repo / path)
        assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_mode & stat.S_IWUSR, \
            f"{path} is still tied to the cache (mode {oct(st.st_mode)}, {st.st_nlink} links)"
    ignored = subprocess.run(["git", "check-ignore", *TARGETS], cwd=world.repo, capture_output=True,
                             text=True)
    assert ignored.stdout == "", "a .gitignore line of the removed paths stays"
    world.himo("fsck")
    assert temp_leftovers(world.repo) == []
    assert_outside_untouched(world)


def assert_imported_and_recovered(world: World, expected: Tree) -> None:
    """The import's scratch folders (the source's clone, DVC bytes) went with the rerun."""
    scratch = world.repo / ".himo" / "tmp"
    left = sorted(p.name for p in scratch.iterdir()) if scratch.is_dir() else []
    assert left == [], f"scratch folders of the killed import stay: {left}"
    assert_recovered(world, expected)


def page_whole_or_absent(world: World, args: tuple[str, ...]) -> None:
    """After the kill: index.html is absent or the whole page (the rerun writes the same bytes);
    the rerun leaves no temp file of the killed write."""
    page = world.repo / PLOTS / "index.html"
    killed = page.read_bytes() if page.exists() else None
    world.himo(*args)
    assert killed in (None, page.read_bytes()), \
        f"a half-written page under its final name ({len(killed or b'')} of {page.stat().st_size} bytes)"
    left = sorted(p.name for p in page.parent.iterdir() if p.name != "index.html")
    assert left == [], f"temp files of the killed write stay beside the page: {left}"


SCENARIOS = {
    "add": Scenario(prepare_add, run_again),
    "commit": Scenario(prepare_commit, run_again),
    "checkout": Scenario(prepare_checkout, run_again),
    "gc": Scenario(prepare_gc, run_again),
    "remove": Scenario(prepare_remove, remove_the_rest, assert_removed),
    "push": Scenario(prepare_push, run_again, assert_pushed_and_recovered),
    "fetch": Scenario(prepare_fetch, fetch_again_and_checkout),
    "pull": Scenario(prepare_pull, run_again),
    "repro": Scenario(prepare_repro, run_again, window=2.5),
    "run": Scenario(prepare_run, run_forced, window=2.5),
    "import": Scenario(prepare_import, run_again, assert_imported_and_recovered),
    "update": Scenario(prepare_update, run_again, assert_imported_and_recovered),
    "plots show": Scenario(prepare_plots, page_whole_or_absent),
}
