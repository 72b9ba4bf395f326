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
    """Create a small scikit-learn project in DIRECTORY and run it: the quickest tour.

    DIRECTORY (default ./himo-demo) must be new or empty. It becomes a git repository with data
    tracked by himo and a five-stage pipeline, which is run, run again after a parameter change,
    and pushed to a folder remote; the model is released to production (with git tags) and the
    predictions exported; then what ran and what made the model are read back from the metadata
    store. Needs scikit-learn and numpy: pip install 'himo[demo]'.
    """
    from himo.api.demo import run_demo

    run_demo(directory, OUT.echo)
