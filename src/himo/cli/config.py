"""`himo config [--local] [--unset] [--list] KEY [VALUE]`."""

from __future__ import annotations

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import find_repo
from himo.errors import UsageError


@click.command("config")
@click.option("--local", is_flag=True, help="Use .himo/config.local (not in git).")
@click.option("--unset", is_flag=True, help="Remove KEY.")
@click.option("-l", "--list", "list_all", is_flag=True, help="List every set key.")
@click.option("--json", "as_json", is_flag=True, help="With --list: print JSON.")
@click.argument("key", required=False)
@click.argument("value", required=False)
@common
def config_cmd(local: bool, unset: bool, list_all: bool, as_json: bool, key: str | None,
               value: str | None) -> None:
    """Get KEY, set KEY to VALUE, or --unset KEY (keys: core.remote, cache.type, remote.NAME.url...)."""
    from himo.api import config as api

    repo = find_repo()
    if list_all or key is None:
        flat = api.list_config(repo)
        if as_json:
            OUT.json(flat)
        else:
            for name, val in flat.items():
                click.echo(f"{name}={val}")
    elif unset:
        if value is not None:
            raise UsageError("--unset takes a KEY only")
        api.unset_config(repo, key, local)
    elif value is None:
        click.echo(api.get_config(repo, key))
    else:
        api.set_config(repo, key, value, local)
