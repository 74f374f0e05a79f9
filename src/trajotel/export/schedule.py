"""Scheduled exports: ``[[export.schedules]]`` run inside the collector (docs/export.md).

Each schedule is a named, incremental export run every ``every_s`` seconds or on a ``cron``
schedule (five fields, local time: minute hour day-of-month month day-of-week; ``*``, lists,
ranges and ``/step``; when both day fields are restricted a day matching either counts, as in
cron). One thread runs them one at a time; a failed run is logged and recorded (``exports``
view) and the schedule goes on. Stopping the collector stops a run in progress between
trajectories; it writes nothing and the next run starts where the last finished one ended.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trajotel.config import Config, ExportScheduleConfig
from trajotel.errors import ConfigError, TrajotelError
from trajotel.export.run import ExportCancelled, ExportSettings, export, settings_from_config
from trajotel.export.spec import build_spec, parse_given
from trajotel.store import Store
from trajotel.store import exports as ledger

log = logging.getLogger(__name__)

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class Cron:
    """A five-field cron expression."""

    def __init__(self, text: str) -> None:
        self.text = text
        fields = _ALIASES.get(text.strip(), text).split()
        if len(fields) != 5:
            raise ValueError(f"{text!r} has {len(fields)} fields, not 5 (minute hour day month weekday)")
        self.sets = [_field(f, name, low, high) for f, (name, low, high) in zip(fields, _FIELDS, strict=True)]
        self.sets[4] = {d % 7 for d in self.sets[4]}  # 7 is Sunday too
        self.any_day = fields[2] == "*"
        self.any_weekday = fields[4] == "*"

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.sets[2]
        dow = (moment.isoweekday() % 7) in self.sets[4]
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment`` (naive local time)."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = candidate + timedelta(days=366 * 5)  # e.g. 29 February on a Monday
        while candidate < limit:
            if candidate.month not in self.sets[3]:
                candidate = (candidate.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(candidate):
                candidate = candidate.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if candidate.hour not in self.sets[1]:
                candidate = candidate.replace(minute=0) + timedelta(hours=1)
                continue
            if candidate.minute not in self.sets[0]:
                candidate += timedelta(minutes=1)
                continue
            return candidate
        raise ValueError(f"cron {self.text!r} never matches")


def _field(text: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    top = 7 if name == "day of week" else high
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = end = int(base)
                if step_text:
                    end = high
        except ValueError:
            raise ValueError(f"{name} field {text!r} is not a number, range, list or step") from None
        if step < 1 or not low <= start <= end <= top:
            raise ValueError(f"{name} field {text!r} is out of range {low}-{top}")
        values.update(range(start, end + 1, step))
    return values


@dataclass
class Schedule:
    name: str
    given: dict[str, Any]  # the export's options (trajotel.export.spec.given_options)
    every_s: float = 0.0
    cron: Cron | None = None
    next_at: float = 0.0  # time.time() of the next run

    def due_after(self, last_started: float | None, now: float) -> float:
        if self.cron is not None:
            after = datetime.fromtimestamp(max(now, last_started or 0.0))
            return self.cron.next_after(after).timestamp()
        return now if last_started is None else max(now, last_started + self.every_s)


def load_schedules(configs: list[ExportScheduleConfig]) -> list[Schedule]:
    """The enabled schedules, checked: a bad one stops the collector's start with its reason."""
    out: list[Schedule] = []
    names: set[str] = set()
    for i, item in enumerate(configs):
        where = f"[[export.schedules]] #{i + 1}" + (f" ({item.name})" if item.name else "")
        if not item.enabled:
            continue
        if not item.name:
            raise ConfigError(f"{where}: name is required", hint="a schedule is a named, incremental export")
        if item.name in names:
            raise ConfigError(f"{where}: the name {item.name!r} is used by another schedule")
        names.add(item.name)
        if (item.every_s > 0) == bool(item.cron.strip()):
            raise ConfigError(
                f"{where}: set either every_s (> 0) or cron", hint='e.g. every_s = 3600 or cron = "0 3 * * *"'
            )
        try:
            cron = Cron(item.cron) if item.cron.strip() else None
        except ValueError as exc:
            raise ConfigError(f"{where}: cron: {exc}") from None
        try:
            given = {**parse_given(item.options), "name": item.name}
            build_spec(given)  # checks every option now
        except TrajotelError as exc:
            raise ConfigError(f"{where}: options: {exc}", hint=exc.hint) from None
        out.append(Schedule(item.name, given, item.every_s, cron))
    return out


class ExportScheduler(threading.Thread):
    def __init__(self, store: Store, schedules: list[Schedule], settings: ExportSettings) -> None:
        super().__init__(name="trajotel-exports", daemon=True)
        self.store = store
        self.schedules = schedules
        self.settings = settings
        self.runs = 0
        self.failures = 0
        self.cancel = threading.Event()  # set by stop(): a run in progress ends, writing nothing
        self._wake = threading.Event()

    @classmethod
    def from_config(cls, config: Config, store: Store) -> ExportScheduler | None:
        schedules = load_schedules(config.export.schedules)
        if not schedules:
            return None
        return cls(store, schedules, settings_from_config(config))

    def _plan(self) -> None:
        now = time.time()
        for schedule in self.schedules:
            try:
                started = [
                    r.started_at_ns for r in ledger.runs(self.store, schedule.name) if r.status == ledger.DONE
                ]
            except TrajotelError:
                log.exception("export %s: cannot read its runs; running it now", schedule.name)
                started = []
            schedule.next_at = schedule.due_after(max(started) / 1e9 if started else None, now)

    def run(self) -> None:
        self._plan()
        while not self.cancel.is_set():
            schedule = min(self.schedules, key=lambda s: s.next_at)
            wait = schedule.next_at - time.time()
            if wait > 0:
                self._wake.wait(min(wait, 60.0))  # re-check: clocks move (suspend, DST)
                self._wake.clear()
                continue
            started = time.time()
            self._run_one(schedule)
            schedule.next_at = schedule.due_after(started, time.time())

    def _run_one(self, schedule: Schedule) -> None:
        try:
            manifest = export(self.store, schedule.given, self.settings, cancel=self.cancel)
            self.runs += 1
            counts = manifest["counts"]
            if counts["trajectories"]:
                log.info(
                    "export %s run %s: %d trajectories, %d records",
                    schedule.name,
                    manifest["run"],
                    counts["trajectories"],
                    counts["records"],
                )
        except ExportCancelled:
            log.info("export %s stopped with the collector; its next run starts over", schedule.name)
        except Exception:  # one failed run must not end the schedule
            self.failures += 1
            log.exception("export %s failed; next try at its next time", schedule.name)

    def stop(self) -> None:
        self.cancel.set()
        self._wake.set()
