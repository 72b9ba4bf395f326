"""Remote commands: remote add/list/remove/modify/default, push, fetch, pull."""

from __future__ import annotations

import click

from himo.cli.data import jobs_option
from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import find_repo

remote_option = click.option("-r", "--remote", help="Remote name (default: core.remote).")


@click.group("remote")
@common
def remote_group() -> None:
    """Manage remotes (stored in .himo/config; credentials in .himo/config.local)."""


@remote_group.command("add")
@click.option("-d", "--default", "default", is_flag=True, help="Make it the default remote.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing remote of that name.")
@click.option("--local", is_flag=True,
              help="Write to .himo/config.local (not in git): for a URL with a password.")
@click.argument("name")
@click.argument("url")
@common
def remote_add(default: bool, force: bool, local: bool, name: str, url: str) -> None:
    """Add remote NAME at URL (a folder, s3://bucket/path, gs://, azure://, ssh://)."""
    from himo.api.config import add_remote
    from himo.model.urls import mask_url

    add_remote(find_repo(), name, url, default, force, local)
    where = " in .himo/config.local" if local else ""
    OUT.echo(f"Added remote {name} -> {mask_url(url)}{where}" + (" (default)" if default else ""))


@remote_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def remote_list(as_json: bool) -> None:
    """List remotes; the default is marked with *."""
    from himo.api.config import list_remotes

    remotes = list_remotes(find_repo())
    if as_json:
        OUT.json(remotes)
        return
    for r in remotes:
        click.echo(f"{'*' if r['default'] else ' '} {r['name']}\t{r['url']}")


@remote_group.command("remove")
@click.argument("name")
@common
def remote_remove(name: str) -> None:
    """Remove remote NAME from the config (its data is left alone)."""
    from himo.api.config import remove_remote

    remove_remote(find_repo(), name)
    OUT.echo(f"Removed remote {name}")


@remote_group.command("modify")
@click.option("--local", is_flag=True, help="Write to .himo/config.local (credentials go here).")
@click.argument("name")
@click.argument("option")
@click.argument("value")
@common
def remote_modify(local: bool, name: str, option: str, value: str) -> None:
    """Set OPTION of remote NAME (url, endpointurl, profile, region, jobs, credentials)."""
    from himo.api.config import modify_remote

    modify_remote(find_repo(), name, option, value, local)
    OUT.echo(f"Set {option} of remote {name} in .himo/{'config.local' if local else 'config'}")


@remote_group.command("default")
@click.argument("name")
@common
def remote_default(name: str) -> None:
    """Make NAME the default remote."""
    from himo.api.config import set_default_remote

    set_default_remote(find_repo(), name)
    OUT.echo(f"Default remote: {name}")


@click.command("push")
@click.argument("paths", nargs=-1)
@remote_option
@jobs_option
@common
def push_cmd(paths: tuple[str, ...], remote: str | None, jobs: int | None) -> None:
    """Send the objects of tracked PATHS (all if none) that the remote lacks."""
    from himo.api.transfer import push, raise_for

    result = push(find_repo(), list(paths), remote, jobs, OUT.reporter())
    OUT.echo(f"Pushed {result.transferred} object(s) to {result.remote}"
             f" ({result.present} already there)")
    raise_for(result, "push")


@click.command("fetch")
@click.argument("paths", nargs=-1)
@remote_option
@jobs_option
@common
def fetch_cmd(paths: tuple[str, ...], remote: str | None, jobs: int | None) -> None:
    """Download the objects of tracked PATHS into the cache, verifying each."""
    from himo.api.transfer import fetch, raise_for

    result = fetch(find_repo(), list(paths), remote, jobs, OUT.reporter())
    OUT.echo(f"Fetched {result.transferred} object(s) from {result.remote}")
    raise_for(result, "fetch")


@click.command("pull")
@click.argument("paths", nargs=-1)
@remote_option
@click.option("-f", "--force", is_flag=True, help="Overwrite local changes that are not in the cache.")
@jobs_option
@common
def pull_cmd(paths: tuple[str, ...], remote: str | None, force: bool, jobs: int | None) -> None:
    """Fetch, then check out tracked PATHS (all if none)."""
    from himo.api.transfer import pull, raise_for

    result, restored = pull(find_repo(), list(paths), remote, force, jobs, OUT.reporter())
    OUT.echo(f"Fetched {result.transferred} object(s) from {result.remote}")
    for r in restored:
        if r.written or r.removed:
            OUT.echo(f"Restored {r.path} ({r.written} written, {r.removed} removed)")
    raise_for(result, "pull")
