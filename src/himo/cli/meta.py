"""`himo meta ...`: the metadata store's own commands (sync, upgrade, export)."""

from __future__ import annotations

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.workspace.repo import Repo


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
    from himo.api.recording import store_url, sync
    from himo.meta.store import redact

    result = sync(Repo.find(), background=background)
    if result is not None:
        live = f" ({result.live} from commands still running)" if result.live else ""
        OUT.echo(f"Delivered {result.records} records from {result.files} journal file(s) to "
                 f"{redact(store_url(Repo.find()))}{live}")


@meta_group.command("upgrade")
@common
def upgrade_cmd() -> None:
    """Migrate the store to this himo's schema (done on first use too)."""
    from himo.api.recording import open_store
    from himo.meta.migrate import head

    store = open_store(Repo.find(), deliver_pending=False)
    OUT.echo(f"Metadata store {store.name} is at schema version {head()}")
