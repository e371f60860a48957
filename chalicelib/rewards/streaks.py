"""Daily-claim streak math: pure functions over UTC calendar days.

A claim day is a UTC date. The streak continues when the previous claim was on
the day before (whatever the month, year or leap day in between), and restarts
at 1 otherwise. The grant is ``base + bonus x (streak - 1)``, capped; badges
are earned when the streak reaches a milestone and are kept for good.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, List, Optional, Tuple

MILESTONES: Tuple[int, ...] = (7, 30, 100)


@dataclass(frozen=True)
class DailyRule:
    """An economy's daily tunables (coins)."""

    base: int = 10
    streak_bonus: int = 2
    cap: int = 50


def next_streak(last_claim: Optional[date], streak: int, today: date) -> int:
    """The streak after claiming on ``today``.

    Raises ValueError when ``today`` is not after ``last_claim`` (already claimed,
    or a clock that went backwards): the caller must not pay twice.
    """
    if last_claim is None:
        return 1
    if today <= last_claim:
        raise ValueError(f"claim on {today} is not after the last claim on {last_claim}")
    return streak + 1 if today - last_claim == timedelta(days=1) else 1


def daily_grant_amount(streak: int, rule: DailyRule) -> int:
    """Coins for a claim that makes the streak ``streak`` (>= 1). Raises ValueError below 1."""
    if streak < 1:
        raise ValueError("a streak starts at 1")
    return min(rule.cap, rule.base + rule.streak_bonus * (streak - 1))


def badges_after(streak: int, held: Iterable[str] = ()) -> List[str]:
    """Badges held after reaching ``streak``: the old ones plus any milestone reached."""
    badges = list(dict.fromkeys(held))
    for milestone in MILESTONES:
        name = badge_name(milestone)
        if streak >= milestone and name not in badges:
            badges.append(name)
    return badges


def badge_name(milestone: int) -> str:
    return f"streak_{milestone}"


def next_claim_at(today: date) -> datetime:
    """When the next claim opens: midnight UTC after ``today``."""
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=timezone.utc)


def parse_day(text: Optional[str]) -> Optional[date]:
    return date.fromisoformat(text) if text else None
