"""Scheduled exports: cron expressions, the ``[[export.schedules]]`` configuration and its checks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from trajotel.config import ExportScheduleConfig, load_config
from trajotel.errors import ConfigError
from trajotel.export.schedule import Cron, ExportScheduler, Schedule, load_schedules
from trajotel.store import Store

MONDAY = datetime(2026, 6, 1, 10, 7, 30)  # Monday 1 June 2026, 10:07:30


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", MONDAY, datetime(2026, 6, 1, 10, 15)),
        ("0 3 * * *", MONDAY, datetime(2026, 6, 2, 3, 0)),
        ("30 2 1 * *", MONDAY, datetime(2026, 7, 1, 2, 30)),
        ("0 0 * * 6,0", MONDAY, datetime(2026, 6, 6, 0, 0)),  # Saturday
        ("0 9-17/4 * * 1-5", MONDAY, datetime(2026, 6, 1, 13, 0)),
        ("0 0 13 * 5", MONDAY, datetime(2026, 6, 5, 0, 0)),  # the 13th or a Friday, as cron does
        ("0 0 29 2 *", MONDAY, datetime(2028, 2, 29, 0, 0)),
        ("@hourly", MONDAY, datetime(2026, 6, 1, 11, 0)),
        ("7 10 * * *", MONDAY, datetime(2026, 6, 2, 10, 7)),  # strictly after
        ("0 0 * * 7", MONDAY, datetime(2026, 6, 7, 0, 0)),  # 7 is Sunday
        ("59 23 31 12 *", datetime(2026, 12, 31, 23, 59), datetime(2027, 12, 31, 23, 59)),
    ],
)
def test_cron_next_time(expression: str, after: datetime, expected: datetime) -> None:
    assert Cron(expression).next_after(after) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "minute field '61' is out of range 0-59"),
        ("* * *", "has 3 fields, not 5"),
        ("x * * * *", "minute field 'x' is not a number"),
        ("*/0 * * * *", "out of range"),
        ("0 0 31 2 *", "never matches"),
    ],
)
def test_bad_cron_expressions(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cron(expression).next_after(MONDAY)


def test_schedules_come_from_arrays_of_tables(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[export]
page_size = 50

[[export.schedules]]
name = "a"
options = "--format trajotel --out a"
every_s = 60

[[export.schedules]]
name = "b"
options = "--format openai-sft --out b --max-turns 4"
cron = "0 3 * * *"
enabled = false
"""
    )
    config = load_config(path, environ={})
    assert config.export.page_size == 50
    assert config.export.schedules == [
        ExportScheduleConfig(name="a", options="--format trajotel --out a", every_s=60.0),
        ExportScheduleConfig(
            name="b", options="--format openai-sft --out b --max-turns 4", cron="0 3 * * *", enabled=False
        ),
    ]
    (only,) = load_schedules(config.export.schedules)  # b is not enabled
    assert only.name == "a" and only.given == {"format": "trajotel", "out": "a", "name": "a"}
    path.write_text('[[export.schedules]]\nname = "a"\nevry_s = 1\n')
    with pytest.raises(ConfigError, match=r"schedules\[0\]\.evry_s: unknown setting"):
        load_config(path, environ={})
    path.write_text('[export]\nschedules = "daily"\n')
    with pytest.raises(ConfigError, match="expected an array of tables"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (ExportScheduleConfig(options="--format trajotel --out x", every_s=1), "name is required"),
        (ExportScheduleConfig(name="a", options="--format trajotel --out x"), "set either every_s"),
        (
            ExportScheduleConfig(name="a", options="--format trajotel --out x", every_s=1, cron="* * * * *"),
            "either",
        ),
        (
            ExportScheduleConfig(name="a", options="--format trajotel --out x", cron="99 * * * *"),
            "cron: minute",
        ),
        (
            ExportScheduleConfig(name="a", options="--format trajotel --out x --max-turns no", every_s=1),
            "options:",
        ),
        (ExportScheduleConfig(name="a", options="--out x", every_s=1), "--format and --out are required"),
        (
            ExportScheduleConfig(name="bad name", options="--format trajotel --out x", every_s=1),
            "export name",
        ),
    ],
)
def test_bad_schedules_stop_the_start(schedule: ExportScheduleConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_schedules([schedule])
    twice = ExportScheduleConfig(name="a", options="--format trajotel --out x", every_s=1)
    with pytest.raises(ConfigError, match="used by another schedule"):
        load_schedules([twice, twice])


def test_due_times(store: Store, tmp_path: Path) -> None:
    every = Schedule("a", {}, every_s=60.0)
    assert every.due_after(None, 1000.0) == 1000.0  # never ran: now
    assert every.due_after(990.0, 1000.0) == 1050.0
    assert every.due_after(100.0, 1000.0) == 1000.0  # overdue: now
    config = load_config(environ={}, data_dir=tmp_path)
    assert ExportScheduler.from_config(config, store) is None  # no schedules, no thread
    config.export.schedules = [ExportScheduleConfig(name="a", options="--format trajotel --out x", every_s=5)]
    scheduler = ExportScheduler.from_config(config, store)
    assert scheduler is not None and scheduler.settings.base_dir == tmp_path / "exports"
    config.export.page_size = 9000
    with pytest.raises(ConfigError, match="page_size must be from 1 to 5000"):
        ExportScheduler.from_config(config, store)
