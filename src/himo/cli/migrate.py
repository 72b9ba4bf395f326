"""`himo migrate dvc`, and data from other repositories: `himo import`, `get`, `update`."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import find_repo

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group("migrate")
def migrate_group() -> None:
    """Take over a repository made with another tool."""


@migrate_group.command("dvc")
@click.option("--dry", is_flag=True, help="Show what would be converted; write nothing.")
@click.option("--remove-dvc", is_flag=True,
              help="Then delete DVC's files that were fully converted (.dvc/cache is kept if it holds data).")
@json_option
@common
def migrate_dvc_cmd(dry: bool, remove_dvc: bool, as_json: bool) -> None:
    """Convert the DVC repository here in place: dvc.yaml, .dvc files, dvc.lock (no re-run
    needed for what DVC ran), remotes. Safe to run again."""
    from himo.api.migrate_dvc import migrate_dvc

    result = migrate_dvc(".", dry=dry, remove_dvc=remove_dvc, echo=(lambda _: None) if as_json else OUT.echo)
    if as_json:
        OUT.json(dataclasses.asdict(result))
        return
    stale = [s.path for s in result.steps if s.status == "stale"]
    if not dry:
        OUT.echo("Next: git add -A && git commit -m 'Migrate from DVC to himo'"
                 + ("; `himo repro` runs the stale stages: " + ", ".join(stale) if stale else
                    "; `himo repro` has nothing to run"))


def _plain(result: Any) -> dict[str, Any]:
    return dataclasses.asdict(result)


def _line(result: Any) -> str:
    src = result.source
    where = f"{src.url} {src.path} @ {src.commit[:12]}" + (f" ({src.rev})" if src.rev else "")
    return {"imported": f"Imported {result.path} from {where}",
            "updated": f"Updated {result.path} to {where}",
            "unchanged": f"{result.path} is up to date ({where})",
            "frozen": f"{result.path} is frozen: not updated ({where}); delete `frozen: true` from"
                      f" {result.path}.himo to let `himo update` move it",
            "downloaded": f"Downloaded {result.path} from {where}"}[result.status]


@click.command("import")
@click.argument("url", metavar="REPO")
@click.argument("path")
@click.option("-o", "--out", help="Where to put it (default: its name, in the current folder).")
@click.option("--rev", help="Branch, tag or commit of REPO (default: its HEAD).")
@json_option
@common
def import_cmd(url: str, path: str, out: str | None, rev: str | None, as_json: bool) -> None:
    """Track PATH, which the git repository REPO tracks (with himo or DVC), recording REPO and commit."""
    from himo.api.imports import import_

    result = import_(find_repo(), url, path, out, rev)
    if as_json:
        OUT.json(_plain(result))
        return
    OUT.echo(_line(result))
    OUT.echo(f"Next: git add {result.path}.himo && git commit")


@click.command("get")
@click.argument("url", metavar="REPO")
@click.argument("path")
@click.option("-o", "--out", help="Where to put it (default: its name, in the current folder).")
@click.option("--rev", help="Branch, tag or commit of REPO (default: its HEAD).")
@json_option
@common
def get_cmd(url: str, path: str, out: str | None, rev: str | None, as_json: bool) -> None:
    """Download PATH, which the git repository REPO tracks, without tracking it."""
    from himo.api.imports import get

    result = get(url, path, out, rev)
    if as_json:
        OUT.json(_plain(result))
    else:
        OUT.echo(_line(result))


@click.command("update")
@click.argument("targets", nargs=-1)
@click.option("--rev", help="Move to this branch, tag or commit (default: the newest of each import's).")
@json_option
@common
def update_cmd(targets: tuple[str, ...], rev: str | None, as_json: bool) -> None:
    """Move imports (all, or TARGETS) to a newer commit of their source; frozen ones stay."""
    from himo.api.imports import update

    results = update(find_repo(), list(targets), rev)
    if as_json:
        OUT.json([_plain(r) for r in results])
        return
    for result in results:
        OUT.echo(_line(result))
    if not results:
        OUT.echo("No imports to update.")
