"""`schedules:` in himo.yaml: parsing, load-time errors, and which intervals are due when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from himo.errors import PipelineError
from himo.pipeline.schedules import parse_schedule, read_schedules
from tests.api.helpers import assert_error
from tests.conftest import Himo, write

STAGES = ["prepare", "predict", "train@a", "train@b"]
TOKYO = ZoneInfo("Asia/Tokyo")


def sched(**body: object):  # type: ignore[no-untyped-def]
    return parse_schedule("s", body, 7, STAGES)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"cron": "61 * * * *"},
            "himo.yaml:7: schedule 's': cron: '61 * * * *' is not a valid cron expression",
        ),
        (
            {"cron": "0 6 * * *", "timezone": "Mars/Olympus"},
            "schedule 's': timezone: unknown time zone 'Mars/Olympus'",
        ),
        ({"cron": "0 6 * * *", "timezone": "../../etc/passwd"}, "timezone: unknown time zone"),
        ({"cron": "0 6 * * *", "targets": ["predcit"]}, "schedule 's': targets: no stage named 'predcit'"),
        ({"cron": "0 6 * * *", "retries": -1}, "schedule 's': retries: -1 is not a whole number >= 0"),
        ({"every": "0s"}, "every: '0s' is not a positive duration"),
        ({"cron": "0 6 * * *", "every": "1h"}, "cron: give either 'cron' or 'every'"),
        ({"cron": "0 6 * * *", "max_active": 0}, "max_active: must be at least 1"),
        ({"cron": "0 6 * * *", "retry_delay": "soon"}, "retry_delay: 'soon' is not a duration"),
        ({"cron": "0 6 * * *", "catchup": "yes"}, "catchup: 'yes' is not true or false"),
        ({"cron": "0 6 * * *", "cronn": 1}, "cronn: unknown key"),
    ],
)
def test_bad_schedules_are_refused_naming_schedule_and_field(body: dict, message: str) -> None:
    with pytest.raises(PipelineError) as error:
        sched(**body)
    assert message in error.value.message
    assert "\n" not in error.value.message


def test_status_reports_a_bad_schedule_at_load_time(repo: Path, himo: Himo) -> None:
    write(
        repo / "himo.yaml",
        "stages:\n  a:\n    cmd: echo\nschedules:\n  nightly:\n    cron: '0 6 * * *'\n    retries: -2\n",
    )
    proc = himo("status", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (
        "Error: himo.yaml:5: schedule 'nightly': retries: -2 is not a whole number >= 0"
    )
    assert himo("repro", ok=False).returncode == 1  # every load of the pipeline checks them


def test_a_full_schedule_reads_back(repo: Path) -> None:
    write(
        repo / "himo.yaml",
        "stages:\n  predict:\n    cmd: echo\nschedules:\n  daily:\n"
        "    cron: '0 6 * * *'\n    timezone: Asia/Tokyo\n    targets: [predict]\n    retries: 2\n"
        "    retry_delay: 5m\n    timeout: 1h\n    push: storage\n    export: {out.csv: /tmp/x}\n"
        "    params: {lr: 0.1}\n    on_failure: ./notify.sh\n    start: 2026-12-01\n",
    )
    (daily,) = read_schedules(repo)
    assert (daily.retries, daily.retry_delay, daily.timeout) == (2, timedelta(minutes=5), timedelta(hours=1))
    assert daily.push == "storage" and daily.export == (("out.csv", "/tmp/x"),)
    assert daily.start == datetime(2026, 12, 1, tzinfo=TOKYO)


def test_a_foreach_base_name_is_a_target() -> None:
    assert sched(cron="0 6 * * *", targets=["train"]).targets == ("train",)


def test_interval_is_airflows_data_interval() -> None:
    daily = sched(cron="0 6 * * *", timezone="Asia/Tokyo")
    now = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    (interval,) = daily.due(now, None)
    assert interval.start == datetime(2026, 12, 2, 6, tzinfo=TOKYO)
    assert interval.env("daily")["HIMO_LOGICAL_DATE"] == "2026-12-02T06:00:00+09:00"
    assert interval.end == datetime(2026, 12, 3, 6, tzinfo=TOKYO)
    assert daily.due(now, interval.end) == []  # done: nothing due until the next tick
    assert daily.next_tick(now) == datetime(2026, 12, 4, 6, tzinfo=TOKYO)


def test_catchup_lists_every_missed_interval_in_order_and_without_only_the_latest() -> None:
    now = datetime(2026, 12, 5, 7, tzinfo=UTC)
    last = datetime(2026, 12, 2, 6, tzinfo=UTC)
    eager = sched(cron="0 6 * * *", catchup=True)
    assert [i.start.day for i in eager.due(now, last)] == [2, 3, 4]
    lazy = sched(cron="0 6 * * *")
    assert [i.start.day for i in lazy.due(now, last)] == [4]


def test_catchup_starts_at_start() -> None:
    s = sched(cron="0 6 * * *", catchup=True, start="2026-12-01T06:00+00:00")
    assert [i.start.day for i in s.due(datetime(2026, 12, 4, 6, tzinfo=UTC), None)] == [1, 2, 3]


def test_every_ticks_on_whole_multiples() -> None:
    s = sched(every="15m")
    (interval,) = s.due(datetime(2026, 12, 3, 10, 7, 30, tzinfo=UTC), None)
    assert (interval.start.minute, interval.end.minute) == (45, 0)
    assert sched(every="1s").next_tick(datetime(2026, 12, 3, 10, 0, 0, 500000, tzinfo=UTC)).second == 1


def test_daylight_saving_time_by_zoneinfo() -> None:
    """Paris springs forward on 2026-03-29: 06:00 local is 04:00 UTC after, 05:00 UTC before."""
    s = sched(cron="0 6 * * *", timezone="Europe/Paris")
    before = s.next_tick(datetime(2026, 3, 28, 0, tzinfo=UTC))
    after = s.next_tick(datetime(2026, 3, 29, 0, tzinfo=UTC))
    assert before.astimezone(UTC).hour == 5 and after.astimezone(UTC).hour == 4
    assert s.interval_ending(after).end - s.interval_ending(after).start == timedelta(hours=23)


def test_alias_bomb_in_schedules_is_the_one_line_yaml_error(repo: Path, himo: Himo) -> None:
    """`schedules:` is read by himo.workspace.yamlload like the rest of himo.yaml: a billion laughs
    under it is refused before anything expands it, by every command reading schedules."""
    from tests.pipeline.test_yaml_bounds import BOMB

    bomb = "".join(f"  {line}\n" for line in BOMB.splitlines())
    text = "stages:\n  predict:\n    cmd: echo ok > out.txt\n    outs: [out.txt]\nschedules:\n" + bomb
    write(repo / "himo.yaml", text)
    for command in (["scheduler", "--once"], ["schedule", "list"], ["status"]):
        proc = himo(*command, ok=False)
        assert_error(proc, "himo.yaml:1: invalid YAML: aliases expand the document to 490,329,075 nodes"
                           " (more than 100,000): an alias bomb?")
        assert len(proc.stderr.splitlines()) == 2, command  # the message, then its hint
    assert (repo / "himo.yaml").read_text() == text
