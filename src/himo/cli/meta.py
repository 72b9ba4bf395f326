"""`himo meta ...`: the metadata store's own commands (sync, upgrade, export)."""

from __future__ import annotations

from pathlib import Path

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import find_repo


@click.group("meta")
@common
def meta_group() -> None:
    """The metadata store: deliver the journal, migrate, export."""


@meta_group.command("sync")
@click.option("--background", is_flag=True, hidden=True,
              help="Run by other commands: keep a failure to tell the user once, exit 0.")
@common
def sync_cmd(background: bool) -> None:
    """Deliver journaled records to the store (after it was unreachable, say)."""
    from himo.api.recording import quarantine_lines, quarantined_before, store_url, sync
    from himo.meta.store import redact

    repo = find_repo()
    result = sync(repo, background=background)
    if result is not None:
        live = f" ({result.live} from commands still running)" if result.live else ""
        OUT.echo(f"Delivered {result.records} records from {result.files} journal file(s) to "
                 f"{redact(store_url(repo))}{live}")
        if not background:
            for line in quarantine_lines(repo, result) + quarantined_before(repo, result):
                click.echo(f"Warning: {line}", err=True)


@meta_group.command("upgrade")
@common
def upgrade_cmd() -> None:
    """Migrate the store to this himo's schema (done on first use too)."""
    from himo.api.recording import open_store
    from himo.meta.migrate import head

    store = open_store(find_repo(), deliver_pending=False)
    store.close()
    OUT.echo(f"Metadata store {store.name} is at schema version {head()}")


@meta_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["openlineage"]), default="openlineage",
              show_default=True, help="The export format: OpenLineage RunEvents as JSON lines.")
@click.option("--since", metavar="T",
              help="Only executions started at or after T: an ISO date/time (local) or an age (30m, 2h, 7d).")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE (replaced atomically) instead of stdout.")
@common
def export_cmd(fmt: str, since: str | None, output: Path | None) -> None:
    """Export every recorded execution as OpenLineage events (START, then COMPLETE/FAIL/ABORT)."""
    from himo.api.openlineage import export_openlineage

    count = export_openlineage(find_repo(), output or click.get_text_stream("stdout"), since)
    if output is not None:
        OUT.echo(f"Wrote {count} OpenLineage events to {output}")
