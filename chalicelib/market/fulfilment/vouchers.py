"""Voucher codes: unguessable, single use, stored only as a hash.

A code is derived, not drawn: ``HMAC-SHA256(VOUCHER_CODE_SECRET, "<economy>|<order_id>")``
as 16 Crockford base-32 characters (80 bits), shown as ``XXXX-XXXX-XXXX-XXXX``.
So the code never has to be stored: the ``vouchers`` table keeps its SHA-256
(the key the redeem webhook looks up), and a retried purchase (same
Idempotency-Key) shows the same code again. Nobody without the secret can
guess one; a code can be redeemed only while its order is pending.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Dict, Optional

from chalicelib.core import keys
from chalicelib.core.config import get_settings
from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LENGTH = 16


def _secret() -> bytes:
    settings = get_settings()
    secret = settings.voucher_code_secret or (settings.redemption_secrets or [""])[0]
    if not secret:
        raise RuntimeError("VOUCHER_CODE_SECRET (or REDEMPTION_WEBHOOK_SECRET) must be set to issue vouchers")
    # Domain-separated, so the webhook secret itself never signs anything a code reveals.
    return hmac.new(secret.encode(), b"coinhall voucher codes v1", hashlib.sha256).digest()


def code_for(economy: str, order_id: str) -> str:
    """The order's voucher code, formatted for people."""
    digest = hmac.new(_secret(), keys.join(economy, order_id, sep="|").encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:10], "big")
    chars = "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_LENGTH)))
    return "-".join(chars[i:i + 4] for i in range(0, _LENGTH, 4))


def normalize(code: str) -> Optional[str]:
    """Upper-case, no dashes or spaces, the look-alikes Crockford allows (O->0, I/L->1); None if it cannot be a code."""
    text = code.strip().upper().replace("-", "").replace(" ", "").replace("O", "0").replace("I", "1").replace("L", "1")
    if len(text) != _LENGTH or any(c not in _ALPHABET for c in text):
        return None
    return text


def code_hash(code: str) -> Optional[str]:
    """The stored key of a code as typed; None when it cannot be a code."""
    normal = normalize(code)
    return hashlib.sha256(normal.encode()).hexdigest() if normal else None


def voucher_put(economy: str, order_id: str, hashed: str, now: str) -> Dict[str, Any]:
    item = {"code_hash": hashed, "economy": economy, "order_id": order_id, "status": "pending", "created_at": now}
    return {"Put": {"TableName": table_name("vouchers"), "Item": codec.encode_item(item),
                    "ConditionExpression": "attribute_not_exists(code_hash)"}}


def voucher_close(hashed: str, status: str, at: str, player_id: Optional[str] = None) -> Dict[str, Any]:
    """Mark the voucher ``redeemed`` (by ``player_id``) or ``void``; written with the order's resolution."""
    values = {":s": {"S": status}, ":t": {"S": at}}
    update = "SET #st = :s, closed_at = :t"
    if player_id is not None:
        update += ", redeemed_by = :p"
        values[":p"] = {"S": player_id}
    return {"Update": {"TableName": table_name("vouchers"), "Key": {"code_hash": {"S": hashed}},
                       "UpdateExpression": update, "ConditionExpression": "attribute_exists(code_hash)",
                       "ExpressionAttributeNames": {"#st": "status"}, "ExpressionAttributeValues": values}}


def find_voucher(hashed: str) -> Optional[Dict[str, Any]]:
    item = get_client().get_item(TableName=table_name("vouchers"), Key={"code_hash": {"S": hashed}},
                                 ConsistentRead=True).get("Item")
    return codec.decode_item(item) if item else None
