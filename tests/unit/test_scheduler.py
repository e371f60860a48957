"""Local timers: EventBridge expressions, when jobs are due, and the serve loop."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import List

import pytest

from chalicelib.runtime.scheduler import Schedule, ScheduleError, Timers, serve

T0 = datetime(2026, 3, 2, 10, 0, 30, tzinfo=timezone.utc)  # a Monday


def test_rates() -> None:
    assert Schedule.parse("rate(1 minute)").next_after(T0) == T0 + timedelta(minutes=1)
    assert Schedule.parse("rate(2 hours)").next_after(T0) == T0 + timedelta(hours=2)
    assert Schedule.parse("rate(1 day)").interval == timedelta(days=1)


@pytest.mark.parametrize("expression, expected", [
    ("cron(30 3 * * ? *)", datetime(2026, 3, 3, 3, 30, tzinfo=timezone.utc)),
    ("cron(10 0 * * ? *)", datetime(2026, 3, 3, 0, 10, tzinfo=timezone.utc)),
    ("cron(0/15 * * * ? *)", datetime(2026, 3, 2, 10, 15, tzinfo=timezone.utc)),
    ("cron(0 12 ? * MON-FRI *)", datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)),
    ("cron(0 8 ? * SUN *)", datetime(2026, 3, 8, 8, 0, tzinfo=timezone.utc)),
    ("cron(0 0 1 JAN,JUL ? *)", datetime(2026, 7, 1, 0, 0, tzinfo=timezone.utc)),
    ("cron(5,35 10 * * ? 2026)", datetime(2026, 3, 2, 10, 5, tzinfo=timezone.utc)),
])
def test_cron_next_fire(expression: str, expected: datetime) -> None:
    assert Schedule.parse(expression).next_after(T0) == expected


@pytest.mark.parametrize("expression", [
    "every minute", "rate(0 minutes)", "rate(5 weeks)", "cron(* * * *)", "cron(61 * * * ? *)",
    "cron(0 0 L * ? *)", "cron(0 0 ? * 2#1 *)", "cron(0/0 * * * ? *)", "cron(0 0 * * ? 1900)",
])
def test_unreadable_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        Schedule.parse(expression)


def test_every_registered_job_has_a_schedule_the_local_runner_reads() -> None:
    from chalicelib.runtime.jobs import JOBS

    for spec in JOBS.values():
        Schedule.parse(spec.schedule).next_after(T0)
    assert {"reconcile", "reconcile-full", "expire-purchases", "digest", "expire-holds"} <= set(JOBS)


def test_timers_start_due_jobs_once_and_never_twice_at_a_time() -> None:
    started: List[str] = []
    release, slow_running = threading.Event(), threading.Event()

    def run(name: str) -> None:
        started.append(name)
        if name == "slow":
            slow_running.set()
            release.wait(5)

    timers = Timers({"fast": "rate(1 minute)", "slow": "rate(1 minute)", "nightly": "cron(30 3 * * ? *)"}, run, T0)
    assert timers.tick(T0) == []  # a rate job first fires one interval after start
    assert sorted(timers.tick(T0 + timedelta(minutes=1))) == ["fast", "slow"]
    assert slow_running.wait(5)  # it is inside its run: the next tick must skip it
    assert timers.tick(T0 + timedelta(minutes=2)) == ["fast"]  # slow is still running: skipped
    assert timers.skipped == ["slow"]
    release.set()
    timers.join()
    assert sorted(timers.tick(T0 + timedelta(hours=17, minutes=30))) == ["fast", "nightly", "slow"]
    timers.join()


def test_a_failing_job_does_not_stop_the_timers() -> None:
    def run(name: str) -> None:
        raise RuntimeError("boom")

    timers = Timers({"bad": "rate(1 minute)"}, run, T0)
    timers.tick(T0 + timedelta(minutes=1))
    timers.join()
    assert timers.tick(T0 + timedelta(minutes=2)) == ["bad"]
    timers.join()


def test_serve_refuses_unknown_jobs_and_stops_when_asked(monkeypatch) -> None:
    from chalicelib.runtime import jobs

    with pytest.raises(KeyError):
        serve(["no-such-job"])
    ran: List[str] = []
    first_run = threading.Event()

    def run_job(name: str, **_: object) -> None:
        ran.append(name)
        first_run.set()

    monkeypatch.setattr(jobs, "run_job", run_job)
    clock = iter([T0] + [T0 + timedelta(minutes=1, seconds=i) for i in range(1000)])
    stop = threading.Event()
    thread = threading.Thread(target=serve, kwargs={"only": ["expire-holds"], "stop": stop,
                                                     "clock": lambda: next(clock), "poll": 0.01})
    thread.start()
    assert first_run.wait(5)
    stop.set()
    thread.join(5)
    assert ran and set(ran) == {"expire-holds"} and not thread.is_alive()
