"""`himo demo [DIR]`."""

from __future__ import annotations

from pathlib import Path

import click

from himo.cli.main import common
from himo.cli.output import OUT


@click.command("demo")
@click.argument("directory", required=False, default="himo-demo", type=click.Path(path_type=Path))
@common
def demo_cmd(directory: Path) -> None:
    """Create a small ML project in DIRECTORY (default ./himo-demo) and run its pipeline twice."""
    from himo.api.demo import run_demo

    run_demo(directory, OUT.echo)
