"""Which accounts exist and what they may hold.

A user wallet (``u:<user_id>``) has three buckets that may never go negative:
``available`` (spendable), ``held`` (reserved by holds and escrow) and
``earnings`` (creator and seller proceeds). System accounts (``sys:<name>``)
come from a closed list, hold one bucket, may go negative, and are sharded.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from chalicelib.core import keys

USER_BUCKETS = ("available", "held", "earnings")

# Why money moved into or out of the economy, as system accounts:
SYSTEM_ACCOUNTS = frozenset(
    {
        "issuance",  # coins bought with real money enter here (goes negative)
        "rewards",  # coins minted as rewards (daily, quests, referrals)
        "adjustments",  # operator credits and debits
        "treasury",  # platform fees and the platform's share of revenue
        "burn",  # coins spent on nothing that pays anyone
        "payouts",  # earnings on their way out as real money
        "clawback",  # coins taken back after refunds and lost disputes
    }
)

# Coins per operation and per bucket are bounded well inside 2**53, so every
# amount survives a JavaScript client's doubles exactly (and DynamoDB's 38 digits).
MAX_AMOUNT = 10**12
MAX_BALANCE = 10**15

USER_ID_PATTERN = r"^[A-Za-z0-9_.:@|-]{1,128}$"
_USER_ID = re.compile(USER_ID_PATTERN)
_ECONOMY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class AccountRef:
    """A user wallet or a system account inside one economy."""

    kind: str  # "user" | "system"
    name: str

    @property
    def key(self) -> str:
        return keys.tag("u" if self.kind == "user" else "sys", self.name)

    @property
    def is_user(self) -> bool:
        return self.kind == "user"


def valid_user_id(user_id: str) -> bool:
    return isinstance(user_id, str) and bool(_USER_ID.match(user_id))


def valid_economy_id(economy: str) -> bool:
    return isinstance(economy, str) and bool(_ECONOMY_ID.match(economy))


def user(user_id: str) -> AccountRef:
    if not valid_user_id(user_id):
        raise ValueError(f"invalid user id {user_id!r}")
    return AccountRef("user", user_id)


def system(name: str) -> AccountRef:
    if name not in SYSTEM_ACCOUNTS:
        raise ValueError(f"unknown system account {name!r}")
    return AccountRef("system", name)


def shard_key(ref: AccountRef, shard: int) -> str:
    # Injective: account keys hold no "#" (see chalicelib/core/keys.py on "#" joins).
    return f"{ref.key}#{shard:02d}"


def pick_shard(shards: int, op_id: str, account_key: str) -> int:
    """The shard one operation writes for one system account.

    Drawn from the operation's id (random, not the user's: one busy user's writes
    spread too) and fixed for the operation, so every attempt writes the same items.
    """
    digest = hashlib.blake2b(f"{op_id}|{account_key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % shards


def entry_partition(economy: str, account_key: str) -> str:
    # Injective: economy ids hold no "#", so the first "#" ends the economy.
    return f"{economy}#{account_key}"
