"""Running the `himo` command inside the test process, as the real process would run it.

`python -m himo ARGS` is `sys.exit(himo.cli.main.run(ARGS))` in a new interpreter. Here the same
`run(ARGS)` is called in this one, with what a new process would have had of its own swapped in
for the call and put back after it: the working directory, the environment, stdin, stdout and
stderr (text over UTF-8 bytes, not terminals: `C.UTF-8` is the suite's locale). What the
command's code keeps in module globals is its own business to reset (himo.cli.main does:
quiet/verbose, notices, the SIGTERM handler); tests/cli/test_main.py checks that both ways give
the same exit code, stdout and stderr, and that one call leaves nothing behind for the next.

A process stays the right tool where its boundary is the point (signals, kill -9, resource limits,
dropped capabilities, start-up imports): `Himo(root, process=True)`, or any subprocess argument
(`preexec_fn=`, `timeout=`), runs `python -m himo`. So does a call made while another runs
in-process (threads of one test running commands at once): a process has a cwd, environment and
streams of its own, and this process has only one of each.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from himo.cli.main import run

_ONE_AT_A_TIME = threading.Lock()


def run_in_process(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None,
                   input: str = "") -> subprocess.CompletedProcess[str] | None:
    """`python -m himo *args` in `cwd` with `env` (default: this process's) and `input` on stdin;
    None if another call is running in-process at this moment (the caller starts a process)."""
    if not _ONE_AT_A_TIME.acquire(blocking=False):
        return None
    stdout, stderr = _text_stream(), _text_stream("backslashreplace")
    try:
        with _environment(env), _working_directory(cwd), _streams(_input_stream(input), stdout, stderr):
            code = _exit_code(list(args))
    finally:
        _ONE_AT_A_TIME.release()
    return subprocess.CompletedProcess([sys.executable, "-m", "himo", *args], code,
                                       _value(stdout), _value(stderr))


def _exit_code(argv: list[str]) -> int:
    """What the interpreter would exit with after `sys.exit(run(argv))`."""
    try:
        return run(argv)
    except SystemExit as exit:  # a command calling sys.exit itself: the interpreter's rules
        if exit.code is None:
            return 0
        if isinstance(exit.code, int):
            return exit.code
        print(exit.code, file=sys.stderr)
        return 1


def _text_stream(errors: str = "strict") -> io.TextIOWrapper:
    # A pipe's stream as Python opens it under C.UTF-8 (stderr escapes what it cannot encode).
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)


def _input_stream(text: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8")


def _value(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    # subprocess.run(text=True) decodes with universal newlines; so do we.
    return buffer.getvalue().decode().replace("\r\n", "\n").replace("\r", "\n")


@contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    """The command sees `env` (or a copy of this process's) and whatever it changes is undone."""
    saved = dict(os.environ)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _working_directory(cwd: Path) -> Iterator[None]:
    saved = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


@contextmanager
def _streams(stdin: io.TextIOWrapper, stdout: io.TextIOWrapper, stderr: io.TextIOWrapper) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
