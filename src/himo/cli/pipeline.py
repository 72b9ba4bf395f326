"""Pipeline commands: stage add/list, run, repro, dag."""

from __future__ import annotations

from typing import Any

import click

from himo.cli.main import ARGV, common
from himo.cli.output import OUT
from himo.cli.repo import echo_dvc_hint, find_repo


def stage_options(fn: Any) -> Any:
    """The flags shared by `himo stage add` and `himo run` (as in DVC)."""
    options = [
        click.option("-n", "--name", required=True, help="Stage name."),
        click.option("-d", "--deps", multiple=True, help="A dependency (file or folder)."),
        click.option("-p", "--params", multiple=True, help="Params keys: 'a.b,c' or 'file.yaml:a,b'."),
        click.option("-o", "--outs", multiple=True, help="An output, stored in the cache."),
        click.option("-O", "--outs-no-cache", multiple=True, help="An output not stored in the cache."),
        click.option("-m", "--metrics", multiple=True, help="A metrics file (cached)."),
        click.option("-M", "--metrics-no-cache", multiple=True, help="A metrics file, not cached."),
        click.option("--plots", multiple=True, help="A plots file."),
        click.option("-w", "--wdir", help="Folder the command runs in."),
        click.option("--desc", help="A description of the stage."),
        click.option("--always-changed", is_flag=True, help="Run the stage every time."),
        click.option("-f", "--force", is_flag=True, help="Overwrite a stage of the same name."),
        click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _spec(kw: dict[str, Any]):  # type: ignore[no-untyped-def]
    from himo.api.stage import StageSpec

    return StageSpec(
        name=kw["name"], cmd=list(kw["command"]), deps=list(kw["deps"]), params=list(kw["params"]),
        outs=list(kw["outs"]), outs_no_cache=list(kw["outs_no_cache"]), metrics=list(kw["metrics"]),
        metrics_no_cache=list(kw["metrics_no_cache"]), plots=list(kw["plots"]), wdir=kw["wdir"],
        desc=kw["desc"], always_changed=kw["always_changed"],
    )


NO_INTERSPERSE = {"allow_interspersed_args": False, "ignore_unknown_options": True}


@click.group("stage")
@common
def stage_group() -> None:
    """Define pipeline stages in himo.yaml."""


@stage_group.command("add", context_settings=NO_INTERSPERSE)
@stage_options
@common
def stage_add(**kw: Any) -> None:
    """Write a stage into himo.yaml (keeping its comments and order)."""
    from himo.api.stage import add_stage, git_paths

    repo = find_repo()
    stage = add_stage(repo, _spec(kw), kw["force"])
    OUT.echo(f"Added stage '{stage.name}' to himo.yaml")
    files = _quoted(git_paths(repo, [stage], lock=False))
    OUT.echo(f"To track the changes with git, run:\n  git add {files}")


@stage_group.command("remove")
@click.argument("names", nargs=-1, required=True)
@common
def stage_remove(names: tuple[str, ...]) -> None:
    """Take stages out of himo.yaml (keeping its comments) and himo.lock; their outputs stay.

    Also drops the .gitignore lines of their outputs that nothing else needs (a pointer, another
    stage, DVC). What a failed `himo run` left in himo.yaml goes the same way.
    """
    from himo.api.stage import remove_stages

    changed = remove_stages(find_repo(), list(names))
    OUT.echo(f"Removed stage(s) {', '.join(repr(n) for n in names)} from himo.yaml; their outputs stay")
    OUT.echo(f"To track the changes with git, run:\n  git add {_quoted(changed)}")


def _quoted(paths: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(p) for p in paths)


@stage_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def stage_list(as_json: bool) -> None:
    """List the stages of himo.yaml."""
    from himo.api.repro import load_dag

    repo = find_repo()
    dag = load_dag(repo)
    rows = [{"name": s.name, "cmd": list(s.cmd), "deps": list(s.deps), "outs": [o.path for o in s.outs],
             "desc": s.desc} for s in dag.stages.values()]
    if as_json:
        OUT.json(rows)
        return
    if not rows:
        echo_dvc_hint(repo.root)
    for row in rows:
        click.echo(f"{row['name']}\t{row['desc'] or ' && '.join(row['cmd'])}")


repro_options = [
    click.option("-f", "--force", is_flag=True, help="Run even if up to date."),
    click.option("-s", "--single-item", is_flag=True, help="Only the targets, not upstream stages."),
    click.option("--downstream", is_flag=True, help="Also every stage below the targets."),
    click.option("--dry", is_flag=True, help="Only say what would run."),
    click.option("-j", "--jobs", type=click.IntRange(1), default=1, help="Stages run at once."),
    click.option("-k", "--keep-going", is_flag=True, help="After a failure, run independent stages."),
    click.option("--pull", is_flag=True, help="Fetch missing dependencies from the remote first."),
    click.option("--executor", type=click.Choice(["local", "dask"]),
                 help="Where stages run (default: config executor.default, else local)."),
    click.option("--scheduler", metavar="ADDRESS",
                 help="Dask scheduler (default: config executor.dask.scheduler, else a local cluster)."),
]


def _with(options: list[Any], fn: Any) -> Any:
    for option in reversed(options):
        fn = option(fn)
    return fn


def _reproduce(targets: list[str], force: bool, single_item: bool, downstream: bool, dry: bool,
               jobs: int, keep_going: bool, pull: bool, git_files: str = "himo.lock",
               command: str = "repro", args: list[str] | None = None, executor: str | None = None,
               scheduler: str | None = None) -> None:
    from himo.api.repro import ReproOptions, repro

    repo = find_repo()
    if pull:
        from himo.api.transfer import pull as pull_data

        pull_data(repo, [], reporter=OUT.reporter())
    opts = ReproOptions(force, single_item, downstream, dry, jobs, keep_going, executor, scheduler)
    results = repro(repo, targets, opts, echo=OUT.echo, command=command, args=args)
    ran = [r for r in results if r.status in ("ran", "restored")]
    if not results and not echo_dvc_hint(repo.root):
        OUT.echo("No stages: define them in himo.yaml or with `himo stage add`.")
    elif results and not dry:
        OUT.echo(f"Pipeline is up to date ({len(ran)} stage(s) run or restored).")
        if ran:
            OUT.echo(f"To track the changes with git, run:\n  git add {git_files}")


@click.command("repro")
@click.argument("targets", nargs=-1)
@lambda fn: _with(repro_options, fn)
@common
def repro_cmd(targets: tuple[str, ...], **kw: Any) -> None:
    """Run the stages whose deps, params, cmd or outs changed (all stages, or TARGETS)."""
    _reproduce(list(targets), **kw)



@click.command("run", context_settings=NO_INTERSPERSE)
@stage_options
@common
def run_cmd(**kw: Any) -> None:
    """Write a stage into himo.yaml and run it at once (`himo stage add` + `himo repro NAME`)."""
    from himo.api.stage import add_stage, git_paths
    from himo.errors import StageFailedError

    repo = find_repo()
    stage = add_stage(repo, _spec(kw), kw["force"])
    OUT.echo(f"Added stage '{stage.name}' to himo.yaml")
    try:
        _reproduce([stage.name], force=False, single_item=False, downstream=False, dry=False, jobs=1,
                   keep_going=False, pull=False, git_files=_quoted(git_paths(repo, [stage], lock=True)),
                   command="run", args=_args_after("run"))
    except StageFailedError as exc:
        raise StageFailedError(exc.message, f"{exc.hint}; or take the stage out of himo.yaml: "
                               f"`himo stage remove {stage.name}`") from exc


def _args_after(command: str) -> list[str]:
    """The words after COMMAND in this invocation (what the user typed; run(argv)'s in-process)."""
    argv = click.get_current_context().meta[ARGV]
    return argv[argv.index(command) + 1:] if command in argv else argv


@click.command("dag")
@click.argument("target", required=False)
@click.option("--json", "fmt", flag_value="json", help="JSON nodes and edges.")
@click.option("--mermaid", "fmt", flag_value="mermaid", help="A Mermaid flowchart.")
@click.option("--dot", "fmt", flag_value="dot", help="Graphviz dot.")
@common
def dag_cmd(target: str | None, fmt: str | None) -> None:
    """Show the pipeline graph (stages and the paths that link them)."""
    from himo.api.dag import render_dag

    repo = find_repo()
    text = render_dag(repo, target, fmt or "text")
    if (fmt or "text") != "text" or text != "No stages in himo.yaml." or not echo_dvc_hint(repo.root):
        click.echo(text)
