"""The fault campaign's world: a repository with versions of data whose every byte the test
knows, the real `himo` started and killed at a random moment, and the checks that prove
nothing was lost once ordinary commands have recovered.

A *tree* is `{repository-relative path: bytes}` of the tracked files (`data/...`, `model.bin`,
stage outputs); every version a test wrote or expects is kept as one, so a check compares
bytes, never digests computed by himo.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from tests.conftest import Himo, git

Tree = dict[str, bytes]

CACHE_TYPES = ("copy", "hardlink", "symlink")
TMP_MARK = ".himo-tmp-"
LOCKED = "Error: another himo process (pid {pid}) is working in this repository"
LOCK_HINT = "Hint: wait for it to finish, then retry"
STAGE = "transform"
STAGE_SCRIPT = '''\
"""A deterministic stage: one output file per input file, slow enough to be killed midway."""
import os, sys, time
from hashlib import sha256
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for folder, dirs, names in os.walk(src):
    dirs.sort()
    for name in sorted(names):
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            data = f.read()
        rel = os.path.relpath(path, src).replace(os.sep, "_")
        with open(os.path.join(out, rel), "wb") as f:
            f.write(sha256(data).digest() * (1 + len(data) % 64))
        time.sleep(0.0002)
'''


def fault_iterations(default: int) -> int:
    """How many kill moments a slow test tries (`HIMO_FAULT_ITERATIONS`, else `default`)."""
    return int(os.environ.get("HIMO_FAULT_ITERATIONS") or default)


QUICK_FILES = (30, 300)  # tree sizes of the quick cells
SLOW_FILES = (50, 2600)  # ... and of the slow ones: over 2,000 files, himo hashes on forked workers


def cache_type_matrix(names: Iterable[str]) -> list[Any]:
    """`(name, cache type)` parameters, each pair once: per name, one cache type (the names take
    turns) is in the quick subset, the other two are marked slow, so the whole suite runs every
    pair once and `-m "not slow"` still runs every name and every cache type."""
    return [pytest.param(name, cache_type, marks=() if i % len(CACHE_TYPES) == j else pytest.mark.slow,
                         id=f"{name}-{cache_type}")
            for i, name in enumerate(names) for j, cache_type in enumerate(CACHE_TYPES)]


def tree_sizes(request: pytest.FixtureRequest) -> tuple[int, int]:
    """The range of tree sizes for the running cell: larger for the slow cells."""
    return SLOW_FILES if request.node.get_closest_marker("slow") else QUICK_FILES


def campaign(tmp_path: Path, rng: random.Random, trial: Callable[[Path, int], None], cache_type: str,
             iterations: int, files: tuple[int, int]) -> None:
    """Run `trial(base, files)` `iterations` times, each in a fresh folder with a tree size drawn
    from `files`; a failure names its iteration and cache type."""
    for i in range(iterations):
        base = tmp_path / f"i{i}"
        base.mkdir()
        try:
            trial(base, rng.randrange(*files))
        except AssertionError as exc:
            raise AssertionError(f"iteration {i} (cache.type {cache_type}): {exc}") from exc


def digest_of(data: bytes) -> str:
    return blake3(data).hexdigest()


# -- data ------------------------------------------------------------------------------------
def first_version(rng: random.Random, files: int) -> Tree:
    """`data/` of `files` files in nested folders (a few of them large) and `model.bin`."""
    tree: Tree = {}
    for i in range(files):
        size = rng.choice([0, 1, rng.randrange(10, 4000), rng.randrange(10, 4000)])
        if i % 150 == 5:
            size = rng.randrange(1 << 20, 2 << 20)  # large: the streamed paths
        tree[f"data/d{i % 7}/s{i % 3}/f{i}.bin"] = rng.randbytes(size)
    tree["model.bin"] = rng.randbytes(rng.randrange(1 << 16, 3 << 20))
    return tree


def next_version(rng: random.Random, tree: Tree) -> Tree:
    """A quarter of the files changed, a tenth deleted, some new ones, a new model."""
    new: Tree = {}
    for path, data in tree.items():
        roll = rng.random()
        if roll < 0.1 and path != "model.bin":
            continue
        new[path] = rng.randbytes(len(data) + rng.randrange(1, 50)) if roll < 0.35 else data
    for i in range(len(tree) // 8 + 1):
        new[f"data/new{i % 3}/n{i}.bin"] = rng.randbytes(rng.randrange(1, 3000))
    new["model.bin"] = tree["model.bin"][:1000] + rng.randbytes(rng.randrange(1 << 16, 3 << 20))
    return new


def stage_outputs(tree: Tree) -> Tree:
    """What STAGE_SCRIPT writes into `out/` from the `data/` of `tree`."""
    outs: Tree = {}
    for path, data in tree.items():
        if path.startswith("data/"):
            name = path[len("data/"):].replace("/", "_")
            outs[f"out/{name}"] = sha256(data).digest() * (1 + len(data) % 64)
    return outs


def write_tree(root: Path, tree: Tree, old: Tree | None = None) -> None:
    """Make the workspace hold `tree`: files of `old` that `tree` lacks are deleted, and every
    file is replaced, never written through (it may be a link into the cache)."""
    for path in set(old or {}) - set(tree):
        (root / path).unlink()
    for path, data in tree.items():
        target = root / path
        if old is not None and old.get(path) == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(target):
            target.unlink()
        target.write_bytes(data)
    for folder in sorted({p.parent for p in map(root.joinpath, old or {})}, reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def read_tree(root: Path, targets: list[str]) -> Tree:
    """The bytes of every file below the targets (links followed), temp files left out."""
    tree: Tree = {}
    for target in targets:
        path = root / target
        if path.is_file():
            tree[target] = path.read_bytes()
            continue
        for folder, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if TMP_MARK not in d]
            for name in names:
                if TMP_MARK not in name:
                    file = Path(folder, name)
                    tree[file.relative_to(root).as_posix()] = file.read_bytes()
    return tree


def describe_difference(got: Tree, want: Tree) -> str:
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(p for p in set(got) & set(want) if got[p] != want[p])
    return f"missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)}), " \
           f"wrong bytes {wrong[:5]} ({len(wrong)})"


def writers_lock_holders(root: Path) -> str:
    """Who holds the cache's writers' lock (gc keeps temp files while anyone does): the lines of
    /proc/locks on its inode, each with its process's command line, for a failure message."""
    lock = root / ".himo" / "cache" / "tmp.lock"
    try:
        inode = lock.stat().st_ino
        lines = [line.split() for line in Path("/proc/locks").read_text().splitlines()]
    except OSError as exc:
        return f"writers' lock holders unknown ({exc})"
    holders = []
    for fields in lines:
        if fields[-3].endswith(f":{inode}") if len(fields) >= 8 else False:
            pid = fields[4]
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmd = "(gone)"
            holders.append(f"{fields[3]} by pid {pid} ({cmd[:200]}; test pid {os.getpid()})")
    return f"writers' lock holders: {holders or 'none'}"


def temp_leftovers(root: Path) -> list[str]:
    """Names of interrupted writes anywhere in the repository (not .git)."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        found += [Path(folder, n).relative_to(root).as_posix() for n in dirs + names if TMP_MARK in n]
    return sorted(found)


def snapshot_files(root: Path) -> dict[str, bytes]:
    """Everything below `root`, symlinks as their target (not followed)."""
    result = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            result[rel] = b"->" + os.readlink(path).encode()
        elif path.is_file():
            result[rel] = path.read_bytes()
        else:
            result[rel] = b"<dir>"
    return result


# -- the world -------------------------------------------------------------------------------
@dataclass
class World:
    """A repository under test, a folder remote beside it, and files outside that nothing
    may touch. Kill moments fall between `startup` (how long a command that does nothing
    takes: Python and imports) and `slowest`, the longest himo command so far."""

    base: Path
    cache_type: str
    rng: random.Random
    repo: Path = field(init=False)
    remote: Path = field(init=False)
    outside: Path = field(init=False)
    history: list[tuple[str, Tree]] = field(default_factory=list)  # (git commit, tree) to keep
    known: dict[str, list[Tree]] = field(default_factory=dict)  # target -> versions it may hold
    clones: set[str] = field(default_factory=set)  # folders beside the repository made on purpose
    slowest: float = 0.0
    startup: float = 0.0

    def __post_init__(self) -> None:
        self.repo = self.base / "repo"
        self.remote = self.base / "remote"
        self.outside = self.base / "outside"
        for name, data in {"notes.txt": b"not himo's\n", "deep/keep.bin": os.urandom(5000)}.items():
            (self.outside / name).parent.mkdir(parents=True, exist_ok=True)
            (self.outside / name).write_bytes(data)
        (self.outside / "link").symlink_to(self.outside / "notes.txt")
        self.outside_before = snapshot_files(self.outside)

    @property
    def himo(self) -> Himo:
        return Himo(self.repo)

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """A himo command that must succeed; its time widens the kill window."""
        started = time.monotonic()
        proc = Himo(cwd or self.repo)(*args)
        self.slowest = max(self.slowest, time.monotonic() - started)
        return proc

    def init_repo(self, path: Path | None = None) -> Path:
        root = path or self.repo
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        Himo(root)("init")
        started = time.monotonic()
        Himo(root)("config", "cache.type", self.cache_type)
        self.startup = self.startup or time.monotonic() - started
        return root

    def commit(self, message: str, tree: Tree, keep: bool = True) -> None:
        """git commit of everything himo wrote (pointers, lock, config); with `keep`, `tree`
        must stay recoverable from that commit."""
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "--allow-empty", "-m", message)
        if keep:
            self.history.append((git(self.repo, "rev-parse", "HEAD").strip(), tree))

    def remember(self, tree: Tree) -> None:
        """Each target of `tree` may legitimately hold this version while a command runs."""
        for target in targets_of(tree):
            part = {p: d for p, d in tree.items() if p == target or p.startswith(target + "/")}
            self.known.setdefault(target, []).append(part)

    def add_remote(self) -> None:
        self.run("remote", "add", "-d", "store", str(self.remote))

    def clone(self, name: str) -> Path:
        """A git clone of the repository, with no cache: what a colleague starts from."""
        target = self.base / name
        self.clones.add(name)
        subprocess.run(["git", "clone", "-q", str(self.repo), str(target)], check=True)
        return target


def targets_of(tree: Tree) -> list[str]:
    """The tracked paths of a tree: its top-level entries."""
    return sorted({p.split("/")[0] for p in tree})


# -- killing ---------------------------------------------------------------------------------
@dataclass
class Killed:
    args: tuple[str, ...]
    delay: float  # seconds after start when SIGKILL was sent
    whole_group: bool  # the process group (a terminal's kill) or himo alone (the OOM killer)
    returncode: int  # -9 if the kill landed, else the command's own exit code
    stderr: str

    def __str__(self) -> str:
        who = "its process group" if self.whole_group else "himo alone"
        return f"`himo {' '.join(self.args)}` killed ({who}) {self.delay:.3f} s after start," \
               f" exit {self.returncode}"


def run_and_kill(world: World, args: tuple[str, ...], window: float = 1.3) -> Killed:
    """Start `himo ARGS` and SIGKILL it at a random moment after start-up and before `window`
    times the slowest command so far (a command that finishes first is checked as finished)."""
    delay = world.rng.uniform(0.8 * world.startup, max(world.slowest, 0.3) * window)
    whole_group = world.rng.random() < 0.5
    errors = world.base / "killed.stderr"
    with open(errors, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "himo", *args], cwd=world.repo,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            if whole_group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        returncode = proc.wait()
    killed = Killed(args, delay, whole_group, returncode, errors.read_text())
    assert returncode in (0, -signal.SIGKILL), f"{killed}:\n{killed.stderr}"
    wait_for_orphans(world.repo, killed)
    return killed


def processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is `folder` or below (himo's workers, stages)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd == str(folder) or cwd.startswith(f"{folder}/"):
            found.append(int(entry))
    return found


def wait_for_orphans(folder: Path, killed: Killed | str, limit: float = 10.0) -> None:
    """Nothing started by the killed himo (forked workers, stage commands) may go on writing:
    they must end with it. Waits up to `limit` for them to go, then fails naming them."""
    deadline = time.monotonic() + limit
    while (left := processes_in(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        names = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in left]
        for pid in left:
            os.kill(pid, signal.SIGKILL)  # do not let them disturb the next test
        raise AssertionError(f"{killed}: processes outlived it: {names}")


# -- checks ----------------------------------------------------------------------------------
def assert_status_truthful(world: World) -> None:
    """After a kill, before any recovery: every path `status` calls unchanged holds, byte for
    byte, a version that it may hold (the old or the new one), never a mangled mixture."""
    report = json.loads(world.himo("status", "--json").stdout)
    for path, entry in report["data"].items():
        if entry["state"] != "unchanged" or path not in world.known:
            continue
        got = read_tree(world.repo, [path])
        assert got in world.known[path], \
            f"status says {path} is unchanged, but it holds none of its versions: " + \
            describe_difference(got, world.known[path][-1])


def assert_workspace(world: World, expected: Tree, when: str) -> None:
    got = read_tree(world.repo, targets_of(expected))
    assert got == expected, f"{when}: the workspace differs: {describe_difference(got, expected)}"


def assert_recovered(world: World, expected: Tree) -> None:
    """Every byte is where it belongs once ordinary commands have run again:

    status is clean, fsck finds nothing, the workspace is `expected`; every version committed
    to git comes back with `himo checkout`; so does `expected` after its files are deleted
    (all of it is in the cache); gc then leaves no temp file of the interrupted command, and
    nothing outside the repository changed.
    """
    assert world.himo("status").stdout == "Everything is up to date.\n"
    world.himo("fsck")
    assert_workspace(world, expected, "after recovery")
    world.commit("recovered", expected, keep=False)
    for commit, tree in world.history:
        git(world.repo, "checkout", "-q", commit)
        world.himo("checkout", "-f")
        assert_workspace(world, tree, f"after checkout of commit {commit[:8]}")
    git(world.repo, "checkout", "-q", "main")
    for target in targets_of(expected):
        remove_path(world.repo / target)
    world.himo("checkout")
    assert_workspace(world, expected, "after checkout into an empty workspace")
    world.himo("gc", "-w", "-f")
    left = temp_leftovers(world.repo)
    assert left == [], (f"temp files of the interrupted command stay: {left}; "
                        f"{writers_lock_holders(world.repo)}")
    assert_outside_untouched(world)


def assert_outside_untouched(world: World) -> None:
    assert snapshot_files(world.outside) == world.outside_before, "files outside the repository changed"
    expected = {"repo", "remote", "outside", "killed.stderr"} | world.clones
    assert {p.name for p in world.base.iterdir()} <= expected, sorted(p.name for p in world.base.iterdir())


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
