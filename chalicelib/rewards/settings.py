"""Per-economy grant settings: the coins each grant pays, and the API keys' grant budget.

Stored in the economy's ``tunables`` map (shared with the spending rates),
defaults in ``GrantSettings``. (The names and the route say "reward": ``quest_reward``,
``GET /v1/admin/reward-settings``; they are public and stay.) Every value is an integer from 0 to the
ledger's ``MAX_AMOUNT``: that bound is checked where a value enters (the admin
route, ``set_tunables``) and again where one is read, so a value written to the
table by hand that the ledger could not post falls back to its default instead
of failing every claim. Changing them is an operator action, audited in the
same transaction.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping

from chalicelib.core import errors, keys
from chalicelib.ledger import MAX_AMOUNT
from chalicelib.rewards import store
from chalicelib.rewards.streaks import DailyRule
from chalicelib.tenancy.audit import audit_write


@dataclass(frozen=True)
class GrantSettings:
    """Coins per grant, and the grant budget; an economy overrides any of them in its ``tunables`` map."""

    daily_base: int = 10
    daily_streak_bonus: int = 2  # per streak day after the first
    daily_cap: int = 50
    quest_reward: int = 15
    referral_reward: int = 100
    # Coins each API key may mint through grants per UTC day (0 = grants off).
    # A host app's key is a password on a server: this caps what a stolen or
    # buggy one can mint, while a real app (a daily claim for a few thousand
    # users) stays well inside it. Discord claims are not API-key grants.
    grant_daily_budget: int = 100_000

    @property
    def daily_rule(self) -> DailyRule:
        return DailyRule(self.daily_base, self.daily_streak_bonus, self.daily_cap)

    def as_dict(self) -> Dict[str, int]:
        return asdict(self)


SETTING_NAMES = tuple(GrantSettings().as_dict())


def valid_setting(value: Any) -> bool:
    """An integer the ledger can post as one amount (or 0: switched off)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_AMOUNT


def get_tunables(economy: str) -> GrantSettings:
    """The economy's grant settings: its own where set and valid, defaults otherwise."""
    stored = store.stored_tunables(economy)
    values = {name: stored[name] if valid_setting(stored.get(name)) else default
              for name, default in GrantSettings().as_dict().items()}
    return GrantSettings(**values)


def set_tunables(economy: str, changes: Mapping[str, int], actor: str) -> Dict[str, Any]:
    """Set some grant settings of ``economy``, audited; the others are left alone.

    Raises EconomyNotFoundError; ValidationFailedError for a value outside
    0..MAX_AMOUNT; ValueError for a name outside ``SETTING_NAMES``.
    """
    unknown = set(changes) - set(SETTING_NAMES)
    if unknown:
        raise ValueError(f"unknown reward settings {sorted(unknown)}")
    for name, value in changes.items():
        if not valid_setting(value):
            raise errors.ValidationFailedError(f"'{name}' must be an integer from 0 to {MAX_AMOUNT}.", field=name)
    if not store.ensure_tunables_map(economy):
        raise errors.EconomyNotFoundError(economy_id=economy)
    before = get_tunables(economy)
    after = GrantSettings(**{**before.as_dict(), **changes})
    if before == after:
        return {"settings": after.as_dict(), "changed": False}
    row = audit_write(economy, actor, "economy.reward_settings", keys.tag("economy", economy),
                      before=before.as_dict(), after=after.as_dict())
    store.transact([store.tunables_write(economy, changes), row])
    return {"settings": after.as_dict(), "changed": True}
