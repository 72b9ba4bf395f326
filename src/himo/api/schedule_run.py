"""One attempt of a scheduled interval: a clean worktree of the branch head, `himo repro` of the
targets there, then push and export; and the on_success / on_failure hooks.

The attempt never touches the user's workspace. Its worktree shares the repository's cache,
run-cache, logs and journal (symlinks into .himo/), so what it makes is in the cache afterwards and
what it records reaches the same store, as runs of this repository with trigger `schedule`.
Its commands run in a process group under the stage watchdog (pipeline.executor.start_watched):
a timeout ends the group, and a scheduler killed with -9 takes its attempt with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from himo.api.recording import PARENT
from himo.errors import HimoError, ScmError
from himo.pipeline.executor import release, signal_group, start_watched
from himo.pipeline.schedules import Interval, Schedule, apply_params, context_value
from himo.workspace.repo import HIMO_DIR, Repo

GRACE_SECONDS = 5.0
SHARED = ("cache", "runs", "logs", "journal")  # .himo/ folders an attempt shares with the repository
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
        raise ScmError("schedules run a commit of a git repository, and this one has no git",
                       "run `git init` and commit the pipeline")
    return repo.git.resolve(branch or "HEAD")


@contextlib.contextmanager
def worktree(repo: Repo, commit: str) -> Iterator[Path]:
    """A clean checkout of `commit` beside the repository's cache, removed afterwards.
    (A minimal scratch workspace; the isolated-run mechanism of `himo exp` may replace it.)"""
    assert repo.git is not None
    path = scheduler_dir(repo) / "worktrees" / uuid.uuid4().hex[:12]
    path.parent.mkdir(parents=True, exist_ok=True)
    repo.git.run("worktree", "add", "--detach", "--force", str(path), commit)
    try:
        _share_himo(repo, path)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(HimoError):
            repo.git.run("worktree", "prune")


def _share_himo(repo: Repo, path: Path) -> None:
    himo = path / HIMO_DIR
    himo.mkdir(exist_ok=True)
    for name in SHARED:
        target = repo.himo_dir / name
        target.mkdir(exist_ok=True)
        if not (himo / name).exists():
            (himo / name).symlink_to(target)
    for name in ("config", "config.local"):  # the workspace's settings (remotes, credentials) win
        if (repo.himo_dir / name).is_file():
            shutil.copyfile(repo.himo_dir / name, himo / name)


def _checkout(root: Path) -> None:
    """The tracked data of the worktree, linked from the shared cache (none tracked: nothing to do)."""
    worktree_repo = Repo(root)
    try:
        if worktree_repo.git is not None and worktree_repo.git.pointer_files(skip=(HIMO_DIR,)):
            from himo.api.checkout import checkout

            checkout(worktree_repo)
    finally:
        worktree_repo.close()


def attempt_script(schedule: Schedule, interval: Interval) -> str:
    """The commands of one attempt, as one shell script (`set -e`: the first failure ends it)."""
    himo = f"{shlex.quote(sys.executable)} -m himo"
    lines = ["set -e", f"{himo} repro {' '.join(shlex.quote(t) for t in schedule.targets)}".rstrip()]
    if schedule.push:
        remote = f" -r {shlex.quote(schedule.push)}" if isinstance(schedule.push, str) else ""
        lines.append(f"HIMO_RUN_ID= {himo} push -q{remote}")
    context = {"schedule": context_value(interval.env(schedule.name))}
    for path, dest in schedule.export:
        from himo.pipeline.interpolate import resolve

        lines.append(f"HIMO_RUN_ID= {himo} export {shlex.quote(path)} {shlex.quote(resolve(dest, context))}")
    return "\n".join(lines) + "\n"


def run_attempt(repo: Repo, identity: str, schedule: Schedule, interval: Interval, attempt: int,
                run_id: str, store_url: str, commit: str,
                on_start: Callable[[int], None] = lambda _: None) -> AttemptResult:
    """Run one attempt of `commit` to its end (or its timeout); `on_start(pid)` once its process runs.
    Its `himo repro` records into the run `run_id`, which the caller started and ends."""
    logs = scheduler_dir(repo) / "logs" / schedule.name
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{interval.start.strftime('%Y%m%dT%H%M%S')}-{attempt}.log"
    with worktree(repo, commit) as root, open(log, "ab") as out:
        _checkout(root)
        if schedule.params:
            apply_params(root, schedule.params)
        env = _environment(identity, schedule, interval, attempt, run_id, store_url)
        proc, leash = start_watched(attempt_script(schedule, interval), root, env, out)
        on_start(proc.pid)
        code, timed_out = _wait(proc, schedule.timeout.total_seconds() if schedule.timeout else None)
        release(leash, ended=proc.poll() is not None)
    if timed_out:
        return AttemptResult("failed", "timeout", repo.rel(log))
    return AttemptResult("succeeded" if code == 0 else "failed", "" if code == 0 else f"exit code {code}",
                         repo.rel(log))


def _environment(identity: str, schedule: Schedule, interval: Interval, attempt: int, run_id: str,
                 store_url: str) -> dict[str, str]:
    env = dict(os.environ) | interval.env(schedule.name)
    env |= {"HIMO_TRIGGER": "schedule", "HIMO_SCHEDULE_ATTEMPT": str(attempt), "HIMO_RUN_ID": run_id,
            "HIMO_REPO_ID": identity, "HIMO_META_URL": store_url,
            "HIMO_META_DELIVER": PARENT}  # the scheduler delivers after the attempt (its store is open)
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
        request = urllib.request.Request(hook, data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            return None
        except OSError as error:
            return f"webhook {hook}: {error}"
    env = dict(os.environ) | {"HIMO_RUN_JSON": body, "HIMO_RUN_STATUS": payload["status"],
                              "HIMO_SCHEDULE": payload["schedule"], "HIMO_LOGICAL_DATE": payload["logical_date"]}
    started = time.monotonic()
    try:
        proc = subprocess.run(hook, shell=True, cwd=repo.root, env=env, timeout=HOOK_TIMEOUT_S,
                              capture_output=True, check=False)
    except subprocess.TimeoutExpired:
        return f"hook {hook!r} still ran after {time.monotonic() - started:.0f} s; stopped"
    return None if proc.returncode == 0 else f"hook {hook!r} exited {proc.returncode}"
