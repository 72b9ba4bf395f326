"""Schedule commands: `himo scheduler`, `himo schedule list|show|pause|resume|trigger|history|backfill`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import find_repo

TIME = "TIME"  # ISO 8601: 2026-12-03, 2026-12-03T06:00, 2026-12-03T06:00+09:00


def _time(value: str | None, timezone: str = "UTC") -> datetime | None:
    from himo.pipeline.schedules import parse_time

    return parse_time(value, timezone) if value else None


def _tz(name: str) -> str:
    from himo.pipeline.schedules import read_schedules

    found = [s for s in read_schedules(find_repo().root) if s.name == name]
    return found[0].timezone if found else "UTC"


def _stamp(value: datetime | None) -> str:
    if value is None:
        return "-"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.isoformat(timespec="seconds")


def _print_outcomes(outcomes: list[Any], as_json: bool) -> None:
    if as_json:
        OUT.json([o.to_dict() for o in outcomes])
        return
    for o in outcomes:
        more = f" ({o.reason})" if o.reason else ""
        OUT.echo(f"{o.schedule} {_stamp(o.logical_date)}: {o.state}{more}, {o.attempts} attempt(s)")


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run what is due now, wait for it, exit (for cron / CronJob).")
@click.option(
    "--now", "now", metavar=TIME, help="Fix the clock at TIME (tests and replays); UTC unless given."
)
@click.option("--json", "as_json", is_flag=True, help="Print the intervals run as JSON (with --once).")
@common
def scheduler_cmd(once: bool, now: str | None, as_json: bool) -> None:
    """Run the schedules of himo.yaml when due: each interval once, in a clean worktree of the
    branch head, recorded with trigger `schedule`. Runs until interrupted unless --once."""
    from himo.api.scheduler import run_scheduler

    repo = find_repo()
    if not once:
        OUT.echo("Scheduler running (Ctrl-C to stop)")
    outcomes = run_scheduler(repo, once=once, now=_time(now), echo=lambda line: OUT.echo(line, err=as_json))
    if once:
        _print_outcomes(outcomes, as_json)


@click.group("schedule")
@common
def schedule_group() -> None:
    """The schedules of himo.yaml: list, show, pause, resume, trigger, history, backfill."""


@schedule_group.command("list")
@click.option("--now", "now", metavar=TIME, help="Next runs as seen at TIME.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def list_cmd(now: str | None, as_json: bool) -> None:
    """Every schedule: when it runs, the next run, paused or not, the latest interval."""
    from himo.api.schedules import schedule_list

    infos = schedule_list(find_repo(), _time(now), history=1)
    if as_json:
        OUT.json([i.to_dict() for i in infos])
        return
    if not infos:
        OUT.echo("No schedules: add `schedules:` to himo.yaml (see docs/schedules.md).")
    for i in infos:
        last = i.history[0] if i.history else None
        latest = f"{_stamp(last.logical_date)} {last.state}" if last else "never ran"
        state = "paused" if i.paused else f"next {_stamp(i.next_run)}"
        OUT.echo(f"{i.name}  {i.when}  {state}  last: {latest}")


@schedule_group.command("show")
@click.argument("name")
@click.option("--now", "now", metavar=TIME, help="Next run as seen at TIME.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def show_cmd(name: str, now: str | None, as_json: bool) -> None:
    """One schedule: its settings, next run and its last 30 intervals."""
    from himo.api.schedules import schedule_show

    info = schedule_show(find_repo(), name, _time(now))
    if as_json:
        OUT.json(info.to_dict())
        return
    OUT.echo(f"{info.name}: {info.when}, targets {', '.join(info.targets) or '(whole pipeline)'}")
    OUT.echo(
        f"  {'paused' if info.paused else 'next run ' + _stamp(info.next_run)}; catchup "
        f"{str(info.catchup).lower()}, retries {info.retries}, max_active {info.max_active}"
    )
    _print_history(info.history)


def _print_history(history: list[Any]) -> None:
    for h in history:
        attempts = ", ".join(
            f"{a.run_id[:8]} {a.status}{' (' + a.reason + ')' if a.reason else ''}" for a in h.attempts
        )
        more = f" ({h.reason})" if h.reason else ""
        OUT.echo(f"  {_stamp(h.logical_date)}  {h.state}{more}  {attempts}")


@schedule_group.command("history")
@click.argument("name")
@click.option("-n", "--limit", default=30, show_default=True, type=click.IntRange(1), help="Intervals shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def history_cmd(name: str, limit: int, as_json: bool) -> None:
    """The schedule's latest intervals, newest first, with each attempt's run and status."""
    from himo.api.schedules import interval_dict, schedule_history

    history = schedule_history(find_repo(), name, limit)
    if as_json:
        OUT.json([interval_dict(h) for h in history])
        return
    if not history:
        OUT.echo(f"Schedule {name} has not run yet.")
    _print_history(history)


@schedule_group.command("pause")
@click.argument("name")
@common
def pause_cmd(name: str) -> None:
    """Stop running the schedule (kept in the metadata store; himo.yaml is unchanged)."""
    from himo.api.schedules import set_paused

    set_paused(find_repo(), name, True)
    OUT.echo(f"Paused schedule {name}")


@schedule_group.command("resume")
@click.argument("name")
@common
def resume_cmd(name: str) -> None:
    """Run the schedule again (with catchup, the intervals missed while paused run too)."""
    from himo.api.schedules import set_paused

    set_paused(find_repo(), name, False)
    OUT.echo(f"Resumed schedule {name}")


@schedule_group.command("trigger")
@click.argument("name")
@click.option("--date", metavar=TIME, help="Logical date to run (again); default: the interval ending now.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@common
def trigger_cmd(name: str, date: str | None, as_json: bool) -> None:
    """Run the schedule now, in this process (even paused)."""
    from himo.api.schedules import trigger

    outcome = trigger(
        find_repo(), name, _time(date, _tz(name)), echo=lambda line: OUT.echo(line, err=as_json)
    )
    _print_outcomes([outcome], as_json)


@schedule_group.command("backfill")
@click.argument("name")
@click.option("--from", "start", required=True, metavar=TIME, help="First logical date.")
@click.option("--to", "end", required=True, metavar=TIME, help="Last logical date (included).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@common
def backfill_cmd(name: str, start: str, end: str, as_json: bool) -> None:
    """Run every interval from --from to --to, oldest first, that has not succeeded yet."""
    from himo.api.schedules import backfill

    tz = _tz(name)
    outcomes = backfill(
        find_repo(),
        name,
        _time(start, tz),
        _time(end, tz),  # type: ignore[arg-type]
        echo=lambda line: OUT.echo(line, err=as_json),
    )
    _print_outcomes(outcomes, as_json)
