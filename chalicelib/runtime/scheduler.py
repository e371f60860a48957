"""Local timers: every registered job on its schedule, in one process.

On AWS, EventBridge fires each job (``routes/schedules.py``). ``chalice
local`` serves HTTP only, so ``make run`` starts ``python -m chalicelib.cli jobs
serve`` next to it: this loop reads the same registry (``jobs.JOBS``, filled by
``chalicelib/wiring.py``, which the CLI loads) and the
same expressions, and runs each job with ``jobs.run_job`` when it is due.

Expressions are EventBridge's: ``rate(N minute|minutes|hour|hours|day|days)``
and ``cron(minutes hours day-of-month month day-of-week year)`` with ``*``,
``?``, lists, ranges and steps (``L``, ``W`` and ``#`` are not supported here),
in UTC. A rate job first runs one interval after start, as on AWS.

A job that is still running when it is due again is not started twice; each
runs in its own thread, so a slow one does not hold the others back.
"""
from __future__ import annotations

import logging
import re
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, Iterable, List, Optional, Set

from chalicelib.runtime import jobs

log = logging.getLogger("coinhall.scheduler")

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}


class ScheduleError(ValueError):
    """A schedule expression this runner cannot read."""


def _field(text: str, low: int, high: int, names: Optional[Dict[str, int]] = None) -> Optional[Set[int]]:
    """The values a cron field allows; None for "any" (``*`` or ``?``)."""
    if text in ("*", "?"):
        return None
    allowed: Set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"bad step in {text!r}")
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleError(f"{text!r} is outside {low}-{high}")
        allowed.update(range(start, end + 1, step))
    return allowed


def _value(text: str, names: Optional[Dict[str, int]]) -> int:
    upper = text.upper()
    if names and upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleError(f"unsupported cron value {text!r} (L, W and # are not supported locally)")
    return int(text)


@dataclass(frozen=True)
class Schedule:
    """When a job is due, from its EventBridge expression."""

    expression: str
    interval: Optional[timedelta] = None
    minutes: Optional[Set[int]] = None
    hours: Optional[Set[int]] = None
    days: Optional[Set[int]] = None
    months: Optional[Set[int]] = None
    weekdays: Optional[Set[int]] = None  # 1 = Sunday, as EventBridge counts
    years: Optional[Set[int]] = None

    @classmethod
    def parse(cls, expression: str) -> "Schedule":
        """Raises ScheduleError."""
        text = expression.strip()
        rate = _RATE.match(text)
        if rate:
            n, unit = int(rate.group(1)), rate.group(2).rstrip("s")
            if n < 1:
                raise ScheduleError(f"{expression!r}: a rate must be at least 1")
            return cls(text, interval=timedelta(**{f"{unit}s": n}))
        cron = _CRON.match(text)
        if not cron:
            raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")
        fields = cron.group(1).split()
        if len(fields) != 6:
            raise ScheduleError(f"{expression!r}: cron needs 6 fields (min hour day month weekday year)")
        return cls(
            text,
            minutes=_field(fields[0], 0, 59),
            hours=_field(fields[1], 0, 23),
            days=_field(fields[2], 1, 31),
            months=_field(fields[3], 1, 12, _MONTHS),
            weekdays=_field(fields[4], 1, 7, _DAYS),
            years=_field(fields[5], 1970, 2199),
        )

    def matches(self, moment: datetime) -> bool:
        """Whether a cron schedule fires in ``moment``'s minute (UTC)."""
        weekday = (moment.isoweekday() % 7) + 1  # Monday=2 ... Sunday=1
        checks = ((self.minutes, moment.minute), (self.hours, moment.hour), (self.days, moment.day),
                  (self.months, moment.month), (self.weekdays, weekday), (self.years, moment.year))
        return all(allowed is None or value in allowed for allowed, value in checks)

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after ``moment`` this schedule fires (rate: one interval on)."""
        if self.interval is not None:
            return moment + self.interval
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(60 * 24 * 366 * 5):
            if self.matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        raise ScheduleError(f"{self.expression!r} never fires")


Runner = Callable[[str], object]


class Timers:
    """Which job is due when; ``tick(now)`` starts the due ones (each in a thread)."""

    def __init__(self, schedules: Dict[str, str], run: Runner, start: datetime) -> None:
        self._run = run
        self.schedules = {name: Schedule.parse(expr) for name, expr in schedules.items()}
        self.next_at = {name: s.next_after(start) for name, s in self.schedules.items()}
        self.running: Dict[str, threading.Thread] = {}
        self.started: List[str] = []  # names, in the order they were started (tests read it)
        self.skipped: List[str] = []

    def tick(self, now: datetime) -> List[str]:
        """Start every job due at ``now``; returns their names."""
        due = []
        for name, at in sorted(self.next_at.items(), key=lambda kv: kv[1]):
            if at > now:
                continue
            self.next_at[name] = self.schedules[name].next_after(now)
            thread = self.running.get(name)
            if thread is not None and thread.is_alive():
                self.skipped.append(name)
                log.warning("job %s is still running; this firing is skipped", name)
                continue
            thread = threading.Thread(target=self._guarded, args=(name,), name=f"job-{name}", daemon=True)
            self.running[name] = thread
            self.started.append(name)
            thread.start()
            due.append(name)
        return due

    def _guarded(self, name: str) -> None:
        try:
            self._run(name)
        except Exception:  # one job's failure must not stop the timers; it is logged with its job id
            log.exception("scheduled job %s failed", name)

    def join(self, timeout: float = 30.0) -> None:
        for thread in list(self.running.values()):
            thread.join(timeout)


def serve(only: Optional[Iterable[str]] = None, stop: Optional[threading.Event] = None,
          clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), poll: float = 1.0) -> int:
    """Run the registered jobs on their schedules until ``stop`` is set (or SIGINT/SIGTERM).

    Raises KeyError for an unknown job name, ScheduleError for an unreadable schedule.
    """
    names = list(only) if only else sorted(jobs.JOBS)
    unknown = [n for n in names if n not in jobs.JOBS]
    if unknown:
        raise KeyError(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(sorted(jobs.JOBS))}")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    timers = Timers({n: jobs.JOBS[n].schedule for n in names}, lambda name: jobs.run_job(name), clock())
    log.info("local timers started", extra={"jobs": {n: jobs.JOBS[n].schedule for n in names},
                                            "next": {n: t.isoformat() for n, t in timers.next_at.items()}})
    while not stop.is_set():
        timers.tick(clock())
        stop.wait(poll)
    log.info("local timers stopping; waiting for running jobs")
    timers.join()
    return 0
