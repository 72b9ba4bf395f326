"""A 30-stage linear pipeline of tiny stages, DVC and himo side by side.

Scenarios (median of --repeat runs each):
  full_run      first `repro` in a fresh repository (every stage runs)
  noop          `repro` with everything up to date
  param_change  change p.x (read by stage 15) and `repro`: stages 15..30 run
Also: the 30 commands run directly in one shell, to get himo's overhead per executed stage.
Targets: no-op >= 5x faster than DVC and < 0.25 s; overhead per stage < 30 ms; full run >= 3x.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_storage import DEFAULT_DVC_VENV, Tool, make_tools

STAGES = 30
PARAM_STAGE = 15


def command(i: int) -> str:
    extra = " && cat params.yaml >> s15.txt" if i == PARAM_STAGE else ""
    return f"cp s{i - 1}.txt s{i}.txt{extra}"


def pipeline_yaml() -> str:
    lines = ["stages:"]
    for i in range(1, STAGES + 1):
        lines += [f"  s{i}:", f"    cmd: {command(i)}", f"    deps: [s{i - 1}.txt]",
                  f"    outs: [s{i}.txt]"]
        if i == PARAM_STAGE:
            lines.append("    params: [p.x]")
    return "\n".join(lines) + "\n"


def fresh_repo(tool: Tool, root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    repo = tool.init_repo(root)
    (repo / "s0.txt").write_text("seed\n")
    (repo / "params.yaml").write_text("p:\n  x: 0\n")
    (repo / ("dvc.yaml" if tool.name == "dvc" else "himo.yaml")).write_text(pipeline_yaml())
    return repo


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def measure(tool: Tool, work: Path, repeat: int) -> dict[str, float]:
    full, noop, change = [], [], []
    for i in range(repeat):
        repo = fresh_repo(tool, work / f"{tool.name}{i}")
        full.append(timed(tool.run, repo, "repro", "-q"))
        noop.append(timed(tool.run, repo, "repro", "-q"))
        (repo / "params.yaml").write_text(f"p:\n  x: {i + 1}\n")
        change.append(timed(tool.run, repo, "repro", "-q"))
        assert (repo / "s30.txt").read_text().endswith(f"x: {i + 1}\n"), "stage 30 did not re-run"
    samples = {"full_run": full, "noop": noop, "param_change": change}
    return {name: statistics.median(values) for name, values in samples.items()}


def run_commands(repo: Path) -> None:
    for n in range(1, STAGES + 1):
        subprocess.run(["sh", "-c", command(n)], cwd=repo, check=True)


def shell_baseline(work: Path, repeat: int) -> float:
    """The 30 commands themselves, one `sh -c` each, as a stage runner must start them."""
    samples = []
    for i in range(repeat):
        repo = work / f"shell{i}"
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        (repo / "s0.txt").write_text("seed\n")
        (repo / "params.yaml").write_text("p:\n  x: 0\n")
        samples.append(timed(run_commands, repo))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/himo-bench-pipeline"))
    parser.add_argument("--himo", default=str(Path(sys.executable).with_name("himo")))
    parser.add_argument("--dvc", default=str(DEFAULT_DVC_VENV / "bin" / "dvc"))
    parser.add_argument("--json-out", type=Path)
    opts = parser.parse_args()
    tools = make_tools(opts, opts.workdir)
    results = {name: measure(tool, opts.workdir, opts.repeat) for name, tool in tools.items()}
    shell = shell_baseline(opts.workdir, opts.repeat)
    overhead_ms = (results["himo"]["full_run"] - shell) / STAGES * 1000
    print(f"{'scenario':<14}{'dvc s':>9}{'himo s':>9}{'dvc/himo':>10}")
    for scenario in ("full_run", "noop", "param_change"):
        dvc, himo = results["dvc"][scenario], results["himo"][scenario]
        print(f"{scenario:<14}{dvc:>9.3f}{himo:>9.3f}{dvc / himo:>9.1f}x")
    print(f"the 30 commands alone: {shell:.3f} s; himo overhead per executed stage: {overhead_ms:.1f} ms")
    if opts.json_out:
        report = {**results, "shell": shell, "overhead_ms": overhead_ms}
        opts.json_out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
