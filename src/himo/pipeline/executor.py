"""Running a stage's commands: streamed to the terminal, kept in a log, stoppable as a group,
and never outliving himo.

Each command runs in a session of its own (so that Ctrl-C reaches himo first, and `stop()` can end
the command with its children). That also means nothing ends it when himo dies without running
`stop()` (kill -9, a crash, the OOM killer): hence a watchdog in the command's process group. The
command's shell first starts a subshell that blocks reading a pipe only himo writes to, then
runs the command. When the command ends, himo writes a line and the watchdog exits; when himo
dies, the kernel closes himo's end, the watchdog reads end-of-file and kills its whole group:
the command, its children and grandchildren. PR_SET_PDEATHSIG would reach only the direct child
(the shell), and only on Linux; a pipe and `kill 0` work wherever there is a POSIX shell.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from himo.model.stage import Stage

GRACE_SECONDS = 5.0
TAIL_LINES = 50  # of a stage's log, kept in the metadata store
TAIL_BYTES = 16 * 1024  # ... at most, however long its lines
STAGE_SITE = Path(__file__).parent / "stage_site"  # sitecustomize.py for stages' Python processes
SHELL = "/bin/sh"  # what `subprocess.Popen(shell=True)` runs commands with
# Run as `sh -c GUARDED himo-stage CMD` with the watchdog pipe's read end as stdin. The pipe moves
# to fd 3 (stdin becomes /dev/null, as before); the background subshell's output goes to
# /dev/null so that it never holds the log pipe open; `read` fails only at end-of-file, that is
# when himo died, and `kill 0` signals the caller's process group: the stage's.
GUARDED = (
    "exec 3<&0 </dev/null\n"
    "(read -r line <&3 || kill -s KILL 0) >/dev/null 2>&1 &\n"
    "exec 3<&-\n"
    f'exec {SHELL} -c "$1"\n'
)


class Executor:
    """Runs commands locally; `stop()` ends every running process group."""

    name = "local"

    def __init__(self, root: Path, echo: Callable[[str], None]) -> None:
        self.root = root
        self.echo = echo
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self.stopping = False

    def run(self, stage: Stage, log_path: Path, prefix: str = "") -> int:
        """Run the stage's commands in order; the first non-zero exit code, or 0."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            for cmd in stage.cmd:
                if self.stopping:
                    return 130
                self.echo(f"{prefix}$ {cmd}")
                log.write(f"$ {cmd}\n".encode())
                code = self._run_one(cmd, self.root / stage.wdir, log, prefix, stage_env(self.root, stage))
                if code != 0:
                    log.write(f"exit code {code}\n".encode())
                    return code
        return 0

    def _run_one(self, cmd: str, cwd: Path, log, prefix: str,  # type: ignore[no-untyped-def]
                 env: dict[str, str] | None = None) -> int:
        with self._lock:  # stop() either sees this process or prevents it from starting
            if self.stopping:
                return 130
            try:
                proc, leash = start_watched(cmd, cwd, env)
            except OSError as exc:  # e.g. a wdir that an upstream stage was to create
                message = f"cannot start the command in {cwd}: {exc.strerror}"
                log.write(f"{message}\n".encode())
                self.echo(prefix + message)
                return 127
            self._running[proc.pid] = proc
        try:
            assert proc.stdout is not None
            for line in iter(proc.stdout.readline, b""):
                log.write(line)
                log.flush()
                self.echo(prefix + line.decode(errors="replace").rstrip("\n"))
            return proc.wait()
        finally:
            release(leash, ended=proc.poll() is not None)
            with self._lock:
                self._running.pop(proc.pid, None)

    def stop(self) -> None:
        """Ctrl-C / SIGTERM: end every running command (and its children)."""
        with self._lock:
            self.stopping = True
            procs = list(self._running.values())
        for proc in procs:
            signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGKILL)


def stage_env(root: Path, stage: Stage) -> dict[str, str]:
    """The environment of a stage's commands: himo's, and DVC_STAGE (the stage) as `dvc repro`
    sets it. In a DVC project (`.dvc/` kept, say after `himo migrate dvc`) also DVC_ROOT, as `dvc
    repro` sets it: dvclive then knows it runs inside a pipeline and saves no experiment. Without
    one, DVC_ROOT would make dvclive write into ROOT/.dvc/tmp: Python processes load
    stage_site/sitecustomize.py instead, which keeps dvclive away from DVC (no `dvc init`, no
    experiment, no dvc.yaml)."""
    env = {**os.environ, "DVC_STAGE": stage.name}
    if (root / ".dvc").is_dir():
        env["DVC_ROOT"] = str(root)
    else:
        env.pop("DVC_ROOT", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STAGE_SITE), env.get("PYTHONPATH")]))
    return env


def start_watched(cmd: str, cwd: Path, env: dict[str, str] | None = None,
                  stdout: Any = subprocess.PIPE) -> tuple[subprocess.Popen[bytes], int]:
    """Start `cmd` in a session of its own, under its watchdog; the process, and the write end of
    the watchdog's pipe (its leash: closing it unsaid kills the command's group). Also how a
    scheduler runs its attempts (himo.api.schedule_run): they die with it."""
    watched, leash = os.pipe()  # not inherited: no other child of himo holds the leash
    try:
        return subprocess.Popen(
            [SHELL, "-c", GUARDED, "himo-stage", cmd], cwd=cwd, stdout=stdout,
            stderr=subprocess.STDOUT, stdin=watched, start_new_session=True, env=env,
        ), leash
    except BaseException:
        os.close(leash)
        raise
    finally:
        os.close(watched)


def release(leash: int, ended: bool) -> None:
    """Let the watchdog go: quietly if the command ended, else (himo failed while reading its
    output) by closing the pipe unsaid, so that the watchdog ends what is still running."""
    try:
        if ended:
            os.write(leash, b"\n")
    except BrokenPipeError:  # the watchdog is gone already: `stop()` ended the group
        pass
    finally:
        os.close(leash)


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: Path, lines: int = TAIL_LINES, limit: int = TAIL_BYTES) -> str | None:
    """The last `lines` lines of a log, at most `limit` bytes, read from its end (a long log costs
    no more than a short one); None if it cannot be read."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return None
    if size > limit:  # the first line read is cut: drop it, unless it is the only one
        data = data.split(b"\n", 1)[-1] if b"\n" in data[:-1] else data
    text = data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")  # PostgreSQL text holds no NUL
    return "".join(text.splitlines(keepends=True)[-lines:])
