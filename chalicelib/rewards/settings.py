"""Per-economy reward settings: the coins each reward pays, and the grant budget.

Stored in the economy's ``tunables`` map (shared with the spending rates),
defaults in ``RewardTunables``. Every value is an integer from 0 to the
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
from chalicelib.tenancy.audit import audit_write
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import MAX_AMOUNT
from chalicelib.db import codec
from chalicelib.rewards.streaks import DailyRule


@dataclass(frozen=True)
class RewardTunables:
    """Coins per reward, and the grant budget; an economy overrides any of them in its ``tunables`` map."""

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


SETTING_NAMES = tuple(RewardTunables().as_dict())


def valid_setting(value: Any) -> bool:
    """An integer the ledger can post as one amount (or 0: switched off)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_AMOUNT


def _stored(economy: str) -> Dict[str, Any]:
    response = get_client().get_item(
        TableName=table_name("economies"), Key={"economy_id": {"S": economy}}, ProjectionExpression="tunables",
        ConsistentRead=True,
    )
    return codec.decode_item(response.get("Item") or {}).get("tunables") or {}


def get_tunables(economy: str) -> RewardTunables:
    """The economy's reward settings: its own where set and valid, defaults otherwise."""
    stored = _stored(economy)
    values = {name: stored[name] if valid_setting(stored.get(name)) else default
              for name, default in RewardTunables().as_dict().items()}
    return RewardTunables(**values)


def set_tunables(economy: str, changes: Mapping[str, int], actor: str) -> Dict[str, Any]:
    """Set some reward settings of ``economy``, audited; the others are left alone.

    Raises EconomyNotFoundError; ValidationFailedError for a value outside
    0..MAX_AMOUNT; ValueError for a name outside ``SETTING_NAMES``.
    """
    unknown = set(changes) - set(SETTING_NAMES)
    if unknown:
        raise ValueError(f"unknown reward settings {sorted(unknown)}")
    for name, value in changes.items():
        if not valid_setting(value):
            raise errors.ValidationFailedError(f"'{name}' must be an integer from 0 to {MAX_AMOUNT}.", field=name)
    client = get_client()
    key = {"economy_id": {"S": economy}}
    try:
        # The map must exist before a nested SET can name a key inside it, and
        # DynamoDB refuses both in one expression (overlapping paths).
        client.update_item(
            TableName=table_name("economies"), Key=key,
            UpdateExpression="SET tunables = if_not_exists(tunables, :empty)",
            ConditionExpression="attribute_exists(economy_id)",
            ExpressionAttributeValues={":empty": {"M": {}}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        raise errors.EconomyNotFoundError(economy_id=economy) from None
    before = get_tunables(economy)
    after = RewardTunables(**{**before.as_dict(), **changes})
    if before == after:
        return {"settings": after.as_dict(), "changed": False}
    names = {f"#s{i}": name for i, name in enumerate(changes)}
    values = {f":s{i}": {"N": str(int(changes[name]))} for i, name in enumerate(changes)}
    update = {
        "Update": {
            "TableName": table_name("economies"),
            "Key": key,
            "UpdateExpression": "SET " + ", ".join(f"tunables.{n} = {v}" for n, v in zip(names, values)),
            "ConditionExpression": "attribute_exists(economy_id)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
    row = audit_write(economy, actor, "economy.reward_settings", keys.tag("economy", economy),
                      before=before.as_dict(), after=after.as_dict())
    client.transact_write_items(TransactItems=[update, row])
    return {"settings": after.as_dict(), "changed": True}
