"""Commands on tracked data: init, add, status, commit, checkout, remove, unprotect, fsck, gc."""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import echo_dvc_hint, find_repo

if TYPE_CHECKING:
    from himo.workspace.repo import Repo

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
    echo_dvc_hint(repo.root)


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


def _report_cleaned(cleaned) -> None:  # type: ignore[no-untyped-def]
    """What was cleaned after an interrupted command, one line per entry (the first 10)."""
    from himo.cli.history import _size

    repo_root = find_repo().root
    for leftover in cleaned[:10]:
        rel = os.path.relpath(leftover.path, repo_root)
        if leftover.restored is not None:
            what = f"restored {os.path.relpath(leftover.restored, repo_root)} (from {rel})"
        else:
            what = f"removed {rel}{'/' if leftover.folder else ''} ({_size(leftover.size)})"
        OUT.echo(f"Cleaned up after an interrupted command: {what}")
    if len(cleaned) > 10:
        OUT.echo(f"Cleaned up after an interrupted command: ... and {len(cleaned) - 10} more")


def _report_recorded(results) -> None:  # type: ignore[no-untyped-def]
    _report_cleaned([leftover for r in results for leftover in r.cleaned])
    for r in results:
        what = f"{r.hash_info.nfiles} files, " if r.hash_info.isdir else ""
        verb = "Recorded" if r.changed else "Unchanged"
        OUT.echo(f"{verb} {r.path} ({what}{r.hash_info.size} bytes, {r.hash_info.digest[:12]})")
        if OUT.verbose:
            OUT.echo(f"  read {r.hashed} of {r.files} files; the rest came from the stat cache")
    changed = [r for r in results if r.changed]
    if changed:
        files = dict.fromkeys([r.pointer for r in changed] + [r.gitignore for r in changed])
        ignored = set().union(*(r.git_ignored for r in changed))
        commands = [f"git add {' '.join(shlex.quote(f) for f in files if f not in ignored)}"] \
            if set(files) - ignored else []
        if ignored:  # without -f git refuses them, and a clone would not know the data
            forced = " ".join(shlex.quote(f) for f in files if f in ignored)
            commands.append(f"git add -f {forced}   # in a git-ignored folder")
        OUT.echo("To track the changes with git, run:\n" + "\n".join(f"  {c}" for c in commands))


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
        nothing = not results and not (repo.root / "himo.yaml").exists()
        if not (nothing and echo_dvc_hint(repo.root)):
            OUT.echo("Nothing is tracked yet: try `himo add PATH`." if nothing
                     else "Everything is up to date.")
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
    for item in r.leftovers[:20]:
        OUT.echo(f"    left by an interrupted command: {item}")
    if len(r.leftovers) > 20:
        OUT.echo(f"    ... and {len(r.leftovers) - 20} more left by an interrupted command")
    if r.leftovers:
        OUT.echo(f"    (run `himo checkout {r.path}` or `himo gc` to clean them up)")


@click.command("checkout")
@click.argument("paths", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Overwrite local changes that are not in the cache.")
@jobs_option
@common
def checkout_cmd(paths: tuple[str, ...], force: bool, jobs: int | None) -> None:
    """Make the workspace match the pointers of PATHS (all if none)."""
    from himo.api.checkout import checkout

    results = checkout(find_repo(), list(paths), force, jobs, OUT.reporter())
    _report_cleaned([leftover for r in results for leftover in r.cleaned])
    for r in results:
        if r.written or r.removed:
            OUT.echo(f"Restored {r.path} ({r.written} written, {r.removed} removed)")


@click.command("remove")
@click.argument("pointers", nargs=-1, required=True)
@common
def remove_cmd(pointers: tuple[str, ...]) -> None:
    """Stop tracking: delete PATH.himo and its .gitignore entry; the data stays."""
    from himo.api.remove import remove

    for name in remove(find_repo(), list(pointers), on_cleaned=_report_cleaned):
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
@click.option("--exclude-releases", is_flag=True,
              help="Do not keep what releases in the metadata store use (kept by default, live or retired).")
@click.option("-c", "--cloud", is_flag=True, help="Also delete unused objects on the remote.")
@click.option("-r", "--remote", help="Remote for --cloud (default: core.remote).")
@click.option("--dry", is_flag=True, help="Only list what would be deleted.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="With --dry: print JSON.")
@common
def gc_cmd(workspace: bool, all_branches: bool, all_tags: bool, all_commits: bool, exclude_releases: bool,
           cloud: bool, remote: str | None, dry: bool, force: bool, as_json: bool) -> None:
    """Delete cache (and with --cloud, remote) objects that no pointer, himo.lock or release uses."""
    from himo.api.gc import Scopes, plan_gc, run_gc
    from himo.errors import UsageError

    repo = find_repo()
    scopes = Scopes(True, all_branches, all_tags, all_commits, releases=not exclude_releases)
    plan = plan_gc(repo, scopes, cloud, remote, OUT.reporter())
    say = OUT.echo if not as_json else (lambda message: None)  # with --json, only the JSON
    if as_json:
        OUT.json({"cache": plan.cache, "remote": plan.remote, "remote_name": plan.remote_name,
                  "routed": plan.routed})
    elif dry or OUT.verbose:
        for oid in plan.cache:
            OUT.echo(f"cache: {oid}")
        for name, oids in {plan.remote_name: plan.remote, **plan.routed}.items():
            for oid in oids:
                OUT.echo(f"{name}: {oid}")
    _gc_leftovers(repo, dry, as_json)
    on_remotes = len(plan.remote) + sum(map(len, plan.routed.values()))
    total = len(plan.cache) + on_remotes
    if dry or total == 0:
        say(f"Would remove {total} object(s)" if total else "Nothing to remove.")
        return
    if not force:
        if not sys.stdin.isatty():
            raise UsageError(f"gc would remove {total} object(s); refusing without confirmation",
                             "run with -f to confirm, or --dry to see the list")
        if not click.confirm(f"Remove {len(plan.cache)} cache and {on_remotes} remote object(s)?"):
            say("Nothing removed.")
            return
    say(f"Removed {run_gc(repo, plan, OUT.reporter())} object(s)")


def _gc_leftovers(repo: Repo, dry: bool, as_json: bool) -> None:
    """gc also cleans what interrupted commands left in the workspace (--dry: lists it)."""
    from himo.api.leftovers import clean_workspace, workspace_leftovers

    if dry:
        for path in [] if as_json else workspace_leftovers(repo):
            OUT.echo(f"leftover of an interrupted command: {os.path.relpath(path, repo.root)}")
        return
    cleaned = clean_workspace(repo)
    if not as_json:
        _report_cleaned(cleaned)
