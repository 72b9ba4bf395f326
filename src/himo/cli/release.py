"""`himo release`, `releases`, `rollback`, `export`, `where`: what is live where, and where
results went. Times print in local time; JSON gives them in UTC (ISO 8601 with Z)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from himo.cli.history import DIGEST, SHORT, plain, when
from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import find_repo

NAME_HELP = "The model's registry name, GTO's artifact name (default: the file name, churn.pkl -> churn)."


def _released_line(row: Any) -> str:
    tags = f"; git tags {', '.join(row.tags)}" if row.tags else ""
    return (f"Released {row.path} ({row.digest[:DIGEST]}) to {row.env} as {row.name} {row.version}, "
            f"live since {when(row.released_at)}{tags}")


@click.command("release")
@click.argument("target", metavar="PATH[@REV]")
@click.option("--env", "env", required=True, help="Environment: production, staging ... (a-z, 0-9, -).")
@click.option("--name", "name", help=NAME_HELP)
@click.option("--version", "version", help="Version name (default: the next vN of NAME in the environment).")
@click.option("--note", default="", help="Why: shown in `himo releases`.")
@click.option("--tag", is_flag=True,
              help="Also make annotated git tags in GTO's format (NAME@vX.Y.Z, NAME#ENV#N).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def release_cmd(target: str, env: str, name: str | None, version: str | None, note: str, tag: bool,
                as_json: bool) -> None:
    """Make the tracked PATH (as committed at REV, or as its pointer says now) live in ENV from
    now, as the model NAME.

    The release of NAME live in ENV before is retired at the same instant; other models live
    there stay. PATH must be tracked, unmodified, and its bytes in the cache or a remote.
    """
    from himo.api.release import release

    row = release(find_repo(), target, env, version=version, note=note, tag=tag, name=name)
    if as_json:
        OUT.json(plain(row))
    else:
        OUT.echo(_released_line(row))


@click.command("releases")
@click.option("--env", "env", help="Only this environment.")
@click.option("--name", "name", help="Only this model.")
@click.option("--at", "at", metavar="TIME",
              help="Only what was live at TIME: 2024-05-01T13:30, 2024-05-01, 3d (ago).")
@click.option("--from-tags", is_flag=True,
              help="First rebuild the history from GTO git tags made by --tag (lists each tag passed over).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def releases_cmd(env: str | None, name: str | None, at: str | None, from_tags: bool, as_json: bool) -> None:
    """Release history per environment and model, newest first: version, digest, path, from,
    until, who, note, and the run that produced the artifact. With --at: which model(s) were
    live in each environment at TIME."""
    from himo.api.history import parse_when
    from himo.api.release import releases, releases_from_tags

    repo = find_repo()
    moment = parse_when(at, "--at")  # once: an age (2h) names one instant for the query and the text
    if from_tags:
        _report_from_tags(releases_from_tags(repo))
    found = releases(repo, env=env, at=moment, name=name)
    if as_json:
        OUT.json(plain(found))
    elif not found:
        where = (f" in {env}" if env else "") + (f" for {name}" if name else "")
        OUT.echo(f"Nothing was live{where} at {when(moment)}." if moment else f"No releases{where} yet.")
    else:
        click.echo("\n".join(_releases_lines(found)))


def _report_from_tags(done: Any) -> None:
    for tag, why in done.skipped:
        click.echo(f"Skipped git tag {tag}: {why}", err=True)
    known = f"; {len(done.known)} already in the store" if done.known else ""
    click.echo(f"Restored {len(done.restored)} release(s) from git tags{known}.", err=True)


def _releases_lines(found: list[Any]) -> Iterator[str]:
    group = None
    rows = [[r.version, r.digest[:DIGEST], r.path, when(r.released_at),
             "live" if r.live else when(r.retired_at), r.who or "?",
             f"run {r.run_id[:SHORT]}" if r.run_id else "-", r.note] for r in found]
    widths = [max(len(row[i]) for row in rows) for i in range(7)]
    for release, row in zip(found, rows, strict=True):
        if group is None or release.env != group[0]:
            yield f"{release.env}:"
        if (release.env, release.name) != group:
            group = (release.env, release.name)
            yield f"  {release.name}:"
        cells = "  ".join(c.ljust(w) for c, w in zip(row[:7], widths, strict=True))
        yield f"    {cells}  {row[7]}".rstrip()


@click.command("rollback")
@click.option("--env", "env", required=True, help="The environment to roll back.")
@click.option("--name", "name", help="The model to roll back (needed when ENV has several).")
@click.option("--to", "to", metavar="VERSION", help="The version to bring back (default: the one before).")
@click.option("--note", help="Why (default: 'rollback to VERSION').")
@click.option("--tag/--no-tag", "tag", default=None,
              help="Make GTO's assignment tag NAME#ENV#N (default: if the release brought back had tags).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def rollback_cmd(env: str, name: str | None, to: str | None, note: str | None, tag: bool | None,
                 as_json: bool) -> None:
    """Release an earlier version's artifact of a model again in ENV, as a new release (history
    is kept)."""
    from himo.api.release import rollback

    row = rollback(find_repo(), env, to=to, note=note, name=name, tag=tag)
    if as_json:
        OUT.json(plain(row))
    else:
        OUT.echo(_released_line(row) + f" ({row.note})")


@click.command("export")
@click.argument("target", metavar="PATH[@REV]")
@click.argument("dest")
@click.option("-r", "--remote", help="Reach DEST with this remote's settings (endpoint, credentials).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Files copied at once.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def export_cmd(target: str, dest: str, remote: str | None, jobs: int | None, as_json: bool) -> None:
    """Copy the tracked bytes of PATH (a file or directory, from the cache) into DEST, a folder or
    a URL (s3://bucket/prefix ...), as DEST/NAME; recorded for `himo where`."""
    from himo.api.delivery import export_artifact

    result = export_artifact(find_repo(), target, dest, remote=remote, jobs=jobs)
    if as_json:
        OUT.json(plain(result))
    else:
        OUT.echo(f"Exported {result.path} ({result.files} file(s), {result.size:,} bytes) to {result.url}")


@click.command("where")
@click.argument("target", metavar="TARGET")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def where_cmd(target: str, as_json: bool) -> None:
    """Every place the bytes of TARGET (PATH, PATH@REV or a digest) are known to be: the cache,
    remotes pushed to, exports, releases, with times."""
    from himo.api.delivery import where

    found = where(find_repo(), target)
    if as_json:
        OUT.json(plain(found))
        return
    click.echo(f"{found.path or found.target} ({found.digest[:DIGEST]})")
    rows = [[p.kind, p.url, _interval(p), p.who, p.detail] for p in found.places]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo(("  " + "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True))
                    + f"  {row[4]}").rstrip())


def _interval(place: Any) -> str:
    if place.kind == "cache":
        return "now"
    if place.kind == "release":
        return f"{when(place.first_at)} -> {when(place.last_at) if place.last_at else 'now'}"
    if place.first_at == place.last_at:
        return when(place.first_at)
    return f"{when(place.first_at)} .. {when(place.last_at)}"
