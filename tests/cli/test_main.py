"""The `himo` entry point: version, help, usage errors, -q / -v, and errors outside a repository."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from himo.cli.main import COMMANDS
from tests.api.helpers import assert_error
from tests.conftest import Himo, write

HEAVY = ("rich", "yaml", "fsspec", "s3fs", "blake3", "pathspec", "sqlite3", "himo.api")


def test_version(tmp_path: Path) -> None:
    for flag in ("--version", "-V"):
        proc = Himo(tmp_path)(flag)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "himo 0.1.0\n", "")


def test_version_and_help_import_no_heavy_module() -> None:
    code = (
        "import sys; from himo.cli.main import run\n"
        "for args in (['--version'], ['--help']):\n"
        "    assert run(args) == 0\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"


def test_help_lists_every_command(tmp_path: Path) -> None:
    proc = Himo(tmp_path)("--help")
    assert proc.stdout.startswith("Usage: himo [OPTIONS] COMMAND [ARGS]...")
    commands = proc.stdout.split("Commands:\n")[1].splitlines()
    assert [line.split()[0] for line in commands] == list(COMMANDS)
    for name, (_, summary) in COMMANDS.items():
        assert f"  {name.ljust(10)} {summary}" in commands


def test_help_of_a_command(repo: Path, himo: Himo) -> None:
    proc = himo("add", "--help")
    assert proc.stdout.startswith("Usage: himo add [OPTIONS] PATHS...")
    assert "Track PATHS by content" in proc.stdout
    for option in ("-j, --jobs", "-q, --quiet", "-v, --verbose"):
        assert option in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "Error: No such command 'nosuch'."),
        (["add", "--bogus", "x"], "Error: No such option '--bogus'."),
        (["add"], "Error: Missing argument 'PATHS...'."),
        (["status", "-j", "0"], "Error: Invalid value for '-j' / '--jobs': 0 is not in the range x>=1."),
        (["config", "--unset", "core.jobs", "8"], "Error: --unset takes a KEY only"),
    ],
)
def test_usage_errors_exit_2(himo: Himo, args: list[str], message: str) -> None:
    proc = himo(*args, ok=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr


def test_quiet_silences_output_but_not_errors(repo: Path, himo: Himo) -> None:
    write(repo / "a.txt", "a\n")
    write(repo / "b.txt", "b\n")
    assert himo("-q", "add", "a.txt").stdout == ""
    assert himo("add", "-q", "b.txt").stdout == ""
    assert (repo / "a.txt.himo").exists() and (repo / "b.txt.himo").exists()
    (repo / "a.txt").unlink()
    assert himo("checkout", "--quiet").stdout == ""
    assert (repo / "a.txt").exists()
    assert himo("status", "-q").stdout == ""
    proc = himo("-q", "add", "missing.txt", ok=False)
    assert_error(proc, "missing.txt: no such file or directory")


def test_verbose_error_shows_the_traceback(repo: Path, himo: Himo) -> None:
    quiet = himo("add", "missing.txt", ok=False)
    assert quiet.stderr == "Error: missing.txt: no such file or directory\n"
    for args in (["-v", "add", "missing.txt"], ["add", "-v", "missing.txt"]):
        proc = himo(*args, ok=False)
        assert proc.returncode == 1
        assert proc.stderr.startswith("Traceback (most recent call last):")
        assert "himo.errors.PathError: missing.txt: no such file or directory" in proc.stderr
        assert proc.stderr.splitlines()[-1] == "Error: missing.txt: no such file or directory"


@pytest.mark.parametrize("args", [["status"], ["add", "x"], ["checkout"], ["config", "--list"]])
def test_outside_a_repository(tmp_path: Path, args: list[str]) -> None:
    proc = Himo(tmp_path)(*args, ok=False)
    assert_error(proc, f"not a himo repository (no .himo/ in {tmp_path} or any parent)")
    assert proc.stderr.splitlines()[1] == "Hint: run `himo init` at the root of your git repository"


def test_commands_work_from_a_subfolder(repo: Path, himo: Himo) -> None:
    sub = repo / "data" / "raw"
    write(sub / "x.csv", "x\n")
    himo("add", "x.csv", cwd=sub)
    assert (sub / "x.csv.himo").exists()
    assert (sub / ".gitignore").read_text() == "/x.csv\n"
    (sub / "x.csv").unlink()
    assert himo("checkout", "x.csv", cwd=sub).stdout == "Restored data/raw/x.csv (1 written, 0 removed)\n"
    assert himo("status", cwd=repo / "data").stdout == "Everything is up to date.\n"


def test_python_m_himo_and_console_script_agree(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("himo")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "himo 0.1.0\n")


@pytest.mark.parametrize("args", [
    ["--version"], ["--help"], ["nosuch"], ["add", "--bogus", "x"], ["add", "missing.txt"],
    ["-v", "add", "missing.txt"], ["add", "data.csv"], ["-q", "add", "data.csv"], ["status"],
    ["config", "core.jobs", "0"], ["remote", "default"], ["runs", "--json"],
])
def test_in_process_runs_are_the_real_process(repo: Path, args: list[str]) -> None:
    """The suite runs himo in-process (tests/inprocess.py): same exit code, stdout and stderr as
    `python -m himo`, on success, usage errors, user errors and -v tracebacks."""
    write(repo / "data.csv", "a,b\n1,2\n")
    in_process = Himo(repo)(*args, ok=False)
    shutil.rmtree(repo / ".himo" / "journal", ignore_errors=True)
    (repo / "data.csv.himo").unlink(missing_ok=True)
    real = Himo(repo, process=True)(*args, ok=False)
    assert (in_process.returncode, in_process.stdout, in_process.stderr) == \
        (real.returncode, real.stdout, real.stderr)


def test_run_leaves_nothing_behind_for_the_next_call(repo: Path) -> None:
    """`run()` called twice in one process (a script, a notebook, the suite): -q of the first does
    not silence the second, and the SIGTERM handler is the caller's again after each."""
    before = signal.getsignal(signal.SIGTERM)
    write(repo / "data.csv", "a\n")
    Himo(repo)("-q", "add", "data.csv")
    assert signal.getsignal(signal.SIGTERM) is before
    assert Himo(repo)("status").stdout == "Everything is up to date.\n"
    assert Himo(repo)("-v", "status").stdout == "Everything is up to date.\n"
    assert "Traceback" not in Himo(repo)("add", "missing.txt", ok=False).stderr  # -v did not stick


def test_run_in_a_worker_thread_leaves_signals_alone(repo: Path) -> None:
    """Only the main thread may set signal handlers: run() from another thread still works."""
    results: list[subprocess.CompletedProcess[str]] = []
    worker = threading.Thread(target=lambda: results.append(Himo(repo)("--version")))
    worker.start()
    worker.join()
    assert [(r.returncode, r.stdout) for r in results] == [(0, "himo 0.1.0\n")]


def test_commands_run_at_once_from_threads_each_get_their_own_folder(make_repo: Callable[..., Path]) -> None:
    """One process has one cwd and one stdout: a call made while another runs in-process gets a
    process of its own (tests/inprocess.py), so threads of a test may run commands at once."""
    roots = [make_repo(f"r{i}") for i in range(3)]
    for root in roots:
        write(root / f"{root.name}.csv", "x\n")
    start = threading.Barrier(len(roots), timeout=30)
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def add(root: Path) -> None:
        start.wait()
        results[root.name] = Himo(root)("add", f"{root.name}.csv")

    threads = [threading.Thread(target=add, args=(root,)) for root in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["r0", "r1", "r2"]
    for root in roots:
        assert (root / f"{root.name}.csv.himo").is_file()
        assert results[root.name].stdout.startswith(f"Recorded {root.name}.csv (2 bytes, ")


def test_commands_close_the_databases_they_opened(repo: Path) -> None:
    """run() called again and again in one process keeps no database of the repository open
    between commands (an unclosed sqlite3 connection is freed only by the cycle collector, kept
    off here): neither the stat cache nor the metadata store."""
    write(repo / "a.txt", "a\n")
    write(repo / "himo.yaml",
          "stages:\n  copy:\n    cmd: cp a.txt b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n")
    gc.disable()
    try:
        for args in (["add", "a.txt"], ["status"], ["checkout"], ["commit", "a.txt"], ["repro"],
                     ["meta", "upgrade"], ["meta", "sync"], ["runs"]):
            Himo(repo)(*args)
            assert [fd for fd in open_files() if fd.startswith(str(repo / ".himo"))] == [], args
    finally:
        gc.enable()


def open_files() -> list[str]:
    """What this process's file descriptors point to."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed meanwhile
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
    return targets
