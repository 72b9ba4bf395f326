"""`schedules:` in himo.yaml: when pipelines run by themselves, parsed and checked at load time.

    schedules:
      predict-daily:
        cron: "0 6 * * *"          # or every: 15m
        timezone: Asia/Tokyo       # IANA name (zoneinfo); default UTC
        targets: [predict]         # default: the whole pipeline
        catchup: false             # after downtime: every missed interval (true) or the latest only
        retries: 2
        retry_delay: 5m
        timeout: 1h
        max_active: 1
        push: true                 # or a remote name
        export: {predictions.csv: /srv/predictions}
        params: {threshold: 0.7}   # params.yaml overrides; 'file.yaml:key' for another file
        on_failure: ./notify.sh    # a command, or an http(s) URL receiving the run's JSON
        on_success: https://hooks.example.com/done
        branch: main               # whose head runs; default: the branch checked out
        start: 2026-12-01          # first interval of a catch-up; default: the latest only

A run covers an interval, as Airflow's data interval: a tick at time T runs the interval from the
tick before T to T, and its logical date is the interval's start. Cron expressions are croniter's,
time zones and DST zoneinfo's: nothing here parses cron itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from himo.errors import PipelineError

PIPELINE_FILE = "himo.yaml"
KEYS = (
    "cron",
    "every",
    "timezone",
    "targets",
    "catchup",
    "retries",
    "retry_delay",
    "timeout",
    "max_active",
    "push",
    "export",
    "params",
    "on_failure",
    "on_success",
    "branch",
    "start",
    "desc",
)
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_BATCH = 1000  # intervals listed at once by `due` (a catch-up over years goes on next time)


@dataclass(frozen=True)
class Interval:
    """The time a scheduled run covers: [start, end), in UTC (aware datetimes with one zone compare
    by wall clock, wrong across DST); start is its logical date. `timezone`: the schedule's, for display."""

    start: datetime
    end: datetime
    timezone: str = field(default="UTC", compare=False)

    def local(self, value: datetime) -> datetime:
        return value.astimezone(ZoneInfo(self.timezone))

    def env(self, schedule: str) -> dict[str, str]:
        """What the stages of a run of this interval see in their environment (times in the
        schedule's zone)."""
        start, end = self.local(self.start).isoformat(), self.local(self.end).isoformat()
        return {
            "HIMO_SCHEDULE": schedule,
            "HIMO_LOGICAL_DATE": start,
            "HIMO_SCHEDULE_START": start,
            "HIMO_SCHEDULE_END": end,
        }


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str | None  # a cron expression (5 or 6 fields), or None for `every`
    every: timedelta | None  # a fixed period, ticks at whole multiples since 1970-01-01 (or `start`)
    timezone: str = "UTC"  # the zone cron fields and dates are read in
    targets: tuple[str, ...] = ()  # stages to repro; () is the whole pipeline
    catchup: bool = False
    retries: int = 0  # further attempts after a failure
    retry_delay: timedelta = timedelta(0)
    timeout: timedelta | None = None  # per attempt; the attempt's process group is killed after it
    max_active: int = 1  # runs of this schedule at once; later ticks wait
    push: bool | str = False  # push outputs after a success: True (default remote) or a remote name
    export: tuple[tuple[str, str], ...] = ()  # (tracked path, destination) after a success
    params: dict[str, Any] = field(default_factory=dict)  # 'key.sub' or 'file:key.sub' -> value
    on_failure: str | None = None  # a shell command, or an http(s) URL to POST the run's JSON to
    on_success: str | None = None
    branch: str | None = None  # None: the branch checked out where the scheduler runs
    start: datetime | None = None  # catch-up never goes before it
    desc: str | None = None
    line: int = 0  # in himo.yaml

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def ticks_after(self, after: datetime) -> Iterator[datetime]:
        """Tick times strictly after `after`, in order, forever."""
        if self.every is not None:
            anchor = self.start or EPOCH
            step = self.every.total_seconds()
            k = max(0, int((after - anchor).total_seconds() // step) + 1)
            while True:
                tick = anchor + timedelta(seconds=k * step)
                if tick > after:
                    yield tick.astimezone(UTC)
                k += 1
        else:
            from croniter import croniter

            it = croniter(self.cron, after.astimezone(self.zone))
            while True:
                yield it.get_next(datetime).astimezone(UTC)

    def last_tick(self, now: datetime) -> datetime:
        """The latest tick at or before `now`."""
        if self.every is not None:
            anchor = self.start or EPOCH
            step = self.every.total_seconds()
            return (anchor + timedelta(seconds=((now - anchor).total_seconds() // step) * step)).astimezone(
                UTC
            )
        from croniter import croniter

        local = now.astimezone(self.zone)
        if (
            croniter.match(self.cron, local)
            and local.microsecond == 0
            and (len(self.cron.split()) > 5 or local.second == 0)
        ):
            return local.astimezone(UTC)
        return croniter(self.cron, local).get_prev(datetime).astimezone(UTC)

    def tick_before(self, tick: datetime) -> datetime:
        if self.every is not None:
            return tick - self.every
        from croniter import croniter

        return croniter(self.cron, tick.astimezone(self.zone)).get_prev(datetime).astimezone(UTC)

    def interval_ending(self, tick: datetime) -> Interval:
        return Interval(self.tick_before(tick), tick.astimezone(UTC), self.timezone)

    def interval_from(self, start: datetime) -> Interval:
        """The interval whose logical date is `start` (a date not on a tick: up to the next tick)."""
        return Interval(start.astimezone(UTC), next(self.ticks_after(start)), self.timezone)

    def next_tick(self, now: datetime) -> datetime:
        return next(self.ticks_after(now))

    def due(self, now: datetime, last_end: datetime | None) -> list[Interval]:
        """The intervals to run at `now`, oldest first, given the end of the latest one known
        (run, running or skipped): with catchup every interval ending after it (or after `start`),
        else only the latest; none before `start`."""
        latest = self.last_tick(now)
        floor = max(filter(None, (last_end, self.start)), default=None)
        if floor is not None and latest <= floor:
            return []
        if not self.catchup or floor is None:
            interval = self.interval_ending(latest)
            return [] if self.start and interval.start < self.start else [interval]
        ends = []
        for tick in self.ticks_after(floor):
            if tick > latest or len(ends) >= MAX_BATCH:
                break
            ends.append(tick)
        return [
            self.interval_ending(t) for t in ends if not (self.start and self.tick_before(t) < self.start)
        ]


def load_schedules(root: Path, doc: Any, stage_names: list[str]) -> list[Schedule]:
    """The schedules of himo.yaml's parsed document (`doc`), checked against the stage names."""
    from himo.pipeline.yamlfile import line_of

    raw = doc.get("schedules") if isinstance(doc, dict) else None
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise PipelineError(
            f"{PIPELINE_FILE}:{line_of(doc, 'schedules')}: 'schedules' must be a mapping of name: schedule",
            f"fix {PIPELINE_FILE}",
        )
    return [parse_schedule(str(name), body, line_of(raw, name), stage_names) for name, body in raw.items()]


class _Where:
    def __init__(self, name: str, line: int) -> None:
        self.name, self.line = name, line

    def error(self, field_name: str, problem: str, hint: str) -> PipelineError:
        shown = self.name if self.name.isprintable() else repr(self.name)[1:-1]
        return PipelineError(
            f"{PIPELINE_FILE}:{self.line}: schedule '{shown}': {field_name}: {problem}", hint
        )


def parse_schedule(name: str, body: Any, line: int, stage_names: list[str]) -> Schedule:
    where = _Where(name, line)
    if not NAME_RE.match(name):
        raise where.error("name", f"invalid schedule name {name!r}", "use letters, digits, '_', '-' and '.'")
    if not isinstance(body, dict):
        raise where.error(
            "cron", "a schedule must be a mapping with 'cron' or 'every'", 'write e.g. cron: "0 6 * * *"'
        )
    for key in body:
        if key not in KEYS:
            import difflib

            close = difflib.get_close_matches(str(key), KEYS, n=1)
            raise where.error(
                str(key),
                "unknown key",
                f"did you mean '{close[0]}'?" if close else f"valid: {', '.join(KEYS)}",
            )
    timezone = _timezone(body.get("timezone", "UTC"), where)
    return Schedule(
        name=name,
        cron=_cron(body, where),
        every=_every(body, where),
        timezone=timezone,
        targets=_targets(body.get("targets"), stage_names, where),
        catchup=_flag(body, "catchup", where),
        retries=_count(body, "retries", 0, where),
        retry_delay=_duration(body, "retry_delay", where) or timedelta(0),
        timeout=_duration(body, "timeout", where, positive=True),
        max_active=_max_active(body, where),
        push=_push(body.get("push", False), where),
        export=_export(body.get("export"), where),
        params=_params(body.get("params"), where),
        on_failure=_hook(body, "on_failure", where),
        on_success=_hook(body, "on_success", where),
        branch=_text(body, "branch", where),
        start=_start(body.get("start"), timezone, where),
        desc=_text(body, "desc", where),
        line=line,
    )


def _cron(body: dict[str, Any], where: _Where) -> str | None:
    if ("cron" in body) == ("every" in body):
        raise where.error(
            "cron",
            "give either 'cron' or 'every' (exactly one)",
            'e.g. cron: "0 6 * * *" (daily at 06:00) or every: 15m',
        )
    cron = body.get("cron")
    if cron is None:
        return None
    from croniter import croniter

    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise where.error(
            "cron",
            f"{cron!r} is not a valid cron expression",
            'five fields: minute hour day-of-month month day-of-week, e.g. "0 6 * * *"',
        )
    return cron


def _every(body: dict[str, Any], where: _Where) -> timedelta | None:
    return _duration(body, "every", where, positive=True) if "every" in body else None


def parse_duration(value: Any) -> timedelta | None:
    """'90s', '5m', '1h', '2d', '1w', '250ms' or a number of seconds; None if not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return timedelta(seconds=value) if value >= 0 else None
    match = DURATION_RE.match(value) if isinstance(value, str) else None
    return timedelta(seconds=float(match[1]) * UNITS[match[2]]) if match else None


def _duration(body: dict[str, Any], key: str, where: _Where, positive: bool = False) -> timedelta | None:
    if body.get(key) is None:
        return None
    value = parse_duration(body[key])
    if value is None or (positive and value <= timedelta(0)):
        raise where.error(
            key,
            f"{body[key]!r} is not a {'positive ' if positive else ''}duration",
            "write a number and a unit: 30s, 5m, 1h, 1d",
        )
    return value


def _timezone(value: Any, where: _Where) -> str:
    try:
        if not isinstance(value, str) or not value or value.startswith(("/", ".")):
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise where.error(
            "timezone",
            f"unknown time zone {value!r}",
            "use an IANA name such as UTC, Europe/Paris or Asia/Tokyo",
        ) from None
    return value


def _targets(value: Any, stage_names: list[str], where: _Where) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise where.error("targets", "must be a list of stage names", "e.g. targets: [predict]")
    for target in value:
        if target not in stage_names and not any(n.startswith(target + "@") for n in stage_names):
            raise where.error(
                "targets", f"no stage named {target!r}", f"stages: {', '.join(stage_names) or 'none'}"
            )
    return tuple(value)


def _flag(body: dict[str, Any], key: str, where: _Where) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise where.error(key, f"{value!r} is not true or false", f"write {key}: true or {key}: false")
    return value


def _count(body: dict[str, Any], key: str, default: int, where: _Where) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise where.error(key, f"{value!r} is not a whole number >= 0", f"e.g. {key}: 2")
    return value


def _max_active(body: dict[str, Any], where: _Where) -> int:
    value = _count(body, "max_active", 1, where)
    if value < 1:
        raise where.error("max_active", "must be at least 1", "max_active: 1 runs one interval at a time")
    return value


def _push(value: Any, where: _Where) -> bool | str:
    if isinstance(value, bool) or (isinstance(value, str) and value):
        return value
    raise where.error("push", f"{value!r} is neither true/false nor a remote name", "e.g. push: true")


def _export(value: Any, where: _Where) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise where.error(
            "export",
            "must map tracked paths to destinations",
            "e.g. export: {predictions.csv: s3://bucket/predictions}",
        )
    return tuple(value.items())


def _params(value: Any, where: _Where) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise where.error("params", "must map parameter names to values", "e.g. params: {train.lr: 0.01}")
    return dict(value)


def _hook(body: dict[str, Any], key: str, where: _Where) -> str | None:
    value = _text(body, key, where)
    if value is not None and not value.strip():
        raise where.error(key, "is empty", "give a command or an http(s) URL")
    return value


def _text(body: dict[str, Any], key: str, where: _Where) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise where.error(key, f"{value!r} is not text", f"quote the value of {key}")
    if isinstance(value, str) and "\x00" in value:
        raise where.error(key, "contains a NUL character", "remove it")
    return value


def _start(value: Any, timezone: str, where: _Where) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise where.error(
                "start",
                f"{value!r} is not a date or time",
                "write an ISO date: 2026-12-01 or 2026-12-01T06:00",
            ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))


def parse_time(text: str, timezone: str = "UTC") -> datetime:
    """A time a user typed (--now, --date, --from): ISO 8601; without a zone, in `timezone`."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PipelineError(
            f"{text!r} is not a date or time",
            "write ISO 8601: 2026-12-03, 2026-12-03T06:00 or 2026-12-03T06:00+09:00",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))


def context_value(env: dict[str, str]) -> dict[str, Any]:
    """`${schedule.*}` for himo.yaml: the interval of the scheduled run this process belongs to
    (from its environment); outside one, the zero-length interval ending now, named ''."""
    start = env.get("HIMO_SCHEDULE_START")
    end = env.get("HIMO_SCHEDULE_END")
    if not start or not end:
        start = end = datetime.now(UTC).replace(microsecond=0).isoformat()
    return {
        "name": env.get("HIMO_SCHEDULE", ""),
        "start": start,
        "end": end,
        "date": start[:10],
        "attempt": int(env.get("HIMO_SCHEDULE_ATTEMPT", "0") or 0),
    }


def read_schedules(root: Path) -> list[Schedule]:
    """The schedules of root/himo.yaml (none without the file); PipelineError for a bad one."""
    from himo.pipeline.loader import parse_stages, parsed_document
    from himo.pipeline.textfile import read_text

    path = root / PIPELINE_FILE
    if not path.exists():
        return []
    text = read_text(path, PIPELINE_FILE, f"fix {PIPELINE_FILE}")
    stages = parse_stages(root, text)  # checks the schedules too
    return load_schedules(root, parsed_document(text), [s.name for s in stages])
