"""Reading wallets and freezing them: the ledger owns the accounts table."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from chalicelib import errors
from chalicelib.db.engine import get_client, table_name
from chalicelib.ids import now_iso
from chalicelib.ledger import codec
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

    def as_dict(self) -> Dict[str, Any]:
        return {
            "user_id": self.user_id,
            "available": self.available,
            "held": self.held,
            "earnings": self.earnings,
            "total": self.available + self.held + self.earnings,
            "frozen": self.frozen,
            "debt": self.debt,
            "seq": self.seq,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _wallet(user_id: str, item: Dict[str, Any]) -> Wallet:
    return Wallet(
        user_id=user_id,
        available=item.get("available", 0),
        held=item.get("held", 0),
        earnings=item.get("earnings", 0),
        frozen=bool(item.get("frozen", False)),
        seq=item.get("seq", 0),
        version=item.get("version", 0),
        debt=item.get("debt", 0),
        created_at=item.get("created_at"),
        updated_at=item.get("updated_at"),
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


def set_frozen(
    economy: str,
    user_id: str,
    frozen: bool,
    *,
    audit: Optional[Callable[[Wallet, Wallet], Dict[str, Any]]] = None,
) -> Tuple[Wallet, Wallet]:
    """Freeze or unfreeze a wallet, with ``audit(before, after)``'s row in the same transaction.

    Bumps ``version`` so a spend that read the old state retries and sees the
    freeze. Already in that state: nothing is written. Returns (before, after).
    Raises UserNotFoundError.
    """
    client = get_client()
    for _ in range(50):
        before = get_wallet(economy, user_id)
        if before.frozen == frozen:
            return before, before
        now = now_iso()
        after = Wallet(**{**before.__dict__, "frozen": frozen, "version": before.version + 1, "updated_at": now})
        items: List[dict] = [
            {
                "Update": {
                    "TableName": table_name("accounts"),
                    "Key": {"economy": {"S": economy}, "account": {"S": user(user_id).key}},
                    "UpdateExpression": "SET frozen = :f, #v = :nv, updated_at = :t",
                    "ConditionExpression": "#v = :seen",
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": {
                        ":f": {"BOOL": frozen},
                        ":nv": {"N": str(before.version + 1)},
                        ":seen": {"N": str(before.version)},
                        ":t": {"S": now},
                    },
                }
            }
        ]
        if audit is not None:
            items.append(audit(before, after))
        try:
            client.transact_write_items(TransactItems=items)
        except client.exceptions.TransactionCanceledException:
            continue
        return before, after
    raise errors.ContentionError(user_id=user_id)
