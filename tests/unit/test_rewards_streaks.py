"""Streak math over calendar boundaries: property tests and worked examples."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.rewards.streaks import MILESTONES, DailyRule, badges_after, next_claim_at, next_streak
from chalicelib.rewards.streaks import daily_grant_amount as daily_reward

pytestmark = pytest.mark.unit

days = st.dates(min_value=date(1970, 1, 1), max_value=date(2400, 12, 31))
# Days that sit on a boundary: the last day of a month or a year, and leap days.
month_ends = st.builds(lambda y, m: date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1),
                       st.integers(1970, 2400), st.integers(1, 12))
rules = st.builds(DailyRule, st.integers(0, 1000), st.integers(0, 100), st.integers(1, 10_000))


@given(days, st.integers(0, 10_000))
def test_the_day_after_continues_the_streak(last: date, streak: int) -> None:
    assert next_streak(last, streak, last + timedelta(days=1)) == streak + 1


@given(month_ends, st.integers(0, 10_000))
def test_month_and_year_ends_continue_into_the_next_day(last: date, streak: int) -> None:
    following = last + timedelta(days=1)
    assert following.day == 1  # we really crossed a month (or a year) boundary
    assert next_streak(last, streak, following) == streak + 1


@given(days, st.integers(2, 5000), st.integers(0, 10_000))
def test_a_missed_day_restarts_at_one(last: date, gap: int, streak: int) -> None:
    assert next_streak(last, streak, last + timedelta(days=gap)) == 1


@given(days, st.integers(0, 3000), st.integers(0, 100))
def test_a_claim_on_or_before_the_last_one_is_refused(last: date, back: int, streak: int) -> None:
    with pytest.raises(ValueError):
        next_streak(last, streak, last - timedelta(days=back))


@given(days)
def test_the_first_claim_starts_at_one(today: date) -> None:
    assert next_streak(None, 0, today) == 1


@given(st.lists(days, min_size=1, max_size=60, unique=True))
@settings(max_examples=200)
def test_replaying_any_claim_history_gives_the_length_of_the_last_run(claims: List[date]) -> None:
    claims.sort()
    streak, last = 0, None
    for day in claims:
        streak = next_streak(last, streak, day)
        last = day
    run = 1
    for earlier, later in zip(reversed(claims[:-1]), reversed(claims)):
        if later - earlier != timedelta(days=1):
            break
        run += 1
    assert streak == run


@given(days, st.integers(1, 400))
def test_a_run_of_consecutive_days_counts_every_day(start: date, length: int) -> None:
    streak, last = 0, None
    for offset in range(length):
        day = start + timedelta(days=offset)
        streak = next_streak(last, streak, day)
        last = day
    assert streak == length


@pytest.mark.parametrize("last, today, continues", [
    (date(2024, 1, 31), date(2024, 2, 1), True),
    (date(2024, 2, 28), date(2024, 2, 29), True),  # leap day
    (date(2024, 2, 29), date(2024, 3, 1), True),
    (date(2024, 2, 28), date(2024, 3, 1), False),  # skipped the leap day
    (date(2023, 2, 28), date(2023, 3, 1), True),  # no leap day that year
    (date(2100, 2, 28), date(2100, 3, 1), True),  # 2100 is not a leap year
    (date(2000, 2, 28), date(2000, 3, 1), False),  # 2000 is
    (date(2023, 12, 31), date(2024, 1, 1), True),
    (date(2023, 12, 30), date(2024, 1, 1), False),
    (date(2024, 4, 30), date(2024, 5, 1), True),
])
def test_worked_boundary_examples(last: date, today: date, continues: bool) -> None:
    assert next_streak(last, 9, today) == (10 if continues else 1)


@given(rules, st.integers(1, 100_000))
def test_reward_is_base_plus_bonus_and_capped(rule: DailyRule, streak: int) -> None:
    reward = daily_reward(streak, rule)
    assert reward == min(rule.cap, rule.base + rule.streak_bonus * (streak - 1))
    assert reward <= rule.cap
    assert isinstance(reward, int)


@given(rules, st.integers(1, 10_000))
def test_reward_never_shrinks_as_the_streak_grows(rule: DailyRule, streak: int) -> None:
    assert daily_reward(streak + 1, rule) >= daily_reward(streak, rule)


def test_default_rule_amounts() -> None:
    rule = DailyRule()
    assert [daily_reward(s, rule) for s in (1, 2, 3, 20, 21, 22, 100)] == [10, 12, 14, 48, 50, 50, 50]
    with pytest.raises(ValueError):
        daily_reward(0, rule)


@given(st.integers(1, 500), st.lists(st.sampled_from(["streak_7", "streak_30", "streak_100", "early"]), unique=True))
def test_badges_are_earned_at_milestones_and_kept(streak: int, held: List[str]) -> None:
    badges = badges_after(streak, held)
    assert badges[:len(held)] == held  # nothing lost, order kept
    for milestone in MILESTONES:
        assert (f"streak_{milestone}" in badges) == (streak >= milestone or f"streak_{milestone}" in held)
    assert badges_after(streak, badges) == badges  # earning twice adds nothing
    assert len(set(badges)) == len(badges)


@given(days)
def test_next_claim_opens_at_the_next_utc_midnight(today: date) -> None:
    opens = next_claim_at(today)
    assert opens.tzinfo == timezone.utc
    assert opens == datetime(today.year, today.month, today.day, tzinfo=timezone.utc) + timedelta(days=1)
