"""Opaque pagination cursors bound to one listing.

A cursor is the listing's position (the last key returned) in URL-safe base64
JSON, tagged with the listing it belongs to (``scope``), so a cursor from one
user's listing is refused on another's instead of leaking its position.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Callable, Dict, Optional, Tuple

from chalicelib.core import errors

MAX_LENGTH = 2048


def encode(scope: str, position: Dict[str, str]) -> str:
    raw = json.dumps({"s": scope, "p": position}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, scope: str, fields: Tuple[str, ...],
           valid: Optional[Callable[[Dict[str, str]], bool]] = None) -> Dict[str, str]:
    """The position in ``cursor``; InvalidCursorError unless it was issued for ``scope``.

    The one decoder of every listing's cursor, bounded before anything is parsed
    (2 KB, positions of short strings). A cursor is not signed, so a caller can
    forge one: ``valid`` says whether the position's values can be a start key
    of this listing's query (e.g. inside its key condition), so that a forged
    one is a 400 here rather than DynamoDB refusing the query (a 500).
    """
    try:
        if len(cursor) > MAX_LENGTH or not cursor.isascii():
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = data["p"]
        if data["s"] != scope or not isinstance(position, dict) or set(position) != set(fields):
            raise ValueError
        if not all(isinstance(v, str) and 0 < len(v) <= 256 and v.isprintable() for v in position.values()):
            raise ValueError
        if valid is not None and not valid(position):
            raise ValueError
        return position
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise errors.InvalidCursorError(cursor=cursor[:64]) from None
