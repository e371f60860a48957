"""An injected clock for tests: the app reads business time from ``core.ids.utc_now``.

The clock stands still until a test moves it, so "the hold expired" or "it is a new
UTC day" is a fact the test states, not a race against the machine or midnight.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator, Optional

import pytest

from chalicelib.core import ids


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment.astimezone(timezone.utc)
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def iso(self) -> str:
        return ids.iso(self.now)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The clock stopped at the moment the test starts, installed for the test.

    Stopped, not offset: the test and the app see one "now" and one "today" even if
    the run crosses UTC midnight. It starts at the real time because a few checks
    still compare with real time (Discord snowflakes, signature windows).
    """
    yield install(monkeypatch)


def install(monkeypatch: pytest.MonkeyPatch, start: Optional[datetime] = None) -> Clock:
    c = Clock(start or datetime.now(timezone.utc))
    monkeypatch.setattr(ids, "clock", c)
    return c
