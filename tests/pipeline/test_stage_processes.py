"""A stage's processes die with himo, however himo dies, and the next repro copes with what the
killed one left. Real himo processes, real stages that fork, real kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Himo, ctrl_c_reaches_it, write

# Each writer records its pid, forks a child that does the same, and both keep adding files to
# the stage's output folder until killed: a stage with children and grandchildren, mid-write.
WRITER = """\
import os, sys, time
pids, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
os.fork()
open(os.path.join(pids, str(os.getpid())), "w").close()
i = 0
while True:
    with open(os.path.join(out, f"{os.getpid()}-{i}.part"), "w") as f:
        f.write("x" * 4096)
    i += 1
    time.sleep(0.005)
"""
WRITERS = 5  # the stage's shell and two writers, each forked once


def slow_pipeline(repo: Path, pids: Path) -> None:
    writer = write(repo / "writer.py", WRITER)
    run = f"{sys.executable} {writer} {pids} out"
    # The shell's pid names its process group, the stage's.
    cmd = f"echo $$ > {pids}/$$; echo $$ > {pids.parent}/group; {run} & {run}; wait"
    write(repo / "himo.yaml", f"stages:\n  slow:\n    cmd: {cmd}\n    outs: [out]\n")


def start_repro(repo: Path) -> subprocess.Popen[bytes]:
    """`himo repro` in a session of its own, as a terminal would start it."""
    return subprocess.Popen([sys.executable, "-m", "himo", "repro"], cwd=repo, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.05)


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that never reaps it is not)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """The running processes of a process group."""
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and (f := _stat(p)) is not None and f[0] != "Z" and int(f[2]) == pgid]


def wait_group_ended(pgid: int) -> None:
    """A stage's process group ends once himo is killed (its watchdog ends it)."""
    wait_until(lambda: not group_members(pgid), f"stage group {pgid} ended", 10)


def stage_pids(pids: Path) -> list[int]:
    return [int(p.name) for p in pids.iterdir()]


def runs(himo: Himo) -> list[tuple[str, list[tuple[str, str]]]]:
    """(status, [(stage, status)]) of each run, oldest first."""
    listed = json.loads(himo("runs", "--json").stdout)
    return [(r["status"], [(e["stage"], e["status"]) for e in r["executions"]]) for r in reversed(listed)]


@pytest.mark.parametrize("kill", ["group", "himo only"])
def test_a_killed_himo_takes_its_stage_along_and_the_next_repro_copes(
        repo: Path, himo: Himo, tmp_path: Path, kill: str):
    pids = tmp_path / "pids"
    pids.mkdir()
    slow_pipeline(repo, pids)
    proc = start_repro(repo)
    wait_until(lambda: len(list(pids.iterdir())) == WRITERS and len(list((repo / "out").iterdir())) > 20,
               "the stage's processes started writing")
    if kill == "group":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    wait_until(lambda: not any(alive(pid) for pid in stage_pids(pids)), "every stage process ended", 10)
    wait_group_ended(int((tmp_path / "group").read_text()))  # the watchdog included

    write(repo / "himo.yaml", "stages:\n  slow:\n    cmd: mkdir out && echo done > out/result\n"
                              "    outs: [out]\n")
    after = himo("repro", ok=False)
    assert (after.returncode, after.stderr) == (0, "")
    assert sorted(p.name for p in (repo / "out").iterdir()) == ["result"]
    assert runs(himo) == [("aborted", [("slow", "aborted")]), ("succeeded", [("slow", "succeeded")])]


def test_the_command_runs_as_before_the_watchdog(repo: Path, himo: Himo):
    """Empty stdin, no extra open file, $0 as `sh -c` gives it; and no watchdog stays behind."""
    write(repo / "himo.yaml", "stages:\n  a:\n    cmd: cat > in.txt && ls /proc/$$/fd > fds.txt"
                              " && echo $0 > zero.txt && echo $$ > pid.txt\n"
                              "    outs: [in.txt, fds.txt, zero.txt, pid.txt]\n")
    himo("repro", input="typed into himo's stdin\n")
    assert (repo / "in.txt").read_text() == ""
    assert "3" not in (repo / "fds.txt").read_text().split()  # the watchdog's pipe is closed
    assert (repo / "zero.txt").read_text() == "/bin/sh\n"
    wait_group_ended(int((repo / "pid.txt").read_text()))  # the watchdog left when told


def test_a_stage_that_ends_normally_keeps_what_it_started_in_the_background(
        repo: Path, himo: Himo, tmp_path: Path):
    """The watchdog kills only when himo dies: a finished stage's detached helper is left alone,
    as before (what a stage that ended leaves running is the stage's business)."""
    write(repo / "himo.yaml", f"stages:\n  a:\n    cmd: echo $$ > {tmp_path}/group && (sleep 60 & echo $! >"
                              f" {tmp_path}/helper) >/dev/null 2>&1 && echo ok > o.txt\n    outs: [o.txt]\n")
    himo("repro")
    helper, group = (int((tmp_path / name).read_text()) for name in ("helper", "group"))
    try:
        # The watchdog is gone once the helper is alone in the group; had it killed, the helper
        # would have died with it (`kill 0` signals the group at once).
        wait_until(lambda: group_members(group) in ([helper], []), "the watchdog left")
        assert group_members(group) == [helper]
    finally:
        os.kill(helper, signal.SIGKILL)


# Keeps adding files to the folder it is given (making it again if it goes), one a millisecond,
# after a first batch that takes a while to delete.
STRAY_WRITER = """\
import os, sys, time
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for i in range(5000):
    open(os.path.join(out, f"first-{i}"), "w").close()
print("writing", flush=True)
i = 0
while True:
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, f"more-{i}"), "w").close()
    i += 1
    time.sleep(0.001)
"""


def test_an_output_that_a_stray_process_still_writes_into_is_a_one_line_error(repo: Path, himo: Himo):
    """A process outside himo's reach (its own session: not the stage's group) keeps writing into
    an output: the output cannot be deleted before the stage runs, and himo says so."""
    write(repo / "himo.yaml", "stages:\n  slow:\n    cmd: mkdir -p out && echo done > out/result\n"
                              "    outs: [out]\n")
    stray = subprocess.Popen([sys.executable, "-c", STRAY_WRITER, str(repo / "out")], stdout=subprocess.PIPE,
                             start_new_session=True)
    try:
        assert stray.stdout is not None and stray.stdout.readline() == b"writing\n"
        failed = himo("repro", ok=False)
    finally:
        stray.kill()
        stray.wait()
    assert failed.returncode == 1
    assert failed.stderr == (
        "Error: stage 'slow': cannot delete its output out before running it: Directory not empty\n"
        "Hint: is a process still writing into it? Stop it, then run `himo repro` again\n")
    assert himo("repro").returncode == 0  # once it is stopped, the stage runs
    assert (repo / "out" / "result").read_text() == "done\n"


def test_ctrl_c_stops_himo_even_if_its_parent_blocked_sigint(repo: Path, tmp_path: Path) -> None:
    """The signal mask is inherited through exec: started from a thread that blocks SIGINT, himo
    used to sit out Ctrl-C (its stage running on). It unblocks SIGINT and SIGTERM as it starts."""
    started = tmp_path / "started"
    write(repo / "himo.yaml", f"stages:\n  slow:\n    cmd: touch {started} && sleep 60\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "himo", "repro"], cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: (ctrl_c_reaches_it(),
                            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})))
    try:
        wait_until(started.exists, "the stage started")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130, proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.kill()  # on a failure: its stage dies with it (the watchdog)
        proc.wait()
