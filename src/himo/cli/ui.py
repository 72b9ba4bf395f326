"""`himo ui`: the dashboard over the metadata store."""

from __future__ import annotations

import click

from himo.cli.main import common
from himo.cli.output import NOTICES, OUT


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but loopback needs a token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option("--meta-url", default=None, metavar="URL",
              help="Store to show (default: the repository's, meta.url or .himo/meta.db).")
@click.option("--token", default=None, metavar="TOKEN",
              help="Require this token (default: $HIMO_UI_TOKEN; needed off loopback).")
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option("--allowed-host", "allowed", multiple=True, metavar="NAME[:PORT]",
              help="Also answer requests for this host name (a DNS name or proxy in front); repeatable.")
@click.option("--scheduler", "with_scheduler", is_flag=True,
              help="Also run the repository's schedules (as `himo scheduler`) while serving.")
@common
def ui_cmd(host: str, port: int, meta_url: str | None, token: str | None, open_browser: bool,
           allowed: tuple[str, ...], with_scheduler: bool) -> None:
    """Serve the read-only dashboard: runs, pipeline, lineage, releases, metrics, schedules."""
    from himo.ui.server import serve

    NOTICES.deferred = False  # a server never ends: tell warnings as they come, keep none
    stop = None
    if with_scheduler:
        from himo.api.scheduler import in_background
        from himo.cli.repo import find_repo

        stop = in_background(find_repo(), echo=OUT.echo)
        OUT.echo("Scheduler running in the dashboard's process")
    try:
        serve(host, port, meta_url, token, open_browser, announce=OUT.echo, allowed=allowed)
    finally:
        if stop is not None:
            stop.set()
