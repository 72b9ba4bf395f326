"""What the himo-vs-DVC benchmarks share: running and timing commands, the two tools,
measures with their medians, the results table and the machine facts.

Standard library only. The benchmark scripts import it as `common` (their own folder is
first on sys.path when they run as scripts).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DVC_VENV = Path(os.environ.get("HIMO_BENCH_DVC_VENV", "/tmp/himo-bench-dvc-venv"))
RESULTS = Path(__file__).resolve().with_name("results")  # committed: benchmarks/report.py reads them
FORMAT = 1  # of a result file; benchmarks/report.py refuses others


# ---------------------------------------------------------------- running commands


class CommandError(Exception):
    """A command failed; the message names it and ends with the last line of its stderr."""


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run(cmd: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run cmd in cwd and return its stdout; raise CommandError if it fails."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
    except OSError as exc:
        raise CommandError(f"{cmd[0]}: {exc.strerror}") from exc
    if proc.returncode != 0:
        name = " ".join([Path(cmd[0]).name, *cmd[1:3]])
        raise CommandError(
            f"`{name}` exit {proc.returncode}: {last_line(proc.stderr + proc.stdout)}"
        )
    return proc.stdout


def time_runs(
    cmd: Sequence[str],
    repeat: int,
    prepare: Callable[[int], Path],
    after: Callable[[Path], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[float]:
    """Time cmd `repeat` times, each in the dir prepare(i) readies; after(dir) checks or undoes.

    Only the command is timed; dirty pages are flushed before the clock starts.
    """
    samples = []
    for i in range(repeat):
        cwd = prepare(i)
        os.sync()
        start = time.perf_counter()
        run(cmd, cwd, env)
        samples.append(time.perf_counter() - start)
        wait_for_background_delivery()
        if after is not None:
            after(cwd)
    return samples


def wait_for_background_delivery(timeout: float = 120) -> None:
    """Untimed: until no background `himo meta sync` (started by a recording himo command to
    deliver its metadata records) is running, so it never overlaps the next timed command.
    Its own cost is measured by bench_meta.py."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for proc in Path("/proc").iterdir():
            try:
                busy = proc.name.isdigit() and b"meta\0sync\0--background" in (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if busy:
                break
        if not busy:
            return
        time.sleep(0.05)
    raise CommandError(f"a background `himo meta sync` still ran after {timeout:.0f} s")


def remove(path: Path) -> None:
    """Delete a file, link or tree; nothing to do if it is not there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def choices_list(parser: argparse.ArgumentParser, flag: str, value: str, known: Sequence[str]) -> list[str]:
    """A comma-separated option as a list, each item one of `known` (else a usage error)."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if unknown := set(items) - set(known):
        parser.error(f"{flag}: unknown {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return items


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the tools


@dataclass(frozen=True)
class Tool:
    name: str
    exe: str
    meta: str  # the tool's dir in a repo: .dvc or .himo
    env: Mapping[str, str]

    def cmd(self, *args: str) -> list[str]:
        return [self.exe, *args]

    def run(self, cwd: Path, *args: str) -> str:
        return run(self.cmd(*args), cwd, self.env)

    def time(
        self,
        repeat: int,
        args: Sequence[str],
        prepare: Callable[[int], Path],
        after: Callable[[Path], None] | None = None,
    ) -> list[float]:
        return time_runs(self.cmd(*args), repeat, prepare, after, self.env)

    def init_repo(self, path: Path) -> Path:
        path.mkdir(parents=True)
        run(["git", "init", "-q"], path)
        self.run(path, "init", "-q")
        return path

    def version(self, cwd: Path) -> str:
        try:
            return last_line(self.run(cwd, "--version"))
        except CommandError as exc:
            return f"n/a ({exc})"


def make_tools(opts: argparse.Namespace, run_dir: Path) -> dict[str, Tool]:
    """DVC (opts.dvc) and himo (opts.himo), in that order."""
    dvc_env = os.environ | {
        "DVC_NO_ANALYTICS": "1",  # no report daemon after each command
        "DVC_SITE_CACHE_DIR": str(run_dir / "dvc-site-cache"),  # state db, wiped with the run
    }
    return {
        "dvc": Tool("dvc", opts.dvc, ".dvc", dvc_env),
        "himo": Tool("himo", opts.himo, ".himo", dict(os.environ)),
    }


# ---------------------------------------------------------------- results


@dataclass
class Measure:
    samples: list[float] = field(default_factory=list)
    error: str | None = None  # no samples and no error: the tool was not run

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.error else None

    def cell(self) -> str:
        if self.error:
            return "n/a"
        return "-" if self.median is None else f"{self.median:.3f}"

    def as_json(self) -> dict[str, object]:
        return {"median": self.median, "samples": self.samples, "error": self.error}


def measure(what: Callable[[], list[float]]) -> Measure:
    try:
        return Measure(samples=what())
    except (CommandError, OSError) as exc:
        return Measure(error=str(exc))


def print_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    rows = [header, *rows]
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def fs_type(path: Path) -> str:
    try:
        return run(["df", "-PT", str(path)], path).splitlines()[-1].split()[1]
    except (CommandError, IndexError):
        return "unknown"


def machine_facts(workdir: Path, tools: Mapping[str, Tool]) -> dict[str, str]:
    return {
        "cores": str(os.cpu_count()),
        "filesystem": fs_type(workdir),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{f"{name} version": tool.version(workdir) for name, tool in tools.items()},
    }


# ---------------------------------------------------------------- result files


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def load_average() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def machine(workdir: Path) -> dict[str, object]:
    """What the numbers depend on, recorded with every result."""
    return {"cores": os.cpu_count(), "ram_bytes": ram_bytes(), "cpu_model": cpu_model(),
            "platform": platform.platform(), "filesystem": fs_type(workdir)}


def tool_version(exe: str | None, cwd: Path) -> str | None:
    if exe is None:
        return None
    try:
        return last_line(run([exe, "--version"], cwd)).removeprefix("himo ")
    except CommandError:
        return None


def write_result(bench: str, workdir: Path, started: dict[str, object], body: dict[str, object],
                 himo: str | None, dvc: str | None = None, out: Path | None = None) -> Path:
    """Write one run's result (machine, versions, load at start and end, every sample) to `out`,
    by default benchmarks/results/<bench>-<date>.json, which benchmarks/report.py turns into
    the tables of docs/benchmarks.md. `started` is what start_facts() returned."""
    doc = {
        "format": FORMAT,
        "bench": bench,
        "date": started["date"],
        "started_at": started["started_at"],
        "machine": machine(workdir),
        "versions": {"python": platform.python_version(), "himo": tool_version(himo, workdir),
                     "dvc": tool_version(dvc, workdir)},
        "load_average": {"start": started["load"], "end": load_average()},
        **body,
    }
    path = out or RESULTS / f"{bench}-{doc['date']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    log(f"result written to {path}")
    return path


def start_facts() -> dict[str, object]:
    """Taken when a benchmark starts: its date and the load average then."""
    now = datetime.datetime.now(datetime.UTC)
    return {"date": now.date().isoformat(), "started_at": now.isoformat(timespec="seconds"),
            "load": load_average()}
