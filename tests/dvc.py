"""The real DVC 3 for tests, from the virtualenv scripts/test-setup.sh makes (never installed here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

DVC_VERSION = "3.67.1"
VENV = Path(os.environ.get("HIMO_TEST_DVC_VENV") or Path.home() / ".cache/himo-test" / f"dvc-{DVC_VERSION}")


def dvc_binary() -> Path:
    """The venv's `dvc`; the test fails (never skips) naming the script that installs it."""
    binary = VENV / "bin" / "dvc"
    if not binary.is_file():
        pytest.fail(f"DVC {DVC_VERSION} is not installed at {VENV}: run `bash scripts/test-setup.sh`",
                    pytrace=False)
    return binary


def dvc(cwd: Path, *args: str) -> str:
    """Run the real DVC in `cwd` (analytics off, its site cache inside the test's folder)."""
    return DvcRun(cwd, *args).output()


class DvcRun:
    """The real DVC started in `cwd`, running while the test goes on; `output()` waits for it."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(cwd.parent / ".dvc-site"),
                   DVC_GLOBAL_CONFIG_DIR=str(cwd.parent / ".dvc-global"),
                   DVC_SYSTEM_CONFIG_DIR=str(cwd.parent / ".dvc-system"))
        self.args = args
        self.proc = subprocess.Popen([str(dvc_binary()), *args], cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)

    def output(self) -> str:
        """Its stdout, once it ended; AssertionError with its output if it failed."""
        stdout, stderr = self.proc.communicate()
        if self.proc.returncode != 0:
            command = " ".join(self.args)
            raise AssertionError(f"dvc {command} exited {self.proc.returncode}:\n{stdout}\n{stderr}")
        return stdout

    def __enter__(self) -> DvcRun:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:  # the test failed before waiting for it: stop it, by its pid
            self.proc.kill()
            self.proc.communicate()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


# What any command (even a refused one) changes: its lock, the stat cache, its record in the store.
VOLATILE = (".himo/lock", ".himo/state.db", ".himo/meta.db", ".himo/journal")


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file and link below root (not .git, not VOLATILE), for `nothing was written` checks."""
    found: dict[str, bytes | str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if rel.startswith(VOLATILE):
                continue
            found[rel] = os.readlink(path) if path.is_symlink() else path.read_bytes()
    return found
