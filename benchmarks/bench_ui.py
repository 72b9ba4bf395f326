#!/usr/bin/env python3
"""Time the dashboard (`himo ui`) over a 1,000,000-execution store, on SQLite and PostgreSQL.

For each backend, gen_meta_store.py fills a new store (SQLite: a file under the work dir;
PostgreSQL: a throwaway database, dropped at the end; both kept and reused with --reuse), then
each request below is timed two ways:
- server time: the ASGI app called in-process through FastAPI's TestClient (httpx), so no
  network and no client start-up; the clock wraps one request and its full response body;
- through a real server: `himo ui --meta-url URL --port P` started as a subprocess (uvicorn),
  requests over one keep-alive loopback connection (http.client), wall time per request.
Requests (target < 300 ms each for the runs page and the lineage API, issue 6):
- the runs page (HTML, first page: 50 runs, the 30-day grid, the stage list), the same filtered
  by a stage of the daily pipeline, by the rarest stage and by a stage no run has, and its JSON
  (`/api/runs`, `/api/grid`);
- the lineage API of a 10-hop chain (the newest daily snapshot upstream, 10 executions deep),
  both directions as the artifact page asks, and the artifact page itself.
Medians of --repeat warm requests (one untimed request first, whose answer is checked), each
with the CPU time the serving process spent on it (in-process: this process, client included;
uvicorn: the server's threads, from /proc/PID/task/*/schedstat): on a shared machine the wall
time mostly measures the wait for a core, the CPU time what the request costs.
Run it with the dev venv's Python (it imports himo).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gen_meta_store
import sqlalchemy as sa
from bench_meta import STORES, Targets, add_store_options, find_targets
from common import (
    CommandError,
    Measure,
    choices_list,
    cpu_model,
    log,
    print_rows,
    run,
    start_facts,
    write_result,
)

TARGET_S = 0.300
DEPTH = 10
DAILY_STAGE = "featurize"  # one execution a day per project in gen_meta_store's daily pipeline


# ---------------------------------------------------------------- stores (bench_meta.STORES)


def rarest_stage(url: str) -> tuple[str, int]:
    """The stage with the fewest executions (the worst case of the runs page's stage filter), and
    how many runs have it."""
    from himo.meta.store import Store

    store = Store(url).open()
    try:
        with store.session() as session:
            stage, runs = session.execute(sa.text(
                "SELECT stage, count(DISTINCT run_id) FROM execution GROUP BY stage "
                "ORDER BY count(*), stage LIMIT 1")).one()
            return stage, runs
    finally:
        store.close()


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    key: str
    label: str
    path: str
    check: Callable[[int, bytes], None]
    target_s: float | None = None


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CommandError(message)


def page_check(rows: int, *texts: str) -> Callable[[int, bytes], None]:
    def check(status: int, body: bytes) -> None:
        text = body.decode()
        expect(status == 200, f"HTTP {status}: {text[:300]}")
        expect(text.count('class="run r-') == rows, f"not {rows} runs on the page")
        for wanted in texts:
            expect(wanted in text, f"{wanted!r} is not on the page")
    return check


def json_check(test: Callable[[object], bool], what: str) -> Callable[[int, bytes], None]:
    def check(status: int, body: bytes) -> None:
        expect(status == 200, f"HTTP {status}: {body[:300]!r}")
        expect(test(json.loads(body)), what)
    return check


def executions_in(doc: object) -> int:
    return sum(1 for n in doc["nodes"] if n["type"] == "execution")  # type: ignore[index]


def requests(targets: Targets, rare: tuple[str, int]) -> list[Request]:
    snapshot = targets.snapshot
    rare_stage, rare_runs = rare
    return [
        Request("runs_page", "runs page (HTML, first page)", "/runs",
                page_check(50, 'id="grid"', "Last 30 days"), TARGET_S),
        Request("runs_page_daily", f"runs page, stage={DAILY_STAGE}", f"/runs?stage={DAILY_STAGE}",
                page_check(50, f">{DAILY_STAGE}</a>"), TARGET_S),
        Request("runs_page_rare", "runs page, the rarest stage", f"/runs?stage={rare_stage}",
                page_check(min(50, rare_runs), f"<option selected>{rare_stage}</option>"), TARGET_S),
        Request("runs_page_none", "runs page, a stage no run has", "/runs?stage=no-such-stage",
                page_check(0, "No run matches."), TARGET_S),
        Request("runs_api", "/api/runs (first page, JSON)", "/api/runs",
                json_check(lambda d: len(d["runs"]) == 50, "not 50 runs")),  # type: ignore[index]
        Request("grid_api", "/api/grid (30 days per stage)", "/api/grid",
                json_check(lambda d: len(d["days"]) == 30 and d["stages"], "no grid")),  # type: ignore[index]
        Request("lineage_api", f"lineage API, {DEPTH}-hop chain upstream",
                f"/api/lineage/{snapshot}?direction=upstream&depth={DEPTH}",
                json_check(lambda d: executions_in(d) >= DEPTH, f"fewer than {DEPTH} executions"), TARGET_S),
        Request("lineage_api_both", f"lineage API, both directions, depth {DEPTH} (the artifact page's)",
                f"/api/lineage/{snapshot}?depth={DEPTH}",
                json_check(lambda d: executions_in(d) >= DEPTH, f"fewer than {DEPTH} executions")),
        Request("artifact_page", "artifact page (HTML; the graph loads from the API)",
                f"/artifacts/{snapshot}",
                lambda status, body: expect(status == 200 and snapshot.encode() in body, f"HTTP {status}")),
    ]


Get = Callable[[str], tuple[int, bytes]]  # path -> (HTTP status, body)
Cpu = Callable[[], float]  # CPU seconds the serving process has used so far


@dataclass
class Client:
    get: Get
    cpu: Cpu


def timed(repeat: int, call: Callable[[], tuple[int, bytes]], check: Callable[[int, bytes], None],
          cpu: Cpu) -> tuple[list[float], list[float]]:
    """Wall and CPU samples of call(), after one untimed (warming) call whose answer check() accepts."""
    check(*call())
    walls, cpus = [], []
    for _ in range(repeat):
        start, used = time.perf_counter(), cpu()
        call()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu() - used)
    return walls, cpus


def threads_cpu(pid: int) -> float:
    """CPU seconds of the process's live threads (uvicorn answers in a pool of worker threads),
    in nanoseconds as Linux counts them (/proc/PID/stat has 10 ms ticks: too coarse per request)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
            continue
    return total / 1e9


@contextmanager
def in_process(url: str, himo: str, workdir: Path) -> Iterator[Client]:
    """GET through the ASGI app in this process (FastAPI's TestClient: httpx, no network);
    `himo` and `workdir` are the served client's."""
    from fastapi.testclient import TestClient

    from himo.meta.store import Store
    from himo.ui.app import create_app

    store = Store(url).open()
    try:
        # the dashboard answers loopback names only (TestClient's default Host is `testserver`)
        with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
            def get(path: str) -> tuple[int, bytes]:
                response = client.get(path)
                return response.status_code, response.content
            yield Client(get, time.process_time)
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(url: str, himo: str, workdir: Path) -> Iterator[Client]:
    """GET from a real `himo ui` (uvicorn) subprocess over one keep-alive loopback connection."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "HIMO_UI_TOKEN"}
    server = subprocess.Popen([himo, "ui", "--meta-url", url, "--port", str(port)], cwd=workdir, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(path: str) -> tuple[int, bytes]:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()

    try:
        wait_serving(server, port)
        yield Client(get, lambda: threads_cpu(server.pid))
    finally:
        conn.close()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_serving(server: subprocess.Popen[str], port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CommandError(f"himo ui exited {server.returncode}: {server.stderr.read()[-500:]}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise CommandError(f"himo ui did not listen on port {port} within {timeout:.0f} s")


CLIENTS = {"in-process": in_process, "uvicorn": served}


# ---------------------------------------------------------------- results


@dataclass
class Row:
    backend: str
    name: str
    via: str
    measure: Measure
    target_s: float | None = None
    cpu: Measure | None = None  # CPU seconds per request of the serving process

    def met(self) -> str:
        if self.target_s is None or self.measure.median is None:
            return ""
        return "yes" if self.measure.median < self.target_s else "NO"

    def cells(self) -> list[str]:
        median = "n/a" if self.measure.median is None else f"{self.measure.median * 1000:.1f} ms"
        cpu = "" if self.cpu is None or self.cpu.median is None else f"{self.cpu.median * 1000:.1f} ms"
        target = f"< {self.target_s * 1000:.0f} ms" if self.target_s else ""
        return [self.backend, self.name, self.via, median, cpu, target, self.met()]

    def as_json(self) -> dict[str, object]:
        cpu = {} if self.cpu is None else {"cpu_median": self.cpu.median, "cpu_samples": self.cpu.samples}
        return {"backend": self.backend, "measurement": self.name, "via": self.via, **self.measure.as_json(),
                **cpu, "target_s": self.target_s, "met": self.met() or None}


def bench_backend(backend: str, opts: argparse.Namespace, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    with STORES[backend](workdir, opts.executions, opts.reuse, label="ui") as (url, fresh):
        if fresh:
            log(f"[{backend}] generating {opts.executions:,} executions ...")
            summary = gen_meta_store.generate(url, opts.executions, seed=opts.seed, progress=True)
            log(f"  {summary.text()}")
        checks = requests(find_targets(url), rarest_stage(url))
        for via in opts.via_list:
            try:
                with CLIENTS[via](url, opts.himo, workdir) as client:
                    rows += [measure_request(backend, via, client, r, opts.repeat) for r in checks]
            except CommandError as exc:
                rows += [Row(backend, r.label, via, Measure(error=str(exc)), r.target_s) for r in checks]
    return rows


def measure_request(backend: str, via: str, client: Client, request: Request,
                    repeat: int) -> Row:
    log(f"[{backend}, {via}] {request.label}")
    cpu = None
    try:
        walls, cpus = timed(repeat, lambda: client.get(request.path), request.check, client.cpu)
        measure, cpu = Measure(samples=walls), Measure(samples=cpus)
    except (CommandError, OSError, ValueError, KeyError) as exc:
        measure = Measure(error=f"{type(exc).__name__}: {exc}")
    row = Row(backend, request.label, via, measure, request.target_s, cpu)
    log(f"  {row.cells()[3]} (CPU {row.cells()[4] or 'n/a'})")
    return row


def uptime() -> str:
    try:
        return run(["uptime"], Path.cwd()).strip()
    except CommandError:
        return "load average: " + " ".join(f"{load:.2f}" for load in os.getloadavg())


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_options(parser, repeat=15, workdir="/tmp/himo-bench-ui")
    parser.add_argument("--via", default="in-process,uvicorn",
                        help="in-process (server time), uvicorn, or both")
    opts = parser.parse_args(argv)
    opts.backend_list = choices_list(parser, "--backends", opts.backends, list(STORES))
    opts.via_list = choices_list(parser, "--via", opts.via, list(CLIENTS))
    if opts.repeat < 1:
        parser.error("--repeat must be at least 1")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = start_facts()
    workdir = opts.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    facts = {"cpu": f"{cpu_model()}, {os.cpu_count()} cores", "python": platform.python_version(),
             "himo": run([opts.himo, "--version"], workdir).strip(), "executions": f"{opts.executions:,}",
             "repeat": str(opts.repeat), "uptime at start": uptime()}
    for key, value in facts.items():
        print(f"{key + ':':16} {value}")
    print(flush=True)
    rows: list[Row] = []
    for backend in opts.backend_list:
        rows += bench_backend(backend, opts, workdir)
    facts["uptime at end"] = uptime()
    print()
    print_rows(["backend", "measurement", "via", "median", "CPU", "target", "met?"],
               [row.cells() for row in rows])
    for row in rows:
        if row.measure.error:
            print(f"{row.backend} {row.name} ({row.via}): n/a: {row.measure.error}")
    print(f"\nuptime at end: {facts['uptime at end']}")
    write_result("ui", workdir, started, {"facts": facts, "rows": [r.as_json() for r in rows]},
                 opts.himo, out=opts.json_out)
    return 1 if any(row.measure.error for row in rows) or any(row.met() == "NO" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
