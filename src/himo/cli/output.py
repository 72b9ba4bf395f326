"""Printing for the CLI: quiet/verbose, JSON, and Rich progress bars on a terminal."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import click

from himo.progress import Reporter


class Output:
    quiet = False
    verbose = False

    def reset(self) -> None:
        """Back to the defaults, for the next invocation in the same process."""
        self.quiet = self.verbose = False

    def echo(self, message: str = "", err: bool = False) -> None:
        if not self.quiet:
            click.echo(message, err=err)

    def json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))

    def reporter(self) -> Reporter:
        if self.quiet or not sys.stderr.isatty():
            return QuietReporter(self)
        return RichReporter(self)


class QuietReporter(Reporter):
    def __init__(self, out: Output) -> None:
        self.out = out

    def warn(self, message: str) -> None:
        click.echo(f"Warning: {message}", err=True)


class RichReporter(QuietReporter):
    """One Rich progress bar per phase, drawn on stderr."""

    def __init__(self, out: Output) -> None:
        super().__init__(out)
        self._progress: Any = None
        self._task: Any = None
        self._lock = threading.Lock()

    def start(self, description: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.finish()
        if total == 0:
            return
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress.advance(self._task, steps)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


OUT = Output()


class Notices:
    """Warnings that himo's library code logs (the `himo` logger: the metadata store is
    unreachable, journal lines were quarantined, OpenLineage events were not sent), told on stderr
    as `Warning: ...` lines when the command ends, after its output. A server (`himo ui`) tells
    them as they come instead (`deferred = False`): it never ends, and must not keep them.

    Installed when a command runs, not for `himo --version` (logging costs 4 ms to import)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.deferred = True
        self._handler: Any = None

    def start(self) -> None:
        import logging

        if self._handler is not None:
            return
        notices = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                notices.tell_or_keep(f"Warning: {record.getMessage()}")

        self._handler = Handler(logging.WARNING)
        logger = logging.getLogger("himo")
        logger.addHandler(self._handler)
        logger.propagate = False  # told once, here, even when the caller configured the root logger

    def tell_or_keep(self, line: str) -> None:
        if self.deferred:
            self.lines.append(line)
        else:
            click.echo(line, err=True)

    def stop(self) -> None:
        """Tell what was kept, and take the handler away (run() may be called again in-process)."""
        if self._handler is not None:
            import logging

            logger = logging.getLogger("himo")
            logger.removeHandler(self._handler)
            logger.propagate = True
            self._handler = None
        lines, self.lines, self.deferred = self.lines, [], True
        for line in lines:
            click.echo(line, err=True)


NOTICES = Notices()
