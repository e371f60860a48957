"""Voucher codes: unguessable, single use, stored only as a hash.

A code is derived, not drawn: ``HMAC-SHA256(VOUCHER_CODE_SECRET, "<economy>|<order_id>")``
as 16 Crockford base-32 characters (80 bits), shown as ``XXXX-XXXX-XXXX-XXXX``.
So the code never has to be stored: the ``vouchers`` table keeps its SHA-256
(the key the redeem webhook looks up), and a retried purchase (same
Idempotency-Key) shows the same code again. Nobody without the secret can
guess one; a code can be redeemed only while its order is pending. (The
table's writes are ``market/store/vouchers.py``.)
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Optional

from chalicelib.core import keys
from chalicelib.core.config import get_settings

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
