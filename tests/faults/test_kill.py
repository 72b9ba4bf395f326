"""kill -9 at a random moment of every writing command, in every cache type; then recovery with
ordinary commands (the same command again), and proof that no byte was lost.

Each iteration builds a fresh repository (and remote), starts the real `himo` and SIGKILLs it
(or its whole process group) at a moment drawn from the seeded generator, between the end of
Python's start-up and a bit more than the slowest command the preparation ran; a third of the
time `.himo/state.db` is deleted next (always safe, as documented). Checks, in order: nothing
the killed himo started outlives it; `status` says nothing untrue; the command run again
succeeds; then
`assert_recovered` (status clean, fsck clean, the expected bytes, every committed version and
the current one restorable from the cache, no temp file left after gc, nothing outside the
repository touched). Failures name the seed, the iteration and the kill moment.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from tests.faults.helpers import (
    CACHE_TYPES,
    World,
    assert_outside_untouched,
    assert_status_truthful,
    cache_type_matrix,
    campaign,
    fault_iterations,
    run_and_kill,
    temp_leftovers,
    tree_sizes,
    writers_lock_holders,
)
from tests.faults.scenarios import SCENARIOS


def kill_and_recover(base: Path, rng: random.Random, command: str, cache_type: str, files: int) -> None:
    """One iteration: a fresh world, one kill, recovery, checks."""
    scenario = SCENARIOS[command]
    world = World(base, cache_type, rng)
    args, expected = scenario.prepare(world, files)
    killed = run_and_kill(world, args, scenario.window)
    forget = world.rng.random() < 0.3
    try:
        assert_status_truthful(world)
        if forget:  # documented as always safe: the stat cache is rebuilt by reading the files
            for file in (world.repo / ".himo").glob("state.db*"):
                file.unlink()
        scenario.recover(world, args)
        scenario.check(world, expected)
    except AssertionError as exc:
        raise AssertionError(f"{killed}{', state.db then deleted' if forget else ''}: {exc}") from exc


@pytest.mark.parametrize(("command", "cache_type"), cache_type_matrix(SCENARIOS))
def test_killed_command_loses_nothing(tmp_path: Path, rng: random.Random, request: pytest.FixtureRequest,
                                      command: str, cache_type: str) -> None:
    """Every command in every cache type: one cache type per command in the quick subset, the
    slow cells with trees large enough (over 2,000 files) for the forked workers; each cell tries
    `HIMO_FAULT_ITERATIONS` kill moments (default 1)."""
    campaign(tmp_path, rng, lambda base, files: kill_and_recover(base, rng, command, cache_type, files),
             cache_type, iterations=fault_iterations(1), files=tree_sizes(request))


@pytest.mark.xdist_group("dvc")  # shares the DVC project built once
def test_killed_migrate_dvc_loses_nothing(tmp_path: Path, rng: random.Random, dvc_project: Path) -> None:
    """`himo migrate dvc` killed at a random moment, its tracked folder restored from DVC's cache
    (the scratch folder and the folder placed whole are used): every file at its final name is
    whole or absent, and running it again ends as a clean migration."""
    world = World(tmp_path, rng.choice(CACHE_TYPES), rng)
    for name in ("calibrate", "repo"):
        shutil.copytree(dvc_project, tmp_path / name, symlinks=True)
        shutil.rmtree(tmp_path / name / "data" / "raw")
    world.clones.add("calibrate")
    world.run("migrate", "dvc", cwd=tmp_path / "calibrate")
    raw = {p.name: p.read_bytes() for p in (dvc_project / "data" / "raw").iterdir()}
    killed = run_and_kill(world, ("migrate", "dvc"), window=3)
    try:
        if (world.repo / "himo.yaml").exists():
            assert (world.repo / "himo.yaml").read_text() == (world.repo / "dvc.yaml").read_text()
        if (world.repo / "data" / "raw").exists():
            got = {p.name: p.read_bytes() for p in (world.repo / "data" / "raw").iterdir()}
            assert got == raw, f"a half-placed data/raw: {sorted(got)}"
        world.himo("migrate", "dvc")
        assert world.himo("status").stdout == "Everything is up to date.\n"
        assert "0 stage(s) run" in world.himo("repro").stdout
        world.himo("fsck")
        assert {p.name: p.read_bytes() for p in (world.repo / "data" / "raw").iterdir()} == raw
        world.himo("gc", "-w", "-f")
        assert temp_leftovers(world.repo) == [], writers_lock_holders(world.repo)
        assert not list((world.repo / ".himo" / "tmp").glob("*")), "a scratch folder of the kill stays"
        assert_outside_untouched(world)
    except AssertionError as exc:
        raise AssertionError(f"{killed}: {exc}") from exc
