"""Every cache type through a project's life: add, commit, checkout, push, gc, pull and a
`persist: true` stage output that the stage appends to; after each step the bytes are
compared, the workspace files are checked to be what the cache type promises, and fsck runs.
"""

from __future__ import annotations

import os
import random
import stat
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import Himo, git
from tests.faults.helpers import (
    CACHE_TYPES,
    Tree,
    World,
    digest_of,
    first_version,
    next_version,
    read_tree,
    targets_of,
    write_tree,
)
from tests.faults.scenarios import TARGETS

JOURNAL_SCRIPT = '''\
"""Appends one round to log.txt and to checkpoints/all.txt, and writes checkpoints/ckptN.bin."""
import os
round_ = open("round.txt").read().strip()
os.makedirs("checkpoints", exist_ok=True)
with open("log.txt", "a") as f:
    f.write(f"round {round_}\\n")
with open("checkpoints/all.txt", "a") as f:
    f.write(f"checkpoint {round_}\\n")
with open(f"checkpoints/ckpt{round_}.bin", "wb") as f:
    f.write(f"weights of round {round_}\\n".encode() * 100)
'''
JOURNAL_STAGE = f'''\
stages:
  journal:
    cmd: {sys.executable} journal.py
    deps: [journal.py, round.txt]
    outs:
      - log.txt: {{persist: true}}
      - checkpoints: {{persist: true}}
'''


def journal_after(rounds: int) -> Tree:
    """What the journal stage's outputs hold after `rounds` runs."""
    tree = {
        "log.txt": "".join(f"round {i}\n" for i in range(1, rounds + 1)).encode(),
        "checkpoints/all.txt": "".join(f"checkpoint {i}\n" for i in range(1, rounds + 1)).encode(),
    }
    for i in range(1, rounds + 1):
        tree[f"checkpoints/ckpt{i}.bin"] = f"weights of round {i}\n".encode() * 100
    return tree


def assert_step(repo: Path, expected: Tree, step: str) -> None:
    """Status clean, fsck clean, the workspace holds `expected` byte for byte."""
    himo = Himo(repo)
    assert himo("status").stdout == "Everything is up to date.\n", step
    fsck = himo("fsck", "--json", ok=False)
    assert fsck.returncode == 0, f"{step}: fsck: {fsck.stdout}"
    got = read_tree(repo, targets_of(expected))
    assert got == expected, f"{step}: the workspace differs"


def assert_placed(repo: Path, tree: Tree, cache_type: str) -> None:
    """Workspace files are what the cache type promises: private copies, hard links to the
    object, or symlinks to it.

    Files whose bytes occur more than once are left out: with hardlinks, two workspace files
    stored at once may both become the object, the later rename winning, and the earlier one
    then stays a read-only file of its own (same bytes; only space is lost).
    """
    counts = Counter(tree.values())
    for path, data in tree.items():
        if counts[data] > 1:
            continue
        obj = repo / ".himo" / "cache" / digest_of(data)[:2] / digest_of(data)[2:]
        st = os.lstat(repo / path)
        if cache_type == "copy":
            assert stat.S_ISREG(st.st_mode) and st.st_ino != obj.stat().st_ino, path
        elif cache_type == "hardlink":
            assert st.st_ino == obj.stat().st_ino, path
        else:
            assert os.readlink(repo / path) == str(obj), path


def edit_in_place(repo: Path, old: Tree, new: Tree) -> None:
    """After `himo unprotect`: files rewritten through their own handle, as editors and
    programs do (never replaced), so that a file still tied to the cache would corrupt it."""
    for path in set(old) - set(new):
        (repo / path).unlink()
    for path, data in new.items():
        if old.get(path) != data:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            with open(repo / path, "r+b" if path in old else "wb") as f:
                f.truncate(0)
                f.write(data)


def test_each_cache_type_through_a_projects_life(tmp_path: Path, rng: random.Random,
                                                 cache_type: str) -> None:
    world = World(tmp_path, cache_type, rng)
    repo, himo = world.init_repo(), world.himo
    world.add_remote()
    v1 = first_version(rng, 120)
    write_tree(repo, v1)
    himo("add", *TARGETS)
    assert_step(repo, v1, "add")
    assert_placed(repo, v1, cache_type)
    himo("push")
    world.commit("v1", v1)

    himo("unprotect", *TARGETS)
    v2 = next_version(rng, v1)
    edit_in_place(repo, v1, v2)
    himo("commit")
    assert_step(repo, v2, "commit")
    assert_placed(repo, v2, cache_type)
    himo("push")
    world.commit("v2", v2)

    git(repo, "checkout", "-q", world.history[0][0])
    himo("checkout")
    assert_step(repo, v1, "checkout of v1")
    assert_placed(repo, v1, cache_type)
    git(repo, "checkout", "-q", "main")
    himo("checkout")
    assert_step(repo, v2, "checkout of v2")

    assert himo("gc", "-w", "-f").stdout.startswith("Removed ")
    assert_step(repo, v2, "gc")

    clone = world.clone("clone")
    Himo(clone)("pull")
    assert_step(clone, v2, "pull in a clone")
    assert_placed(clone, v2, cache_type)
    git(clone, "checkout", "-q", world.history[0][0])
    Himo(clone)("pull")
    assert_step(clone, v1, "pull of v1 in a clone")

    persist_through_runs(world)


def persist_through_runs(world: World) -> None:
    """A stage appends to its `persist: true` outputs each run: every run's version stays
    whole in the cache, and checkout brings back any of them."""
    repo, himo = world.repo, world.himo
    (repo / "journal.py").write_text(JOURNAL_SCRIPT)
    (repo / "himo.yaml").write_text(JOURNAL_STAGE)
    for rounds in (1, 2):
        (repo / "round.txt").write_text(f"{rounds}\n")
        himo("repro")
        assert_step(repo, journal_after(rounds), f"run {rounds} of a stage with persistent outputs")
        world.commit(f"round {rounds}", journal_after(rounds))
    for commit, tree in world.history[-2:]:
        git(repo, "checkout", "-q", commit)
        himo("checkout")
        assert_step(repo, tree, f"checkout of {commit[:8]}")
    git(repo, "checkout", "-q", "main")


@pytest.fixture(params=CACHE_TYPES)
def cache_type(request: pytest.FixtureRequest) -> str:
    return request.param


def test_adding_new_files_with_the_bytes_of_linked_ones(tmp_path: Path, rng: random.Random,
                                                        cache_type: str) -> None:
    """A new file whose bytes are already in the cache, beside workspace files linked to that
    object: adding it must neither fail nor disturb the linked ones (found by the campaign:
    storing the new file replaced the object under its links)."""
    world = World(tmp_path, cache_type, rng)
    repo = world.init_repo()
    v1 = {f"data/old{i}.bin": bytes([i % 3]) * 10 for i in range(9)}
    write_tree(repo, v1)
    world.himo("add", "data")
    v2 = {**v1, **{f"data/{name}.bin": bytes([i % 3]) * 10 for i, name in enumerate(["a", "new", "z"])}}
    write_tree(repo, v2, v1)
    world.himo("add", "data")
    assert_step(repo, v2, "add of new files with known bytes")
