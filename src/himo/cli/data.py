"""Commands on tracked data: init, add, status, commit, checkout, remove, unprotect, fsck, gc."""

from __future__ import annotations

import shlex
import sys

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import find_repo

jobs_option = click.option("-j", "--jobs", type=click.IntRange(1), help="Parallel workers.")


@click.command("init")
@click.option("--no-scm", is_flag=True, help="Allow a folder that is not a git repository.")
@click.option("-f", "--force", is_flag=True, help="Re-initialise an existing repository.")
@common
def init_cmd(no_scm: bool, force: bool) -> None:
    """Make the current folder a himo repository (creates .himo/ and .himoignore)."""
    from himo.api.init import init

    repo = init(".", no_scm=no_scm, force=force)
    OUT.echo(f"Initialised himo repository in {repo.himo_dir}")
    if not no_scm:
        OUT.echo("Next: git add .himo .himoignore && git commit -m 'Initialise himo'")


@click.command("add")
@click.argument("paths", nargs=-1, required=True)
@jobs_option
@common
def add_cmd(paths: tuple[str, ...], jobs: int | None) -> None:
    """Track PATHS by content: store their bytes in the cache and write PATH.himo."""
    from himo.api.add import add

    _report_recorded(add(find_repo(), list(paths), jobs, OUT.reporter()))


@click.command("commit")
@click.argument("paths", nargs=-1)
@jobs_option
@common
def commit_cmd(paths: tuple[str, ...], jobs: int | None) -> None:
    """Record the current workspace content of tracked PATHS (all if none)."""
    from himo.api.add import commit

    _report_recorded(commit(find_repo(), list(paths), jobs, OUT.reporter()))


def _report_recorded(results) -> None:  # type: ignore[no-untyped-def]
    for r in results:
        what = f"{r.hash_info.nfiles} files, " if r.hash_info.isdir else ""
        verb = "Recorded" if r.changed else "Unchanged"
        OUT.echo(f"{verb} {r.path} ({what}{r.hash_info.size} bytes, {r.hash_info.digest[:12]})")
        if OUT.verbose:
            OUT.echo(f"  read {r.hashed} of {r.files} files; the rest came from the stat cache")
    changed = [r for r in results if r.changed]
    if changed:
        files = dict.fromkeys([r.pointer for r in changed] + [r.gitignore for r in changed])
        OUT.echo(f"To track the changes with git, run:\n  git add {' '.join(map(shlex.quote, files))}")


@click.command("status")
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@jobs_option
@common
def status_cmd(paths: tuple[str, ...], as_json: bool, jobs: int | None) -> None:
    """Show what differs between workspace, pointers and cache, and which stages are stale.

    Exit 0 either way; `--json` gives {"data": {path: ...}, "stages": {name: [reasons]}}.
    """
    from himo.api.status import stage_status, status

    repo = find_repo()
    results = status(repo, list(paths), jobs)
    stages = [] if paths else stage_status(repo, jobs)
    if as_json:
        OUT.json({"data": {r.path: r.to_dict() for r in results},
                  "stages": {s.name: s.reasons for s in stages}})
        return
    dirty = [r for r in results if not r.clean]
    if not dirty and not stages:
        OUT.echo("Everything is up to date." if results or (repo.root / "himo.yaml").exists()
                 else "Nothing is tracked yet: try `himo add PATH`.")
    for r in dirty:
        _print_status(r)
    for s in stages:
        OUT.echo(f"stage {s.name}: {'; '.join(s.reasons)}")


def _print_status(r) -> None:  # type: ignore[no-untyped-def]
    OUT.echo(f"{r.path}:")
    if r.state != "unchanged":
        OUT.echo(f"    {r.state}")
    for label, items in (("new", r.added), ("modified", r.modified), ("deleted", r.deleted)):
        for item in items[:20]:
            OUT.echo(f"        {label}: {item}")
        if len(items) > 20:
            OUT.echo(f"        ... and {len(items) - 20} more {label}")
    if r.not_in_cache:
        OUT.echo(f"    not in cache: {len(r.not_in_cache)} object(s) (run `himo pull`)")


@click.command("checkout")
@click.argument("paths", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Overwrite local changes that are not in the cache.")
@jobs_option
@common
def checkout_cmd(paths: tuple[str, ...], force: bool, jobs: int | None) -> None:
    """Make the workspace match the pointers of PATHS (all if none)."""
    from himo.api.checkout import checkout

    for r in checkout(find_repo(), list(paths), force, jobs, OUT.reporter()):
        if r.written or r.removed:
            OUT.echo(f"Restored {r.path} ({r.written} written, {r.removed} removed)")


@click.command("remove")
@click.argument("pointers", nargs=-1, required=True)
@common
def remove_cmd(pointers: tuple[str, ...]) -> None:
    """Stop tracking: delete PATH.himo and its .gitignore entry; the data stays."""
    from himo.api.remove import remove

    for name in remove(find_repo(), list(pointers)):
        OUT.echo(f"Removed {name}")


@click.command("unprotect")
@click.argument("paths", nargs=-1, required=True)
@common
def unprotect_cmd(paths: tuple[str, ...]) -> None:
    """Replace links into the cache with private, writable copies (hardlink/symlink modes)."""
    from himo.api.remove import unprotect

    OUT.echo(f"Unprotected {unprotect(find_repo(), list(paths))} file(s)")


@click.command("fsck")
@click.option("--repair", is_flag=True, help="Delete corrupted objects (then `himo pull` them again).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@jobs_option
@common
def fsck_cmd(repair: bool, as_json: bool, jobs: int | None) -> None:
    """Re-hash every cache object; exit 1 if any is corrupted."""
    from himo.api.fsck import fsck
    from himo.errors import HimoError

    result = fsck(find_repo(), repair, jobs, OUT.reporter())
    if as_json:
        OUT.json({"checked": result.checked, "corrupted": result.corrupted, "removed": result.removed})
    else:
        OUT.echo(f"Checked {result.checked} objects, {len(result.corrupted)} corrupted")
        for oid in result.corrupted:
            OUT.echo(f"  corrupted: {oid}")
    if result.corrupted and not result.removed:
        raise HimoError(f"{len(result.corrupted)} corrupted object(s) in the cache",
                        "run `himo fsck --repair`, then `himo pull` to fetch good copies")


@click.command("gc")
@click.option("-w", "--workspace", is_flag=True, help="Keep what the workspace's pointers use (always on).")
@click.option("-a", "--all-branches", is_flag=True, help="Also keep what every branch uses.")
@click.option("-T", "--all-tags", is_flag=True, help="Also keep what every tag uses.")
@click.option("-A", "--all-commits", is_flag=True, help="Also keep what any commit uses.")
@click.option("-c", "--cloud", is_flag=True, help="Also delete unused objects on the remote.")
@click.option("-r", "--remote", help="Remote for --cloud (default: core.remote).")
@click.option("--dry", is_flag=True, help="Only list what would be deleted.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="With --dry: print JSON.")
@common
def gc_cmd(workspace: bool, all_branches: bool, all_tags: bool, all_commits: bool, cloud: bool,
           remote: str | None, dry: bool, force: bool, as_json: bool) -> None:
    """Delete cache (and with --cloud, remote) objects that no pointer in the scopes uses."""
    from himo.api.gc import Scopes, plan_gc, run_gc
    from himo.errors import UsageError

    repo = find_repo()
    plan = plan_gc(repo, Scopes(True, all_branches, all_tags, all_commits), cloud, remote)
    say = OUT.echo if not as_json else (lambda message: None)  # with --json, only the JSON
    if as_json:
        OUT.json({"cache": plan.cache, "remote": plan.remote, "remote_name": plan.remote_name})
    elif dry or OUT.verbose:
        for oid in plan.cache:
            OUT.echo(f"cache: {oid}")
        for oid in plan.remote:
            OUT.echo(f"{plan.remote_name}: {oid}")
    total = len(plan.cache) + len(plan.remote)
    if dry or total == 0:
        say(f"Would remove {total} object(s)" if total else "Nothing to remove.")
        return
    if not force:
        if not sys.stdin.isatty():
            raise UsageError(f"gc would remove {total} object(s); refusing without confirmation",
                             "run with -f to confirm, or --dry to see the list")
        if not click.confirm(f"Remove {len(plan.cache)} cache and {len(plan.remote)} remote object(s)?"):
            say("Nothing removed.")
            return
    say(f"Removed {run_gc(repo, plan)} object(s)")
