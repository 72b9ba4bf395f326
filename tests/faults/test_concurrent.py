"""Two writing commands at once in one repository: each either succeeds or is refused with the
repository-lock error naming the other; the refused one, run again, succeeds; then every byte
is where it belongs (`assert_recovered` and, for push, a fresh clone's pull).

The second command starts at a random moment (seeded) within the first one's expected run time,
and which of the pair starts first is drawn too.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.helpers import (
    LOCK_HINT,
    LOCKED,
    Tree,
    World,
    assert_recovered,
    cache_type_matrix,
    campaign,
    fault_iterations,
    first_version,
    tree_sizes,
    wait_for_orphans,
    write_tree,
)
from tests.faults.scenarios import (
    TARGETS,
    assert_pushed_and_recovered,
    prepare_checkout,
    prepare_fetch,
    prepare_gc,
    prepare_repro,
)

GC = ("gc", "-w", "-f")


@dataclass(frozen=True)
class Pair:
    prepare: Callable[[World, int], tuple[tuple[str, ...], tuple[str, ...], Tree]]
    after: tuple[str, ...] = ()  # an ordinary command to run once both are done
    check: Callable[[World, Tree], None] = assert_recovered
    # Another error than the lock's that a command may rightly give while the other runs.
    also: re.Pattern[str] = re.compile("(?!)")


def _extra(world: World) -> Tree:
    """A second folder to add, not yet tracked."""
    extra = {f"extra/{p.split('/', 1)[1]}": d for p, d in first_version(world.rng, 60).items()
             if p.startswith("data/")}
    write_tree(world.repo, extra)
    world.remember(extra)
    return extra


def add_and_gc(world: World, files: int) -> tuple[tuple[str, ...], tuple[str, ...], Tree]:
    """v2 being added while gc deletes what only v1 used."""
    _, expected = prepare_gc(world, files)
    return ("add", "extra"), GC, {**expected, **_extra(world)}


def checkout_and_add(world: World, files: int) -> tuple[tuple[str, ...], tuple[str, ...], Tree]:
    args, expected = prepare_checkout(world, files)
    return args, ("add", "extra"), {**expected, **_extra(world)}


def push_and_gc(world: World, files: int) -> tuple[tuple[str, ...], tuple[str, ...], Tree]:
    _, expected = prepare_gc(world, files)
    world.add_remote()
    world.commit("remote", expected, keep=False)
    return ("push",), GC, expected


def fetch_and_gc(world: World, files: int) -> tuple[tuple[str, ...], tuple[str, ...], Tree]:
    args, expected = prepare_fetch(world, files)
    return args, GC, expected


def two_adds(world: World, files: int) -> tuple[tuple[str, ...], tuple[str, ...], Tree]:
    v1 = first_version(world.rng, files)
    world.init_repo()
    write_tree(world.repo, v1)
    world.run("add", *TARGETS)  # for the kill window only: removed again below
    world.run("remove", "data.himo", "model.bin.himo")
    world.remember(v1)
    return ("add", "data"), ("add", "model.bin", "extra"), {**v1, **_extra(world)}


def repro_and_gc(world: World, files: int) -> tuple[tuple[str, ...], tuple[str, ...], Tree]:
    args, expected = prepare_repro(world, files)
    world.slowest *= 2
    return args, GC, expected


PAIRS = {
    "add+gc": Pair(add_and_gc),
    "checkout+add": Pair(checkout_and_add),
    "push+gc": Pair(push_and_gc, check=assert_pushed_and_recovered),
    # gc refuses to guess what a directory needs before fetch brought its manifest.
    "fetch+gc": Pair(fetch_and_gc, after=("checkout",), also=re.compile(
        r"Error: data: manifest [0-9a-f]{12} \(from data\.himo\) is not in the cache, so gc cannot tell"
        r" what it needs\nHint: run `himo fetch` first, or gc a narrower scope\n")),
    "add+add": Pair(two_adds),
    "repro+gc": Pair(repro_and_gc),
}


def start(world: World, args: tuple[str, ...]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "himo", *args], cwd=world.repo, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_together(world: World, pair: Pair, first: tuple[str, ...],
                 second: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Both commands, the second started a random moment after the first; the ones refused
    with the lock error or `pair.also` (anything else fails the test)."""
    if world.rng.random() < 0.5:
        first, second = second, first
    offset = world.rng.uniform(0.0, max(world.slowest, 0.3))
    one = start(world, first)
    try:
        one.wait(timeout=offset)
    except subprocess.TimeoutExpired:
        pass
    two = start(world, second)
    results = [(first, one, two.pid, *one.communicate()), (second, two, one.pid, *two.communicate())]
    refused = []
    for args, proc, other, _, stderr in results:
        if proc.returncode != 0:
            where = f"`himo {' '.join(args)}` (started {offset:.3f} s apart) exited {proc.returncode}"
            locked = stderr.splitlines() == [LOCKED.format(pid=other), LOCK_HINT]
            assert proc.returncode == 1 and (locked or pair.also.fullmatch(stderr)), f"{where}:\n{stderr}"
            refused.append(args)
    assert len(refused) < 2, "both commands were refused: one of them must hold the lock"
    return refused


def race(base: Path, rng: random.Random, pair: str, cache_type: str, files: int) -> None:
    world = World(base, cache_type, rng)
    first, second, expected = PAIRS[pair].prepare(world, files)
    for args in run_together(world, PAIRS[pair], first, second):
        world.himo(*args)  # "wait for it to finish, then retry"
    for args in [PAIRS[pair].after] if PAIRS[pair].after else []:
        world.himo(*args)
    wait_for_orphans(world.repo, pair)
    PAIRS[pair].check(world, expected)


@pytest.mark.parametrize(("pair", "cache_type"), cache_type_matrix(PAIRS))
def test_concurrent_commands_lose_nothing(tmp_path: Path, rng: random.Random, request: pytest.FixtureRequest,
                                          pair: str, cache_type: str) -> None:
    """Every pair in every cache type: one cache type per pair in the quick subset (see
    cache_type_matrix), `HIMO_FAULT_ITERATIONS` races each (default 1)."""
    campaign(tmp_path, rng, lambda base, files: race(base, rng, pair, cache_type, files),
             cache_type, iterations=fault_iterations(1), files=tree_sizes(request))
