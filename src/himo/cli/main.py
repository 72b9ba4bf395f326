"""Entry point: a lazily loaded command group and the one place errors become exit codes.

Exit codes: 0 ok, 1 user error (HimoError), 2 usage error, 130 interrupted, 141 closed pipe,
3 a bug in himo (an unexpected exception; `-v` shows its traceback).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from himo import __version__
from himo.cli.output import NOTICES, OUT

# name -> (module:function, one-line help); modules load only when their command runs.
COMMANDS = {
    "demo": ("himo.cli.demo:demo_cmd", "Create and run a small ML project: the quickest tour."),
    "init": ("himo.cli.data:init_cmd", "Make this git repository a himo repository."),
    "add": ("himo.cli.data:add_cmd", "Track files or directories by content."),
    "status": ("himo.cli.data:status_cmd", "Show how workspace, pointers and cache differ."),
    "commit": ("himo.cli.data:commit_cmd", "Record the workspace content of tracked paths."),
    "checkout": ("himo.cli.data:checkout_cmd", "Make the workspace match the pointers."),
    "remove": ("himo.cli.data:remove_cmd", "Stop tracking (keeps the data)."),
    "unprotect": ("himo.cli.data:unprotect_cmd", "Make linked workspace files editable copies."),
    "fsck": ("himo.cli.data:fsck_cmd", "Verify every object in the cache."),
    "gc": ("himo.cli.data:gc_cmd", "Delete objects no pointer refers to."),
    "remote": ("himo.cli.remote:remote_group", "Manage remotes."),
    "push": ("himo.cli.remote:push_cmd", "Send tracked data to a remote."),
    "fetch": ("himo.cli.remote:fetch_cmd", "Download tracked data into the cache."),
    "pull": ("himo.cli.remote:pull_cmd", "Fetch, then check out."),
    "config": ("himo.cli.config:config_cmd", "Get, set or unset configuration."),
    "stage": ("himo.cli.pipeline:stage_group", "Define pipeline stages in himo.yaml."),
    "run": ("himo.cli.pipeline:run_cmd", "Add a stage and run it at once."),
    "repro": ("himo.cli.pipeline:repro_cmd", "Run the stages whose inputs changed."),
    "dag": ("himo.cli.pipeline:dag_cmd", "Show the pipeline graph."),
    "exp": ("himo.cli.exp:exp_group", "Experiments: runs with changed params, kept apart."),
    "queue": ("himo.cli.exp:queue_group", "The experiment queue: start, status, remove."),
    "params": ("himo.cli.metrics:params_group", "Compare parameters between revisions."),
    "metrics": ("himo.cli.metrics:metrics_group", "Show and compare metrics."),
    "plots": ("himo.cli.plots:plots_group", "Draw the pipeline's plots (Vega-Lite) into one HTML file."),
    "runs": ("himo.cli.history:runs_group", "List runs and their executions; `runs show ID` for one."),
    "lineage": ("himo.cli.history:lineage_cmd", "What produced a file or model, and what was built from it."),
    "release": ("himo.cli.release:release_cmd", "Make a tracked model live in an environment."),
    "releases": ("himo.cli.release:releases_cmd", "Which model was live where, since when."),
    "rollback": ("himo.cli.release:rollback_cmd", "Release an earlier version again."),
    "export": ("himo.cli.release:export_cmd", "Copy tracked bytes to a folder or URL, recorded."),
    "where": ("himo.cli.release:where_cmd", "Every place the bytes of a file are known to be."),
    "import": ("himo.cli.migrate:import_cmd", "Track data another git repository tracks (himo or DVC)."),
    "get": ("himo.cli.migrate:get_cmd", "Download data another git repository tracks, untracked."),
    "update": ("himo.cli.migrate:update_cmd", "Move imports to a newer commit of their source."),
    "migrate": ("himo.cli.migrate:migrate_group", "Take over a DVC repository: `himo migrate dvc`."),
    "scheduler": ("himo.cli.schedule:scheduler_cmd", "Run the schedules of himo.yaml when they are due."),
    "schedule": ("himo.cli.schedule:schedule_group", "Schedules: list, show, pause, trigger, backfill ..."),
    "meta": ("himo.cli.meta:meta_group", "The metadata store: sync, upgrade, export."),
    "ui": ("himo.cli.ui:ui_cmd", "Serve the dashboard: runs, pipeline, lineage, releases, metrics."),
}


ARGV = "himo.argv"  # Context.meta key: the words this invocation was given (not sys.argv: run(argv))


class LazyGroup(click.Group):
    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if parent is None:  # a new invocation: -q/-v of an earlier one (same process) do not carry over
            OUT.reset()
        argv = list(args)  # before parsing consumes them
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta[ARGV] = argv  # shared with every subcommand's context
        return ctx

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in COMMANDS.items()])


def set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    OUT.quiet = OUT.quiet or value


def set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    OUT.verbose = OUT.verbose or value


def common(fn: Any) -> Any:
    """-q and -v, accepted before or after the command name."""
    fn = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=set_quiet,
                      is_eager=True, help="Print only errors.")(fn)
    return click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=set_verbose,
                        is_eager=True, help="More detail; tracebacks on errors.")(fn)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="himo", message="%(prog)s %(version)s")
@common
@click.pass_context
def cli(ctx: click.Context) -> None:
    """himo: version data and models with git, run pipelines, and know what produced what."""
    NOTICES.start()
    if ctx.invoked_subcommand != "meta":  # `meta sync` delivers itself (and is what a delivery runs)
        _end_killed_runs()


def _end_killed_runs() -> None:
    """Whatever the command: a himo killed mid-run left a journal whose run never ended; have it
    delivered (as after a command) so the store shows that run aborted, not running. One listdir
    when no journal waits (`himo status` stays fast); the recording module loads only if one does."""
    import os

    from himo.errors import HimoError
    from himo.workspace.repo import Repo

    try:
        repo = Repo.find()
    except (HimoError, OSError):
        return  # no repository: the command itself says what matters
    try:
        waiting = any(n.endswith(".jsonl") for n in os.listdir(repo.himo_dir / "journal"))
        if waiting:
            from himo.api.recording import deliver_abandoned

            deliver_abandoned(repo)
    except (HimoError, OSError):
        pass  # no journal, a bad config: the command itself says what matters
    finally:
        repo.close()  # its cache's writers' lock too, if delivery took it (in-process callers)


def main(argv: list[str] | None = None) -> None:
    import faulthandler
    import signal

    # `kill -USR1 PID` prints where every thread of a himo that seems stuck is (to stderr), and
    # it goes on: what a bug report about a hang needs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # A blocked signal mask is inherited through exec: a parent that spawned himo from a thread
    # blocking SIGINT/SIGTERM would make Ctrl-C and kill wait forever, and nothing be stopped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(run(argv))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends work like Ctrl-C: running stages stopped, nothing committed


def run(argv: list[str] | None = None) -> int:
    """One himo invocation: its exit code. Callable many times in one process (tests, scripts):
    it leaves no handler, option or notice behind."""
    with _sigterm_interrupts():
        return _run(argv)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM ends the command like Ctrl-C, while it runs; the caller's handler is put back after.
    Only the main thread may set handlers: elsewhere (a caller's worker thread) SIGTERM stays the
    caller's."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        # None: a handler not set from Python, which cannot be put back; the default is closest
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _run(argv: list[str] | None) -> int:
    from himo.errors import HimoError

    try:
        cli.main(args=argv, prog_name="himo", standalone_mode=False)
    except HimoError as exc:
        return _report(exc.message, exc.hint, exc.exit_code, exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # keep Python from complaining about the closed pipe at exit
        return 141
    except Exception as exc:  # a bug: say so plainly, details with -v
        return _report(f"internal error: {type(exc).__name__}: {exc}",
                       "this is a bug in himo; run again with -v and report the traceback", 3, exc)
    finally:
        NOTICES.stop()
    return 0


def _report(message: str, hint: str, code: int, error: BaseException) -> int:
    """One line (and the hint) without -v; with -v first the traceback with the whole chain of
    causes (the botocore, SQLAlchemy or OSError underneath), URLs masked there too."""
    from himo.model.urls import mask_url

    if OUT.verbose:
        import traceback

        click.echo(mask_url("".join(traceback.format_exception(error))).rstrip("\n"), err=True)
    # A last net: layers mask the URLs they name, but a library's message may quote one too.
    click.echo(f"Error: {mask_url(message)}", err=True)
    if hint:
        click.echo(f"Hint: {mask_url(hint)}", err=True)
    return code
