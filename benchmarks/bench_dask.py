#!/usr/bin/env python3
"""Time 16 independent 2-second stages: himo serial, `-j 2`, on Dask with 2 workers; DVC serial.

Each stage reads input.txt (a small tracked file) and writes its own small output after
`sleep 2`. Every run is a forced repro (`repro -f`: all 16 stages run, none is restored from the
run-cache) in a repository prepared once per tool. The configurations are interleaved: repeat i
runs each of them once, in turn, so that a change in the machine's load spreads over all.

Dask: a scheduler and 2 worker processes (1 thread each) on loopback, started once by this
script (`dask scheduler` / `dask worker`), the remote a local folder. The ideal is 16 s (8 stages
per worker). Dask's overhead per stage, what one stage's round trip costs beyond its command
(scheduling, the worker's checkout, fetching the dep, pushing the output, checking it out on
the client), is measured apart with no-op stages, through himo's Python API in this process (a
loaded machine makes Python's start-up and dask's import vary by seconds, which would drown it):
16 no-op stages, minus 1 no-op stage (which holds the fixed costs: connecting, the preflight),
over the 15 extra stages, times 2 (each worker runs half of them): (T16 - T1) / 15 * 2.
Wall times swell with the machine's load; the CPU time each extra stage costs does not, so it is
measured too, the same way: (CPU16 - CPU1) / 15, of the client (this process: it starts no
process per stage, and the children it reaps, such as each run's background `meta sync`, would
land in whichever sample reaps them) and of the workers (their processes and the stages' commands).

    python benchmarks/bench_dask.py [--repeat 3] [--dvc PATH] [--himo PATH]

DVC comes from benchmarks/setup_dvc.sh (HIMO_BENCH_DVC_SPEC=dvc==3.67.1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    DEFAULT_DVC_VENV,
    CommandError,
    Tool,
    log,
    make_tools,
    remove,
    run,
    start_facts,
    time_runs,
    write_result,
)

STAGES = 16
SECONDS = 2
WORKERS = 2
TARGET_OVERHEAD_S = 0.150


def pipeline_yaml(stages: int, seconds: float) -> str:
    lines = ["stages:"]
    for n in range(stages):
        cmd = f"sleep {seconds} && cat input.txt > s{n}.txt" if seconds else f"cat input.txt > s{n}.txt"
        lines += [f"  s{n}:", f"    cmd: {cmd}", "    deps: [input.txt]", f"    outs: [s{n}.txt]"]
    return "\n".join(lines) + "\n"


def make_repo(path: Path, tool: Tool, stages: int, seconds: float, remote: Path | None = None) -> Path:
    """A git + tool repository with the pipeline committed, run once (untimed: warm)."""
    remove(path)
    tool.init_repo(path)
    (path / "input.txt").write_text("input\n")
    (path / ("dvc.yaml" if tool.name == "dvc" else "himo.yaml")).write_text(pipeline_yaml(stages, seconds))
    if remote is not None:
        tool.run(path, "remote", "add", "-d", "store", str(remote))
    run(["git", "add", "-A"], path)
    run(["git", "-c", "user.email=b@b", "-c", "user.name=bench", "commit", "-qm", "pipeline"], path)
    return path


@contextmanager
def cluster(workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """A scheduler and WORKERS worker processes on loopback; the scheduler's address."""
    spec = workdir / "scheduler.json"
    remove(spec)
    log_file = open(workdir / "cluster.log", "wb")  # noqa: SIM115 - open while the cluster lives
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(spec)],
                              env=env, stdout=log_file, stderr=log_file)]
    try:
        procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                    str(spec), "--nthreads", "1", "--no-dashboard", "--name", f"w{i}",
                                    "--local-directory", str(workdir / f"worker{i}")],
                                   env=env, stdout=log_file, stderr=log_file) for i in range(WORKERS)]
        deadline = time.monotonic() + 120
        while not spec.exists():
            if time.monotonic() > deadline:
                raise CommandError("the Dask scheduler did not start within 120 s")
            time.sleep(0.1)
        address = json.loads(spec.read_text())["address"]
        from distributed import Client

        with Client(address, timeout=120, set_as_default=False) as client:
            client.wait_for_workers(WORKERS, timeout=120)
        yield address
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        log_file.close()


@dataclass
class Config:
    backend: str  # "himo" or "dvc"
    measurement: str
    args: list[str]
    repo: Path
    tool: Tool
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    client_cpu: list[float] = field(default_factory=list)  # CPU seconds per sample (Python API runs)
    worker_cpu: list[float] = field(default_factory=list)


def cpu_seconds(children: bool = True) -> float:
    """User + system CPU of this process, and of its children that ended (on a worker: the stages'
    commands)."""
    t = os.times()
    return t.user + t.system + ((t.children_user + t.children_system) if children else 0.0)


def workers_cpu(address: str) -> float:
    from distributed import Client

    with Client(address, timeout=120, set_as_default=False) as client:
        return sum(client.run(cpu_seconds).values())


def expect_outputs(repo: Path, stages: int) -> Callable[[Path], None]:
    def check(path: Path) -> None:
        missing = [n for n in range(stages) if not (repo / f"s{n}.txt").is_file()]
        if missing:
            raise CommandError(f"outputs s{missing[0]}.txt ... missing after the run in {repo}")
    return check


def time_one(config: Config) -> None:
    if config.error:
        return
    if config.args[0] == "api":
        return time_in_process(config)
    try:
        check = expect_outputs(config.repo, 1 if "1 no-op" in config.measurement else STAGES)
        config.samples += time_runs(config.tool.cmd(*config.args), 1, lambda i: config.repo, check,
                                    config.tool.env)
    except (CommandError, OSError) as exc:
        config.error = str(exc)
    log(f"  {config.backend} {config.measurement}: "
        f"{config.error or f'{config.samples[-1]:.2f} s'}")


def time_in_process(config: Config) -> None:
    """`repro -f --executor dask` through himo's Python API, in this process."""
    from himo.api.repro import ReproOptions, repro
    from himo.workspace.repo import Repo

    opts = ReproOptions(force=True, executor="dask", scheduler=config.args[1])
    workers_before = workers_cpu(config.args[1])
    with Repo(config.repo) as repo:
        cpu_before, started = cpu_seconds(children=False), time.perf_counter()
        repro(repo, opts=opts)
        config.samples.append(time.perf_counter() - started)
        config.client_cpu.append(cpu_seconds(children=False) - cpu_before)
    config.worker_cpu.append(workers_cpu(config.args[1]) - workers_before)
    log(f"  {config.backend} {config.measurement}: {config.samples[-1]:.2f} s, CPU"
        f" {config.client_cpu[-1]:.2f} s client, {config.worker_cpu[-1]:.2f} s workers")


def row(config: Config, target: float | None = None) -> dict[str, object]:
    median = statistics.median(config.samples) if config.samples and not config.error else None
    return {"backend": config.backend, "measurement": config.measurement, "median": median,
            "samples": config.samples, "error": config.error, "target_s": target, "met": None}


def per_stage(one: list[float], many: list[float], scale: float = 1) -> float | None:
    """(median(many) - median(one)) / 15 * scale: what each extra stage adds."""
    if not one or not many:
        return None
    return (statistics.median(many) - statistics.median(one)) / (STAGES - 1) * scale


def overhead_rows(one: Config, many: Config) -> list[dict[str, object]]:
    """(T16 - T1) / 15 * WORKERS from the medians of the no-op runs, and the CPU per extra stage."""
    ok = not (one.error or many.error)
    wall = per_stage(one.samples, many.samples, WORKERS) if ok else None
    met = None if wall is None else ("yes" if wall < TARGET_OVERHEAD_S else "no")
    rows = [{"backend": "himo", "measurement": "Dask overhead per stage, (T16 - T1) / 15 x 2 workers",
             "median": wall, "samples": [] if wall is None else [wall], "error": None,
             "target_s": TARGET_OVERHEAD_S, "met": met}]
    for side, one_cpu, many_cpu in (("client", one.client_cpu, many.client_cpu),
                                    ("workers and commands", one.worker_cpu, many.worker_cpu)):
        cpu = per_stage(one_cpu, many_cpu) if ok else None
        rows.append({"backend": "himo", "measurement": f"Dask CPU per extra no-op stage, {side}",
                     "median": cpu, "samples": [] if cpu is None else [cpu], "error": None,
                     "target_s": None, "met": None})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--himo", default=str(Path(sys.executable).parent / "himo"))
    parser.add_argument("--dvc", default=str(DEFAULT_DVC_VENV / "bin" / "dvc"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/himo-bench-dask"))
    parser.add_argument("--json-out", type=Path)
    opts = parser.parse_args(argv)
    started = start_facts()
    workdir = opts.workdir.resolve()
    remove(workdir)
    workdir.mkdir(parents=True)
    tools = make_tools(opts, workdir)
    himo, dvc = tools["himo"], tools["dvc"]
    # Bytecode cached (as a pip install has it): without it every command compiles dask anew.
    env = {k: v for k, v in himo.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPYCACHEPREFIX": str(workdir / "pycache")}
    himo = Tool("himo", himo.exe, himo.meta, env)
    remote = workdir / "remote"
    with cluster(workdir, env) as address:
        dask = ["repro", "-q", "-f", "--executor", "dask", "--scheduler", address]
        configs = [
            Config("himo", "serial repro", ["repro", "-q", "-f"], make_repo(workdir / "serial", himo, STAGES,
                                                                            SECONDS), himo),
            Config("himo", "repro -j 2", ["repro", "-q", "-f", "-j", "2"],
                   make_repo(workdir / "j2", himo, STAGES, SECONDS), himo),
            Config("himo", "repro --executor dask (2 workers)", dask,
                   make_repo(workdir / "dask", himo, STAGES, SECONDS, remote), himo),
            Config("dvc", "serial repro (anchor)", ["repro", "-q", "-f"],
                   make_repo(workdir / "dvc", dvc, STAGES, SECONDS) if Path(opts.dvc).exists() else workdir,
                   dvc, error=None if Path(opts.dvc).exists() else f"no DVC at {opts.dvc}"),
        ]
        api = ["api", address]
        one = Config("himo", "Dask, 1 no-op stage (Python API)", api,
                     make_repo(workdir / "noop1", himo, 1, 0, remote), himo)
        many = Config("himo", f"Dask, {STAGES} no-op stages (Python API)", api,
                      make_repo(workdir / "noop16", himo, STAGES, 0, remote), himo)
        for config in configs:  # untimed warm-up: bytecode, page cache, worker mirrors
            if not config.error:
                try:
                    warm = config.args if "dask" in config.args else ["status"]
                    config.tool.run(config.repo, *warm)
                except CommandError as exc:
                    config.error = str(exc)
        for config in (one, many):  # warm-up
            time_in_process(config)
            config.samples.clear()
            config.client_cpu.clear()
            config.worker_cpu.clear()
        for i in range(opts.repeat):
            log(f"[repeat {i + 1}/{opts.repeat}]")
            for config in (*configs, one, many, one, many):  # the no-op pair twice: it is short
                time_one(config)
    rows = [row(c) for c in configs] + [row(one), row(many), *overhead_rows(one, many)]
    ideal = STAGES * SECONDS / WORKERS
    body = {"workload": f"{STAGES} independent stages of `sleep {SECONDS}` (ideal on 2 workers: {ideal:g} s)",
            "rows": rows}
    write_result("dask", workdir, started, body, himo.exe, opts.dvc if Path(opts.dvc).exists() else None,
                 opts.json_out)
    for r in rows:
        median = r["median"]
        print(f"{r['backend']:5} {r['measurement']:55} {'n/a' if median is None else f'{median:.3f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
