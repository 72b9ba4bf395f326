"""`himo plots show`, `himo plots diff`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from himo.api.plots.templates import TEMPLATES
from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import echo_dvc_hint, find_repo


def plot_options(fn: Any) -> Any:
    """-o, --open, --json and the properties of plots given as targets, shared by show and diff."""
    for option in reversed([
        click.option("-o", "--out", "out", default="himo_plots", show_default=True, metavar="DIR",
                     help="Folder to write index.html into."),
        click.option("--open", "open_page", is_flag=True, help="Open the page in a web browser."),
        click.option("--json", "as_json", is_flag=True, help="Print the Vega-Lite specs, data inline."),
        click.option("-t", "--template", type=click.Choice(list(TEMPLATES)), help="Template of the plots."),
        click.option("-x", "x", metavar="FIELD", help="Field on the x axis."),
        click.option("-y", "y", metavar="FIELDS", help="Fields on the y axis, comma-separated."),
        click.option("--title", help="Title."),
        click.option("--x-label", help="Label of the x axis."),
        click.option("--y-label", help="Label of the y axis."),
    ]):
        fn = option(fn)
    return fn


@click.group("plots")
@common
def plots_group() -> None:
    """Draw the plots of himo.yaml, or any data file or image, into one HTML file."""


@plots_group.command("show")
@click.argument("targets", nargs=-1)
@plot_options
@common
def plots_show_cmd(targets: tuple[str, ...], out: str, open_page: bool, as_json: bool, **props: Any) -> None:
    """Draw the plots of himo.yaml (or TARGETS: JSON, YAML, CSV, TSV files, images) in the workspace.

    Writes DIR/index.html (default himo_plots/): self-contained, the Vega JavaScript inside it.
    """
    from himo.api.plots import plots_show

    plots = plots_show(find_repo(), list(targets), **props)
    _output(plots, Path(out), open_page, as_json, "workspace")


@plots_group.command("diff")
@click.argument("revs", nargs=-1, metavar="[REV]...")
@click.option("--targets", "targets", multiple=True, metavar="PATH", help="Only these files (repeatable).")
@plot_options
@common
def plots_diff_cmd(revs: tuple[str, ...], targets: tuple[str, ...], out: str, open_page: bool, as_json: bool,
                   **props: Any) -> None:
    """Overlay the plots at git revisions: none given, HEAD and the workspace; one, it and the
    workspace; more, those (`workspace` names it). Cached plot files are read through himo.lock."""
    from himo.api.plots import plots_diff

    plots = plots_diff(find_repo(), list(revs), list(targets), **props)
    _output(plots, Path(out), open_page, as_json, ", ".join(revs or ("HEAD", "workspace")))


def _output(plots: list[Any], out: Path, open_page: bool, as_json: bool, subtitle: str) -> None:
    if as_json:
        OUT.json([p.as_json() for p in plots])
        return
    for missing in (m for p in plots for m in p.missing):
        why = "run `himo repro` to make it" if missing.endswith(" at workspace") else \
            "neither in that commit nor in the cache (`himo gc` may have removed it)"
        click.echo(f"Warning: {missing}: not found ({why})", err=True)
    if not plots:
        if not echo_dvc_hint(find_repo().root):
            OUT.echo("No plots: declare them under `plots:` in himo.yaml, or name data files.")
        return
    from himo.ui.plotpage import write_page

    path = write_page(plots, out, subtitle=subtitle)
    OUT.echo(f"Wrote {path} ({len(plots)} plot{'s' if len(plots) != 1 else ''})")
    if open_page:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
