"""How long work reports progress; the CLI draws it, library callers may ignore it."""

from __future__ import annotations


class Reporter:
    """No-op progress sink: subclass to draw bars (the CLI uses Rich)."""

    def start(self, description: str, total: int) -> None:
        """A new phase of `total` steps begins."""

    def advance(self, steps: int = 1) -> None:
        """Steps of the current phase are done (called from worker threads)."""

    def finish(self) -> None:
        """The current phase is over."""

    def warn(self, message: str) -> None:
        """Something the user should know that is not an error."""


SILENT = Reporter()
