"""Who makes a grant, and each API key's daily mint budget.

A grant mints coins from nothing, so every one records its grantor on the
statement (``Grantor.by``: ``api_key:<key id>``, or ``discord:<user id>`` for a
player claiming through Discord), and an API key may mint at most the
economy's ``grant_daily_budget`` coins per UTC day through grants.

The budget is a counter ``keys.join("g", economy, key id, YYYY-MM-DD)`` in the
``market_counters`` table (the shop's per-day counters live there too),
taken by a conditional ``ADD`` that is a ``SideWrite`` of the grant's own
ledger operation. So a grant and its share of the budget commit together or
not at all: racing grants cannot overshoot by a coin (the condition decides
each one against the committed total), a refused grant leaves the counter as
it was, and a replay takes nothing (the ledger answers it from the operation
record before writing, and a racing twin's transaction is cancelled whole when
its operation record already exists). Economy and key ids hold no ``:``, so
the counter name is unambiguous.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, Optional

from chalicelib.core import errors, keys
from chalicelib.core.ids import iso, utc_now
from chalicelib.ledger import SideWrite
from chalicelib.rewards import store
from chalicelib.rewards.streaks import next_claim_at


@dataclass(frozen=True)
class Grantor:
    """Who asked for a grant: shown on the statement; an API key also pays from its budget."""

    by: str
    key_id: Optional[str] = None  # the API key whose daily budget the grant takes; None: not an API call

    @classmethod
    def api_key(cls, key_id: str) -> "Grantor":
        return cls(keys.tag("api_key", key_id), key_id)

    @classmethod
    def discord(cls, user_id: str) -> "Grantor":
        """A player claiming their own grant through Discord (no API key, no budget)."""
        return cls(keys.tag("discord", user_id))


def counter_name(economy: str, key_id: str, day: date) -> str:
    return keys.join("g", economy, key_id, day.isoformat())


def seconds_until_reset(day: date) -> int:
    """Seconds until the budget of ``day`` refills (midnight UTC after it); at least 1."""
    return max(1, math.ceil((next_claim_at(day) - utc_now()).total_seconds()))


def take(economy: str, key_id: str, amount: int, budget: int, day: date) -> SideWrite:
    """Add ``amount`` to the key's counter for ``day`` only while it stays within ``budget``.

    The refusal is GrantsDisabledError when the budget is 0, else
    GrantBudgetExceededError with what was used and when it refills.
    """
    def refuse(item: Optional[Dict[str, Any]]) -> errors.CoinhallError:
        if budget == 0:
            return errors.GrantsDisabledError(grant_daily_budget=0)
        used_today = int((item or {}).get("n", 0))
        return errors.GrantBudgetExceededError(
            key_id=key_id, budget=budget, used=used_today, requested=amount, left=max(0, budget - used_today),
            resets_at=iso(next_claim_at(day)), retry_after=seconds_until_reset(day),
        )

    return store.budget_take(counter_name(economy, key_id, day), amount, budget - amount, refuse)


def used(economy: str, key_id: str, day: date) -> int:
    """Coins the key granted on ``day`` (consistent read)."""
    return store.counter_value(counter_name(economy, key_id, day))
