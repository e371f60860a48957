"""Reading wallets: the ledger owns the accounts table.

Freezing and unfreezing are ledger operations like any other (``post()`` with a
``WalletChange``; see ``ledger/freezes.py``), so this module only reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec, ops
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


@dataclass(frozen=True)
class WalletSearch:
    """What the admin user search asks for; None means "either"."""

    prefix: str = ""
    frozen: Optional[bool] = None
    has_debt: Optional[bool] = None
    min_available: Optional[int] = None
    max_available: Optional[int] = None

    def scope(self, economy: str, index: str) -> str:
        # A cursor is bound to the whole search: one of another filter set would start mid-way in the wrong index.
        flags = [self.prefix, str(self.frozen), str(self.has_debt), str(self.min_available), str(self.max_available)]
        return keys.join("wallets", economy, index, *flags)


def _user_prefix(prefix: str) -> str:
    # A wallet's key is the id taken whole after "u:", so an id prefix is a key prefix (and "" every wallet).
    return keys.tag("u", prefix)


def _search_plan(economy: str, s: WalletSearch) -> Tuple[str, Dict[str, Any]]:
    """(index used, Query arguments): the sparse index when a flag is asked for as true, else the table's key."""
    prefix = _user_prefix(s.prefix)
    values: Dict[str, Any] = {":e": {"S": economy}, ":p": {"S": prefix}}
    filters = []
    if s.frozen:
        index, hash_attr = "frozen", "frozen_in"
    elif s.has_debt:
        index, hash_attr = "owing", "owing_in"
    else:
        index, hash_attr = "table", "economy"
    if s.frozen is False:
        filters.append("(attribute_not_exists(frozen) OR frozen = :no)")
        values[":no"] = {"BOOL": False}
    if s.has_debt is False:
        filters.append("(attribute_not_exists(debt) OR debt = :zero)")
        values[":zero"] = {"N": "0"}
    elif s.has_debt and index != "owing":
        filters.append("debt > :zero")
        values[":zero"] = {"N": "0"}
    if s.min_available is not None:
        filters.append("available >= :lo")
        values[":lo"] = {"N": str(s.min_available)}
    if s.max_available is not None:
        filters.append("available <= :hi")
        values[":hi"] = {"N": str(s.max_available)}
    kwargs: Dict[str, Any] = {"KeyConditionExpression": f"{hash_attr} = :e AND begins_with(account, :p)",
                              "ExpressionAttributeValues": values}
    if index != "table":
        kwargs["IndexName"] = index
    if filters:
        kwargs["FilterExpression"] = " AND ".join(filters)
    return index, kwargs


def search_wallets(economy: str, search: WalletSearch, limit: int,
                   cursor: Optional[str] = None) -> Tuple[List[Wallet], Optional[str]]:
    """User wallets matching ``search`` in user id order, one page; ``cursor`` is bound to this search.

    Reads (see README "Finding users"): the id prefix is the table's key condition; ``frozen=true`` and
    ``has_debt=true`` read their sparse index (eventually consistent); the other filters are applied to
    what those read, at most ``max_pages`` DynamoDB pages per request (then a cursor comes back, maybe
    with a short page). Raises InvalidCursorError.
    """
    index, kwargs = _search_plan(economy, search)
    prefix = _user_prefix(search.prefix)
    hash_attr = {"frozen": "frozen_in", "owing": "owing_in"}.get(index)

    def start(at: Dict[str, str]) -> Dict[str, Any]:
        key = {"economy": economy, "account": at["account"]}
        return {**key, hash_attr: economy} if hash_attr else key

    page = ops.query_page(
        "accounts", scope=search.scope(economy, index), position=("account",), limit=limit, cursor=cursor,
        valid=lambda at: at["account"].startswith(prefix), start_key=start,
        Limit=limit if "FilterExpression" not in kwargs else max(limit, 100), **kwargs,
    )
    return [_wallet(item["account"][len(_user_prefix("")):], item) for item in page.items], page.next_cursor
