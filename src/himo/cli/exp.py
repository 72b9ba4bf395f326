"""`himo exp run/show/diff/apply/branch/remove` and `himo queue start/status/remove`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import click

from himo.cli.main import common
from himo.cli.metrics import _fmt, _table
from himo.cli.output import OUT
from himo.cli.repo import find_repo

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
META_URL = click.option("--meta-url", metavar="URL",
                        help="Read this metadata store (e.g. a team's PostgreSQL).")


@contextlib.contextmanager
def _store(url: str | None) -> Iterator[None]:
    """HIMO_META_URL set to `url` for this command only."""
    old = os.environ.get("HIMO_META_URL")
    if url:
        os.environ["HIMO_META_URL"] = url
    try:
        yield
    finally:
        if url and old is None:
            os.environ.pop("HIMO_META_URL", None)
        elif url:
            os.environ["HIMO_META_URL"] = old  # type: ignore[assignment]


@click.group("exp")
@common
def exp_group() -> None:
    """Experiments: pipeline runs with changed params in isolated workspaces."""


@exp_group.command("run")
@click.argument("targets", nargs=-1)
@click.option("-S", "--set-param", "set_values", multiple=True, metavar="[FILE:]KEY=VALUE",
              help="Set a param for this experiment; VALUE may list values (a,b,c) to sweep.")
@click.option("-n", "--name", help="Experiment name (a sweep's: NAME-1, NAME-2 ...).")
@click.option("--queue", is_flag=True, help="Only queue; run with `himo queue start`.")
@click.option("--run-all", is_flag=True, help="Run every queued experiment.")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Experiments run at once.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where stages run.")
@common
def run_cmd(targets: tuple[str, ...], set_values: tuple[str, ...], name: str | None, queue: bool,
            run_all: bool, jobs: int, executor: str) -> None:
    """Run the pipeline with changed params, in an isolated workspace (yours stays as it is)."""
    from himo.api import exp, exp_queue

    repo = find_repo()
    exp.check_executor(executor)
    if run_all and not (set_values or name or queue or targets):
        done = exp_queue.start(repo, jobs, OUT.echo)
    else:
        done = exp.run(repo, list(set_values), name, list(targets), queue, jobs, OUT.echo, executor)
        if queue:
            OUT.echo(f"Queued; `himo queue start -j N` runs them ({len(exp_queue.entries(repo))} waiting).")
            return
        if run_all:
            done += exp_queue.start(repo, jobs, OUT.echo)
    _tell(done)


def _tell(done: list[Any]) -> None:
    for record in done:
        metrics = ", ".join(f"{k}={_fmt(v)}" for values in record.metrics.values() for k, v in values.items())
        OUT.echo(f"Experiment '{record.name}' {record.status}" + (f": {metrics}" if metrics else ""))
    failed = [r.name for r in done if r.status != "succeeded"]
    if failed:
        from himo.errors import StageFailedError

        raise StageFailedError(f"experiment(s) failed: {', '.join(failed)}",
                               "see their logs with `himo runs`, fix, and run them again")
    if done:
        OUT.echo("To bring one into the workspace: himo exp apply NAME")


@exp_group.command("show")
@JSON
@click.option("-A", "--all-commits", is_flag=True, help="Experiments of every commit, not only HEAD's.")
@click.option("--sort-by", metavar="COLUMN", help="Sort experiments by this metric or param.")
@click.option("--sort-order", type=click.Choice(["asc", "desc"]), default="asc", show_default=True)
@click.option("--only-changed", is_flag=True, help="Only columns whose values differ.")
@META_URL
@common
def show_cmd(as_json: bool, all_commits: bool, sort_by: str | None, sort_order: str, only_changed: bool,
             meta_url: str | None) -> None:
    """Experiments and commits as rows, params and metrics as columns."""
    from himo.api.exp_show import show

    with _store(meta_url):
        table = show(find_repo(), all_commits, sort_by, sort_order == "asc", only_changed)
    if as_json:
        OUT.json([asdict(r) for r in table.rows])
        return
    headers = ["Experiment", "Created", "Status", *table.params, *table.metrics]
    rows = [[("  " if r.kind == "experiment" else "") + r.name, r.created[:19].replace("T", " "),
             r.status or "-", *[_fmt(r.params.get(c)) for c in table.params],
             *[_fmt(r.metrics.get(c)) for c in table.metrics]]
            for r in table.rows]
    click.echo(_table(headers, rows))


@exp_group.command("diff")
@click.argument("a")
@click.argument("b")
@JSON
@META_URL
@common
def diff_cmd(a: str, b: str, as_json: bool, meta_url: str | None) -> None:
    """Params and metrics that differ between two experiments (or commits)."""
    from himo.api.exp_show import diff

    with _store(meta_url):
        rows = diff(find_repo(), a, b)
    if as_json:
        OUT.json([asdict(r) for r in rows])
    elif not rows:
        OUT.echo("No changes.")
    else:
        click.echo(_table(["Kind", "Name", a, b, "Change"],
                          [[r.kind, r.column, _fmt(r.old), _fmt(r.new), _fmt(r.change)] for r in rows]))


@exp_group.command("apply")
@click.argument("name")
@common
def apply_cmd(name: str) -> None:
    """Bring an experiment's params, himo.lock and outputs into the workspace."""
    from himo.api.exp import apply

    record = apply(find_repo(), name)
    OUT.echo(f"Applied experiment '{name}': {', '.join(record.files) or 'no file changes'}")
    OUT.echo("To keep it, commit: git add -A && git commit")


@exp_group.command("branch")
@click.argument("name")
@click.argument("branch")
@common
def branch_cmd(name: str, branch: str) -> None:
    """Make a git branch holding an experiment's changes, committed on its base commit."""
    from himo.api.exp import branch as make_branch

    commit = make_branch(find_repo(), name, branch)
    OUT.echo(f"Branch '{branch}' made at {commit[:8]} (your workspace and HEAD are unchanged)")


@exp_group.command("remove")
@click.argument("names", nargs=-1, required=True)
@common
def remove_cmd(names: tuple[str, ...]) -> None:
    """Forget experiments (their runs stay in the history); gc may then delete their outputs."""
    from himo.api.exp import remove

    for name in remove(find_repo(), list(names)):
        OUT.echo(f"Removed experiment '{name}'")


@click.group("queue")
@common
def queue_group() -> None:
    """The experiment queue: start, status, remove."""


@queue_group.command("start")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Experiments run at once.")
@common
def queue_start(jobs: int) -> None:
    """Run the queued experiments, JOBS at once (a killed queue resumes where it stopped)."""
    from himo.api.exp_queue import start

    _tell(start(find_repo(), jobs, OUT.echo))


@queue_group.command("status")
@JSON
@common
def queue_status(as_json: bool) -> None:
    """The queued experiments, and which are running."""
    from himo.api.exp_queue import entries

    rows = [{"name": e.name, "state": "running" if e.running else "queued", "commit": e.spec.commit,
             "overrides": e.spec.overrides} for e in entries(find_repo())]
    if as_json:
        OUT.json(rows)
    elif not rows:
        OUT.echo("The queue is empty.")
    else:
        click.echo(_table(["Experiment", "State", "Commit", "Params"],
                          [[r["name"], r["state"], r["commit"][:7], " ".join(r["overrides"])] for r in rows]))


@queue_group.command("remove")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every queued experiment.")
@common
def queue_remove(names: tuple[str, ...], all_: bool) -> None:
    """Take experiments out of the queue."""
    from himo.api.exp_queue import remove
    from himo.errors import UsageError

    if not names and not all_:
        raise UsageError("name the experiments to take out of the queue, or --all", "see `himo queue status`")
    for name in remove(find_repo(), list(names), all_):
        OUT.echo(f"Removed '{name}' from the queue")
