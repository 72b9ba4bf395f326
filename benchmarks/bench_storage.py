#!/usr/bin/env python3
"""Time himo and DVC side by side on the same data.

Each scenario runs both tools one after the other (never at the same time), each in a
fresh git repository of its own under the work dir, and reports the median wall time of
--repeat runs, the ratio DVC time / himo time and, where one makes sense, the time of a
plain `cp` / `cp -r` of the same data. Only the tool's command is timed: creating repos,
copying the data in and deleting caches happen before the clock starts.

Deleting is deferred: what a scenario throws away (a repo of an earlier repeat, the folder
checkout restores, the cache pull refills) is moved into run/trash/ and deleted at the end.
On ext4 without a journal (this project's benchmark machine), creating a file scans past every
inode deleted in the last 60 s, or 360 s while its inode-table block is dirty (the kernel's
`recently_deleted()`), so creating 20,000 files right after deleting 20,000 took 4-6 s instead
of 0.7-1 s, for DVC, himo and `cp` alike: that measures the filesystem's state, not the tools.
`--delete-now` deletes at once as before. For the same reason, start a run at least 6 minutes
after deleting many files (an earlier run deletes its trash when it ends).

Standard library only; the helpers it shares with bench_pipeline.py are in common.py.
See benchmarks/README.md for how to set up DVC and run it.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from common import (
    DEFAULT_DVC_VENV,
    CommandError,
    Measure,
    Tool,
    log,
    machine_facts,
    make_tools,
    measure,
    print_rows,
    remove,
    run,
    start_facts,
    time_runs,
    write_result,
)

DEFAULT_MOTO = Path(sys.executable).parent / "moto_server"  # installed beside this Python
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "bench"
CHUNK = 16 << 20
SEED = 20240611

# Run by the Python next to moto_server (it has boto3): "create BUCKET" or "bytes BUCKET PREFIX".
BOTO_SNIPPET = """
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
if sys.argv[2] == "create":
    s3.create_bucket(Bucket=sys.argv[3])
else:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[3], Prefix=sys.argv[4])
    print(sum(obj["Size"] for page in pages for obj in page.get("Contents", [])))
"""


# ---------------------------------------------------------------- data sets


@dataclass(frozen=True)
class Tree:
    """A directory of `dirs` sub-folders holding `per_dir` random files of `size` bytes each."""

    dirs: int
    per_dir: int
    size: int

    @property
    def count(self) -> int:
        return self.dirs * self.per_dir

    @property
    def nbytes(self) -> int:
        return self.count * self.size

    def describe(self) -> str:
        return f"{self.count} files of {self.size} B in {self.dirs} folders"

    def rel(self, index: int) -> Path:
        """Relative path of the index-th file; consecutive indexes land in different folders."""
        return Path(f"d{index % self.dirs:04d}", f"f{index // self.dirs % self.per_dir:05d}.bin")

    def make(self, root: Path) -> None:
        rng = random.Random(SEED)
        for index in range(self.count):
            path = root / self.rel(index)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(self.size))


@dataclass(frozen=True)
class Sizes:
    big: int  # bytes of the add_1g file
    tree: Tree  # add_20k and the scenarios that follow it
    scale: Tree  # --scale scenarios


FULL = Sizes(big=1 << 30, tree=Tree(100, 200, 4096), scale=Tree(1000, 200, 1024))
QUICK = Sizes(big=64 << 20, tree=Tree(20, 50, 4096), scale=Tree(20, 100, 1024))


def make_big_file(path: Path, size: int) -> None:
    rng = random.Random(SEED)
    with path.open("wb") as out:
        for start in range(0, size, CHUNK):
            out.write(rng.randbytes(min(CHUNK, size - start)))


# ---------------------------------------------------------------- files


def copy(src: Path, dst: Path) -> None:
    run(["cp", "-r", str(src), str(dst)], dst.parent)


def replace_file(path: Path, data: bytes) -> None:
    """Give path new content through a new inode (never writes into a linked cache file)."""
    path.unlink()
    path.write_bytes(data)


def count_files(root: Path) -> tuple[int, int]:
    """Number of regular files under root and their total size."""
    files = [Path(top, name) for top, _, names in os.walk(root) for name in names]
    regular = [path.stat() for path in files if path.is_file()]
    return len(regular), sum(st.st_size for st in regular)


def expect_files(rel: str, count: int) -> Callable[[Path], None]:
    """An `after` check: the repo's rel dir holds exactly `count` files."""

    def check(repo: Path) -> None:
        found, _ = count_files(repo / rel)
        if found != count:
            raise CommandError(f"{rel} has {found} files after the command, expected {count}")

    return check


def expect_bytes(where: str, found: int, wanted: int) -> None:
    # Random data cannot shrink: a remote holding less than this did not get the data.
    if found < wanted * 0.99:
        raise CommandError(f"{where} holds {found} bytes after push, expected >= {wanted}")


# ---------------------------------------------------------------- the bench


class MotoServer:
    """A moto S3 server on a free loopback port; ready() creates the bench bucket."""

    def __init__(self, exe: Path, log: Path) -> None:
        self.python = exe.parent / "python"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
            )

    def ready(self) -> None:
        """Wait until the server answers, then create the bench bucket."""
        wait_for_http(self.url, timeout=60)
        self.boto("create", BUCKET)

    def boto(self, *args: str) -> str:
        cmd = [str(self.python), "-c", BOTO_SNIPPET, self.url, *args]
        return run(cmd, Path.cwd(), os.environ | S3_ENV)

    def stored_bytes(self, prefix: str) -> int:
        return int(self.boto("bytes", BUCKET, prefix))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() > deadline:
                raise CommandError(f"moto_server did not answer on {url}") from None
            time.sleep(0.2)


@dataclass
class Bench:
    """Options plus what scenarios share: generated data and repos built along the way."""

    workdir: Path
    sizes: Sizes
    repeat: int
    scale_repeat: int
    scale_dvc: bool
    moto_exe: Path
    delete_now: bool = False
    repos: dict[tuple[str, str], Path] = field(default_factory=dict)
    pushed: set[str] = field(default_factory=set)
    refs: dict[Path, list[float]] = field(default_factory=dict)
    moto: MotoServer | None = None

    @property
    def run_dir(self) -> Path:
        return self.workdir / "run"

    def scratch(self, *parts: str) -> Path:
        """An empty dir run/<parts>, discarding what an earlier repeat left there."""
        path = self.run_dir.joinpath(*parts)
        self.discard(path)
        path.mkdir(parents=True)
        return path

    def discard(self, path: Path) -> None:
        """Make `path` disappear: moved into run/trash/ (deleted at the end), or deleted now."""
        if self.delete_now or not (path.exists() or path.is_symlink()):
            remove(path)
            return
        trash = self.run_dir / "trash"
        trash.mkdir(exist_ok=True)
        path.rename(trash / f"{len(os.listdir(trash)):06d}")

    def repeats(self, kind: str) -> int:
        """Runs per scenario: scale scenarios have their own count."""
        return self.scale_repeat if kind == "scale" else self.repeat

    def fresh_repo(self, scenario: str, tool: Tool, i: int) -> Path:
        return tool.init_repo(self.scratch(scenario, tool.name) / f"repo{i}")

    def cached_data(self, name: str, make: Callable[[Path], None]) -> Path:
        """workdir/data/name, generated once and reused by later runs."""
        path = self.workdir / "data" / name
        done = path.with_name(name + ".done")
        if not done.exists():
            log(f"generating {path} ...")
            path.parent.mkdir(parents=True, exist_ok=True)
            remove(path)
            make(path)
            done.touch()
        return path

    def big_file(self) -> Path:
        size = self.sizes.big
        return self.cached_data(f"big-{size}.bin", lambda path: make_big_file(path, size))

    def dataset(self, kind: str) -> tuple[Tree, Path]:
        tree: Tree = getattr(self.sizes, kind)
        return tree, self.cached_data(f"tree-{tree.dirs}x{tree.per_dir}x{tree.size}", tree.make)

    def reference(self, src: Path) -> list[float]:
        """`cp -r src` timed like a tool (memoised: several scenarios share it)."""
        if src not in self.refs:

            def prepare(i: int) -> Path:
                return self.scratch("ref", src.name)

            self.refs[src] = time_runs(["cp", "-r", str(src), "copy"], self.repeat, prepare)
        return self.refs[src]

    def moto_server(self) -> MotoServer:
        if self.moto is None:
            log("starting moto_server ...")
            self.moto = MotoServer(self.moto_exe, self.run_dir / "moto.log")
            self.moto.ready()  # after assigning it, so that close() stops it even if this fails
        return self.moto

    def close(self) -> None:
        if self.moto is not None:
            self.moto.stop()
            self.moto = None


# ---------------------------------------------------------------- scenarios

ADD_SCENARIO = {"tree": "add_20k", "scale": "scale_add_200k"}


def add_big(bench: Bench, tool: Tool, link: str | None) -> list[float]:
    src = bench.big_file()

    def prepare(i: int) -> Path:
        repo = bench.fresh_repo(f"add_big_{link or 'default'}", tool, i)
        if link is not None:
            tool.run(repo, "config", "cache.type", link)
        copy(src, repo / "big.bin")
        return repo

    return tool.time(bench.repeat, ["add", "-q", "big.bin"], prepare)


def tree_repo(bench: Bench, tool: Tool, kind: str, i: int) -> Path:
    """A fresh repo with the data set copied in as `data`, not yet added."""
    _, src = bench.dataset(kind)
    repo = bench.fresh_repo(ADD_SCENARIO[kind], tool, i)
    copy(src, repo / "data")
    return repo


def add_tree(bench: Bench, tool: Tool, kind: str) -> list[float]:
    made: list[Path] = []

    def prepare(i: int) -> Path:
        made.append(tree_repo(bench, tool, kind, i))
        return made[-1]

    samples = tool.time(bench.repeats(kind), ["add", "-q", "data"], prepare)
    bench.repos[kind, tool.name] = made[-1]  # later scenarios reuse the last repo
    return samples


def added_tree(bench: Bench, tool: Tool, kind: str) -> Path:
    """The repo where the data set is added; built untimed if its add scenario did not run."""
    if (kind, tool.name) not in bench.repos:
        log(f"  {tool.name}: preparing a repo with {ADD_SCENARIO[kind]}'s data added ...")
        repo = tree_repo(bench, tool, kind, 0)
        tool.run(repo, "add", "-q", "data")
        bench.repos[kind, tool.name] = repo
    return bench.repos[kind, tool.name]


def status_changed(bench: Bench, tool: Tool, kind: str, count: int) -> list[float]:
    """`status` after giving `count` files new content: other files each repeat, restored after."""
    tree, src = bench.dataset(kind)
    repo = added_tree(bench, tool, kind)
    changed: list[Path] = []

    def prepare(i: int) -> Path:
        changed[:] = [tree.rel(i * count + k) for k in range(count)]
        for rel in changed:
            replace_file(repo / "data" / rel, os.urandom(tree.size))
        return repo

    def restore(repo: Path) -> None:
        for rel in changed:
            replace_file(repo / "data" / rel, (src / rel).read_bytes())

    return tool.time(bench.repeats(kind), ["status"], prepare, restore)


def status_clean(bench: Bench, tool: Tool) -> list[float]:
    repo = added_tree(bench, tool, "tree")
    return tool.time(bench.repeat, ["status"], lambda i: repo)


def checkout_tree(bench: Bench, tool: Tool) -> list[float]:
    tree, _ = bench.dataset("tree")
    repo = added_tree(bench, tool, "tree")

    def prepare(i: int) -> Path:
        bench.discard(repo / "data")
        return repo

    return tool.time(bench.repeat, ["checkout", "-q"], prepare, expect_files("data", tree.count))


def add_local_remote(bench: Bench, tool: Tool, repo: Path, name: str) -> Path:
    """A new empty folder remote, made the default."""
    url = bench.scratch("remotes", tool.name, name)
    tool.run(repo, "remote", "add", "-d", name, str(url))
    return url


def push_tree(bench: Bench, tool: Tool) -> list[float]:
    tree, _ = bench.dataset("tree")
    repo = added_tree(bench, tool, "tree")
    urls: list[Path] = []

    def prepare(i: int) -> Path:
        urls.append(add_local_remote(bench, tool, repo, f"push{i}"))
        return repo

    def check(_: Path) -> None:
        expect_bytes(str(urls[-1]), count_files(urls[-1])[1], tree.nbytes)

    samples = tool.time(bench.repeat, ["push", "-q"], prepare, check)
    bench.pushed.add(tool.name)
    return samples


def pushed_tree(bench: Bench, tool: Tool) -> Path:
    """The added-tree repo with its data on its default remote (pushed untimed if need be)."""
    repo = added_tree(bench, tool, "tree")
    if tool.name not in bench.pushed:
        log(f"  {tool.name}: pushing to a remote for pull ...")
        add_local_remote(bench, tool, repo, "pullsrc")
        tool.run(repo, "push", "-q")
        bench.pushed.add(tool.name)
    return repo


def pull_tree(bench: Bench, tool: Tool) -> list[float]:
    tree, _ = bench.dataset("tree")
    repo = pushed_tree(bench, tool)

    def prepare(i: int) -> Path:
        bench.discard(repo / tool.meta / "cache")
        bench.discard(repo / "data")
        return repo

    return tool.time(bench.repeat, ["pull", "-q"], prepare, expect_files("data", tree.count))


def empty_repo(bench: Bench, tool: Tool) -> Path:
    if ("empty", tool.name) not in bench.repos:
        bench.repos["empty", tool.name] = tool.init_repo(bench.scratch("empty", tool.name) / "repo")
    return bench.repos["empty", tool.name]


def in_empty_repo(*args: str) -> Callable[[Bench, Tool], list[float]]:
    def scenario(bench: Bench, tool: Tool) -> list[float]:
        repo = empty_repo(bench, tool)
        return tool.time(bench.repeat, args, lambda i: repo)

    return scenario


def push_s3(bench: Bench, tool: Tool) -> list[float]:
    tree, _ = bench.dataset("scale")
    repo = added_tree(bench, tool, "scale")
    moto = bench.moto_server()
    prefixes: list[str] = []

    def prepare(i: int) -> Path:
        prefixes.append(f"store{i}")
        tool.run(repo, "remote", "add", "-d", f"s3r{i}", f"s3://{BUCKET}/{prefixes[-1]}")
        tool.run(repo, "remote", "modify", f"s3r{i}", "endpointurl", moto.url)
        return repo

    def check(_: Path) -> None:
        url = f"s3://{BUCKET}/{prefixes[-1]}"
        expect_bytes(url, moto.stored_bytes(prefixes[-1]), tree.nbytes)

    env = dict(tool.env) | S3_ENV
    return time_runs(tool.cmd("push", "-q"), bench.repeats("scale"), prepare, check, env)


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Bench, Tool], list[float]]
    reference: Callable[[Bench], Path] | None = None  # data whose `cp -r` is the reference
    target: float | None = None  # seconds himo should stay under, at full size
    scale: bool = False  # only with --scale; DVC only with --scale-dvc
    himo_only: bool = False


def tree_src(bench: Bench) -> Path:
    return bench.dataset("tree")[1]


SCENARIOS = [
    Scenario("add_1g", partial(add_big, link=None), Bench.big_file),
    Scenario("add_1g_hardlink", partial(add_big, link="hardlink"), target=0.6),
    Scenario("add_1g_symlink", partial(add_big, link="symlink"), target=0.6),
    Scenario("add_20k", partial(add_tree, kind="tree"), tree_src),
    Scenario("status_clean", status_clean, target=0.3),
    Scenario("status_10_changed", partial(status_changed, kind="tree", count=10)),
    Scenario("checkout_20k", checkout_tree, tree_src),
    Scenario("push_20k", push_tree, tree_src),
    Scenario("pull_20k", pull_tree, tree_src),
    Scenario("version", in_empty_repo("--version")),
    Scenario("status_empty", in_empty_repo("status")),
    Scenario("scale_add_200k", partial(add_tree, kind="scale"), scale=True),
    Scenario(
        "scale_status_1_changed",
        partial(status_changed, kind="scale", count=1),
        target=2.0,
        scale=True,
    ),
    Scenario("scale_push_s3", push_s3, scale=True, himo_only=True),
]


# ---------------------------------------------------------------- results


@dataclass
class Result:
    scenario: Scenario
    dvc: Measure
    himo: Measure
    ref: Measure

    @property
    def ratio(self) -> float | None:
        dvc, himo = self.dvc.median, self.himo.median
        return dvc / himo if dvc is not None and himo else None

    def row(self, quick: bool) -> list[str]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.1f}x"
        return [
            self.scenario.name,
            self.dvc.cell(),
            self.himo.cell(),
            ratio,
            self.ref.cell(),
            self.target_cell(quick),
        ]

    def target_cell(self, quick: bool) -> str:
        target, himo = self.scenario.target, self.himo.median
        if target is None:
            return ""
        verdict = "" if quick or himo is None else (" ok" if himo < target else " MISSED")
        return f"<{target:g}{verdict}"

    def as_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario.name,
            "dvc": self.dvc.as_json(),
            "himo": self.himo.as_json(),
            "reference_cp": self.ref.as_json(),
            "ratio_dvc_over_himo": self.ratio,
            "target_s": self.scenario.target,
        }


def run_scenario(bench: Bench, scenario: Scenario, tools: Mapping[str, Tool]) -> Result:
    log(f"[{scenario.name}]")
    measures = {}
    for name, tool in tools.items():
        skip = name == "dvc" and (scenario.himo_only or (scenario.scale and not bench.scale_dvc))
        measures[name] = Measure() if skip else measure(lambda tool=tool: scenario.run(bench, tool))
        log(f"  {name}: {measures[name].error or measures[name].cell()}")
    ref = Measure()
    if scenario.reference is not None:
        reference = scenario.reference
        ref = measure(lambda: bench.reference(reference(bench)))
        log(f"  cp: {ref.error or ref.cell()}")
    return Result(scenario, measures["dvc"], measures["himo"], ref)


def print_table(results: Sequence[Result], quick: bool) -> None:
    header = ["scenario", "dvc s", "himo s", "dvc/himo", "cp s", "himo target s"]
    print_rows(header, [result.row(quick) for result in results])
    for result in results:
        for name, m in (("dvc", result.dvc), ("himo", result.himo), ("cp", result.ref)):
            if m.error:
                print(f"{result.scenario.name} {name}: n/a: {m.error}")


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the setup")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument("--only", help="comma-separated scenarios to run")
    parser.add_argument("--himo", default=str(Path(sys.executable).parent / "himo"))
    parser.add_argument("--dvc", default=str(DEFAULT_DVC_VENV / "bin" / "dvc"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/himo-bench"))
    parser.add_argument("--json-out", type=Path, help="result file (default: results/BENCH-DATE.json)")
    parser.add_argument("--scale", action="store_true", help="add the 200,000-file scenarios")
    parser.add_argument("--scale-dvc", action="store_true", help="run DVC in scale add/status")
    parser.add_argument("--scale-repeat", type=int, default=1, help="runs per scale scenario")
    parser.add_argument("--moto-server", type=Path, default=DEFAULT_MOTO)
    parser.add_argument("--keep", action="store_true", help="keep the repos in WORKDIR/run")
    parser.add_argument("--delete-now", action="store_true",
                        help="delete discarded repos and folders at once, not at the end")
    opts = parser.parse_args(argv)
    if opts.repeat < 1 or opts.scale_repeat < 1:
        parser.error("--repeat and --scale-repeat must be at least 1")
    opts.scenarios = select(parser, opts)
    return opts


def select(parser: argparse.ArgumentParser, opts: argparse.Namespace) -> list[Scenario]:
    if not opts.only:
        return [s for s in SCENARIOS if opts.scale or opts.scale_dvc or not s.scale]
    names = {name.strip() for name in opts.only.split(",") if name.strip()}
    unknown = names - {s.name for s in SCENARIOS}
    if unknown:
        valid = ", ".join(s.name for s in SCENARIOS)
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {valid}")
    return [s for s in SCENARIOS if s.name in names]


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = start_facts()
    sizes = QUICK if opts.quick else FULL
    bench = Bench(
        opts.workdir.resolve(),
        sizes,
        opts.repeat,
        opts.scale_repeat,
        opts.scale_dvc,
        opts.moto_server,
        opts.delete_now,
    )
    if bench.run_dir.exists():  # an earlier run's: set aside, deleted at the end of this one
        bench.run_dir.rename(bench.workdir / f"run-old-{os.getpid()}")
    bench.run_dir.mkdir(parents=True)
    tools = make_tools(opts, bench.run_dir)
    facts = machine_facts(bench.workdir, tools)
    facts |= {
        "mode": "quick" if opts.quick else "full",
        "repeat": str(opts.repeat),
        "deletes": "at once (--delete-now)" if opts.delete_now else "deferred to the end of the run",
        "big file": f"{sizes.big >> 20} MiB",
        "tree": sizes.tree.describe(),
        "scale tree": sizes.scale.describe(),
    }
    for key, value in facts.items():
        print(f"{key + ':':15} {value}")
    print(flush=True)
    try:
        results = [run_scenario(bench, s, tools) for s in opts.scenarios]
    finally:
        bench.close()
        if not opts.keep:
            remove(bench.run_dir)
        for old in bench.workdir.glob("run-old-*"):
            remove(old)
    print()
    print_table(results, opts.quick)
    doc = {"facts": facts, "results": [r.as_json() for r in results]}
    write_result("storage", bench.workdir, started, doc, opts.himo, opts.dvc, opts.json_out)
    failed = any(m.error for r in results for m in (r.dvc, r.himo, r.ref))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
