"""Reading wallets: the ledger owns the accounts table.

Freezing and unfreezing are ledger operations like any other (``post()`` with a
``WalletChange``; see ``ledger/freezes.py``), so this module only reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from chalicelib.core import errors
from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec
from chalicelib.ledger import freezes
from chalicelib.ledger.accounts import AccountRef, shard_key, user


@dataclass(frozen=True)
class Wallet:
    user_id: str
    available: int
    held: int
    earnings: int
    frozen: bool
    seq: int
    version: int
    debt: int
    created_at: Optional[str]
    updated_at: Optional[str]
    freeze_reasons: Tuple[str, ...] = ()  # sorted; ``frozen`` iff non-empty

    def as_dict(self) -> Dict[str, Any]:
        return {
            "user_id": self.user_id,
            "available": self.available,
            "held": self.held,
            "earnings": self.earnings,
            "total": self.available + self.held + self.earnings,
            "frozen": self.frozen,
            "freeze_reasons": list(self.freeze_reasons),
            "debt": self.debt,
            "seq": self.seq,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _wallet(user_id: str, item: Dict[str, Any]) -> Wallet:
    reasons = freezes.ordered(freezes.stored(item))
    return Wallet(
        user_id=user_id,
        available=item.get("available", 0),
        held=item.get("held", 0),
        earnings=item.get("earnings", 0),
        frozen=bool(reasons),
        seq=item.get("seq", 0),
        version=item.get("version", 0),
        debt=item.get("debt", 0),
        created_at=item.get("created_at"),
        updated_at=item.get("updated_at"),
        freeze_reasons=reasons,
    )


def find_wallet(economy: str, user_id: str) -> Optional[Wallet]:
    response = get_client().get_item(
        TableName=table_name("accounts"),
        Key={"economy": {"S": economy}, "account": {"S": user(user_id).key}},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return _wallet(user_id, codec.decode_item(item)) if item else None


def get_wallet(economy: str, user_id: str) -> Wallet:
    """The wallet, or UserNotFoundError when the user never held coins here."""
    wallet = find_wallet(economy, user_id)
    if wallet is None:
        raise errors.UserNotFoundError(user_id=user_id)
    return wallet


def system_balance(economy: str, ref: AccountRef) -> int:
    """A system account's balance: the sum of its shards."""
    total = 0
    kwargs: Dict[str, Any] = {
        "TableName": table_name("accounts"),
        "KeyConditionExpression": "economy = :e AND begins_with(account, :p)",
        "ExpressionAttributeValues": {":e": {"S": economy}, ":p": {"S": shard_key(ref, 0)[:-2]}},
        "ConsistentRead": True,
    }
    while True:
        page = get_client().query(**kwargs)
        total += sum(int(i["available"]["N"]) for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
