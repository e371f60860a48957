"""A wallet's statement: its entries, newest first, with an opaque cursor."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from chalicelib.core import cursors, keys
from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec
from chalicelib.ledger.accounts import entry_partition, user


def entry_view(item: Dict[str, Any]) -> Dict[str, Any]:
    """One statement line: ``amount`` is the signed change of ``available``."""
    view: Dict[str, Any] = {
        "id": item["op_id"],
        "type": item["type"],
        "seq": item["seq"],
        "amount": item.get("d_available", 0),
        "balance_after": item["available_after"],
        "reason": item.get("reason"),
        "ref": item.get("ref"),
        "created_at": item["created_at"],
    }
    if item.get("d_held"):
        view["held_change"] = item["d_held"]
        view["held_after"] = item["held_after"]
    if item.get("d_earnings"):
        view["earnings_change"] = item["d_earnings"]
        view["earnings_after"] = item["earnings_after"]
    if item.get("meta"):
        view["details"] = item["meta"]
        if item["meta"].get("reverses"):
            # A reversal names the operation it took back: the two lines of the statement are linked.
            view["reverses"] = item["meta"]["reverses"]
        if item["meta"].get("granted_by"):
            # Minted coins say who minted them (an API key, or the player's own Discord claim).
            view["granted_by"] = item["meta"]["granted_by"]
    return view


def _cursor_scope(partition: str) -> str:
    return keys.join("entries", partition)


def _seq_key(position: Dict[str, str]) -> bool:
    return position["sk"].isascii() and position["sk"].isdigit() and len(position["sk"]) == 12


def list_entries(
    economy: str, user_id: str, limit: int = 25, cursor: Optional[str] = None
) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Newest first; ``cursor`` is bound to this wallet (another's is refused). Raises InvalidCursorError."""
    partition = entry_partition(economy, user(user_id).key)
    kwargs: Dict[str, Any] = {
        "TableName": table_name("entries"),
        "KeyConditionExpression": "account_key = :p",
        "ExpressionAttributeValues": {":p": {"S": partition}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if cursor:
        position = cursors.decode(cursor, _cursor_scope(partition), ("sk",), _seq_key)
        kwargs["ExclusiveStartKey"] = {"account_key": {"S": partition}, "sk": {"S": position["sk"]}}
    page = get_client().query(**kwargs)
    items = [entry_view(codec.decode_item(i)) for i in page["Items"]]
    last = page.get("LastEvaluatedKey")
    more = last and items and items[-1]["seq"] > 1
    next_cursor = cursors.encode(_cursor_scope(partition), {"sk": last["sk"]["S"]}) if more else None
    return items, next_cursor
