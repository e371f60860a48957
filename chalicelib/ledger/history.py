"""A wallet's statement: its entries, newest first, with an opaque cursor."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Dict, List, Optional, Tuple

from chalicelib import errors
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import codec
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
        if item["meta"].get("granted_by"):
            # Minted coins say who minted them (an API key, or the player's own Discord claim).
            view["granted_by"] = item["meta"]["granted_by"]
    return view


def _encode_cursor(partition: str, seq_key: str) -> str:
    raw = json.dumps({"p": partition, "s": seq_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, partition: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        seq_key = data["s"]
        if data["p"] != partition or not isinstance(seq_key, str) or not seq_key.isdigit() or len(seq_key) != 12:
            raise ValueError
        return seq_key
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise errors.InvalidCursorError(cursor=cursor[:64]) from None


def list_entries(
    economy: str, user_id: str, limit: int = 25, cursor: Optional[str] = None
) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Newest first; ``cursor`` is bound to this wallet (another's is refused)."""
    partition = entry_partition(economy, user(user_id).key)
    kwargs: Dict[str, Any] = {
        "TableName": table_name("entries"),
        "KeyConditionExpression": "account_key = :p",
        "ExpressionAttributeValues": {":p": {"S": partition}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if cursor:
        kwargs["ExclusiveStartKey"] = {"account_key": {"S": partition}, "sk": {"S": _decode_cursor(cursor, partition)}}
    page = get_client().query(**kwargs)
    items = [entry_view(codec.decode_item(i)) for i in page["Items"]]
    last = page.get("LastEvaluatedKey")
    next_cursor = _encode_cursor(partition, last["sk"]["S"]) if last and items and items[-1]["seq"] > 1 else None
    return items, next_cursor
