"""One attempt of a scheduled interval: a clean scratch workspace of the branch head (the isolated
runs of himo.api.isolated, shared with `himo exp`), `himo repro` of the targets there, then push
and export; and the on_success / on_failure hooks.

The attempt never touches the user's workspace. The scratch workspace shares the repository's
cache, run-cache, logs and journal, so what it makes is in the cache afterwards and what it
records reaches the same store, as runs of this repository with trigger `schedule`.
Its commands run in a process group under the stage watchdog (pipeline.executor.start_watched):
a timeout ends the group, and a scheduler killed with -9 takes its attempt with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from himo.api.isolated import isolated_workspace
from himo.api.recording import PARENT
from himo.errors import ScmError
from himo.pipeline.executor import release, signal_group, start_watched
from himo.pipeline.overrides import Override
from himo.pipeline.params import DEFAULT_PARAMS
from himo.pipeline.schedules import Interval, Schedule, context_value
from himo.workspace.repo import Repo

GRACE_SECONDS = 5.0
HOOK_TIMEOUT_S = 60


def scheduler_dir(repo: Repo) -> Path:
    folder = repo.himo_dir / "scheduler"
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".gitignore").write_text("*\n")
    return folder


@dataclass
class AttemptResult:
    status: str  # succeeded | failed
    reason: str  # "" | "timeout" | "exit code N" | "push failed" ...
    log: str  # repository-relative


def branch_head(repo: Repo, branch: str | None) -> str:
    """The commit a schedule runs: its branch's head, or HEAD's."""
    if repo.git is None:
        raise ScmError(
            "schedules run a commit of a git repository, and this one has no git",
            "run `git init` and commit the pipeline",
        )
    return repo.git.resolve(branch or "HEAD")


def overrides(schedule: Schedule, interval: Interval) -> list[Override]:
    """A schedule's `params:` as overrides ('key' of params.yaml, or 'file:key'; new keys allowed),
    `${schedule.*}` in values resolved for the interval."""
    from himo.pipeline.interpolate import resolve

    context = {"schedule": context_value(interval.env(schedule.name))}
    found = []
    for name, value in schedule.params.items():
        file, colon, key = name.rpartition(":")
        found.append(Override(file if colon else DEFAULT_PARAMS, key, resolve(value, context), add=True))
    return found


def attempt_script(schedule: Schedule, interval: Interval) -> str:
    """The commands of one attempt, as one shell script (`set -e`: the first failure ends it)."""
    himo = f"{shlex.quote(sys.executable)} -m himo"
    lines = ["set -e", f"{himo} repro {' '.join(shlex.quote(t) for t in schedule.targets)}".rstrip()]
    if schedule.push:
        remote = f" -r {shlex.quote(schedule.push)}" if isinstance(schedule.push, str) else ""
        lines.append(f"HIMO_RUN_ID= {himo} push -q{remote}")
    from himo.pipeline.interpolate import resolve

    context = {"schedule": context_value(interval.env(schedule.name))}
    for path, dest in schedule.export:
        lines.append(f"HIMO_RUN_ID= {himo} export {shlex.quote(path)} {shlex.quote(resolve(dest, context))}")
    return "\n".join(lines) + "\n"


def run_attempt(
    repo: Repo,
    schedule: Schedule,
    interval: Interval,
    attempt: int,
    run_id: str,
    commit: str,
    on_start: Callable[[int], None] = lambda _: None,
) -> AttemptResult:
    """Run one attempt of `commit` to its end (or its timeout); `on_start(pid)` once its process runs.
    Its `himo repro` records into the run `run_id`, which the caller started and ends."""
    logs = scheduler_dir(repo) / "logs" / schedule.name
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{interval.start.strftime('%Y%m%dT%H%M%S')}-{attempt}.log"
    with (
        isolated_workspace(repo, commit, overrides=overrides(schedule, interval), resolved=True) as ws,
        open(log, "ab") as out,
    ):
        env = _environment(schedule, interval, attempt, run_id)
        proc, leash = start_watched(attempt_script(schedule, interval), ws.repo.root, env, out)
        on_start(proc.pid)
        code, timed_out = _wait(proc, schedule.timeout.total_seconds() if schedule.timeout else None)
        release(leash, ended=proc.poll() is not None)
    if timed_out:
        return AttemptResult("failed", "timeout", repo.rel(log))
    return AttemptResult(
        "succeeded" if code == 0 else "failed", "" if code == 0 else f"exit code {code}", repo.rel(log)
    )


def _environment(schedule: Schedule, interval: Interval, attempt: int, run_id: str) -> dict[str, str]:
    env = dict(os.environ) | interval.env(schedule.name)
    env |= {
        "HIMO_TRIGGER": "schedule",
        "HIMO_SCHEDULE_ATTEMPT": str(attempt),
        "HIMO_RUN_ID": run_id,
        "HIMO_META_DELIVER": PARENT,
    }  # the scheduler delivers after the attempt (its store is open)
    return env


def _wait(proc: subprocess.Popen[bytes], timeout: float | None) -> tuple[int, bool]:
    """The exit code, and whether the timeout ended it (SIGTERM to the group, SIGKILL after a grace)."""
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGTERM)
    try:
        return proc.wait(timeout=GRACE_SECONDS), True
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)
        return proc.wait(), True


def stop_attempt(pid: int) -> None:
    """End an attempt's process group at once (the scheduler itself is stopping)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_hook(repo: Repo, hook: str, payload: dict[str, Any]) -> str | None:
    """Call on_success / on_failure: POST the run's JSON to an http(s) URL, or run a shell command
    (in the repository, HIMO_RUN_JSON and HIMO_RUN_STATUS in its environment). A problem is
    returned as one line, never raised: a broken hook does not change the run's outcome."""
    body = json.dumps(payload, default=str)
    if hook.startswith(("http://", "https://")):
        request = urllib.request.Request(
            hook, data=body.encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            return None
        except OSError as error:
            return f"webhook {hook}: {error}"
    env = dict(os.environ) | {
        "HIMO_RUN_JSON": body,
        "HIMO_RUN_STATUS": payload["status"],
        "HIMO_SCHEDULE": payload["schedule"],
        "HIMO_LOGICAL_DATE": payload["logical_date"],
    }
    started = time.monotonic()
    try:
        proc = subprocess.run(
            hook, shell=True, cwd=repo.root, env=env, timeout=HOOK_TIMEOUT_S, capture_output=True, check=False
        )
    except subprocess.TimeoutExpired:
        return f"hook {hook!r} still ran after {time.monotonic() - started:.0f} s; stopped"
    return None if proc.returncode == 0 else f"hook {hook!r} exited {proc.returncode}"
