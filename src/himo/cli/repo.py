"""The repository a command works in, closed when the command ends."""

from __future__ import annotations

from pathlib import Path

import click

from himo.workspace.repo import Repo


def find_repo() -> Repo:
    """Repo.find(), closed (its stat cache's database) when the running command's context closes:
    a process ends with its command, but `run()` called again in one process (a script, the tests)
    would otherwise keep one connection open per command until the garbage collector finds it."""
    repo = Repo.find()
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(repo.close)
    return repo


def echo_dvc_hint(root: Path) -> bool:
    """Print the take-over hint when DVC keeps something at `root` himo has not taken over yet
    (for commands that found nothing of himo's); whether it did."""
    from himo.cli.output import OUT
    from himo.workspace.dvc import take_over_hint

    hint = take_over_hint(root)
    if hint is not None:
        OUT.echo(hint)
    return hint is not None
