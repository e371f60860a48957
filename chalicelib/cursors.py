"""Opaque pagination cursors bound to one listing.

A cursor is the listing's position (the last key returned) in URL-safe base64
JSON, tagged with the listing it belongs to (``scope``), so a cursor from one
user's listing is refused on another's instead of leaking its position.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Dict

from chalicelib import errors


def encode(scope: str, position: Dict[str, str]) -> str:
    raw = json.dumps({"s": scope, "p": position}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, scope: str, fields: tuple) -> Dict[str, str]:
    """The position in ``cursor``; InvalidCursorError unless it was issued for ``scope``."""
    try:
        if len(cursor) > 2048:
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = data["p"]
        if data["s"] != scope or not isinstance(position, dict) or set(position) != set(fields):
            raise ValueError
        if not all(isinstance(v, str) and 0 < len(v) <= 256 for v in position.values()):
            raise ValueError
        return position
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise errors.InvalidCursorError(cursor=cursor[:64]) from None
