"""One HMAC-SHA256 request signature, for our calls to a game server and its calls to us.

Recipe (the same both ways; the README has a worked example)::

    X-Coinhall-Timestamp: <unix seconds>
    X-Coinhall-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<raw body bytes>")>

The receiver recomputes the HMAC over the raw bytes it got (before any JSON
parsing), compares in constant time, and refuses a timestamp more than five
minutes from its clock, so a captured request cannot be replayed later. A key
may be a comma-separated list while it is being rotated: any of them verifies.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Dict, Optional, Sequence

from chalicelib.core import errors

TIMESTAMP_HEADER = "X-Coinhall-Timestamp"
SIGNATURE_HEADER = "X-Coinhall-Signature"
TOLERANCE_SECONDS = 300
_PREFIX = "sha256="


def signature(key: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(key, ``"<timestamp>.<body>"``)."""
    mac = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return _PREFIX + mac.hexdigest()


def signed_headers(key: str, body: bytes, now: Optional[float] = None) -> Dict[str, str]:
    """The two headers that sign ``body`` now."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(key, timestamp, body)}


def verify(
    keys: Sequence[str],
    body: bytes,
    timestamp: Optional[str],
    signature_header: Optional[str],
    now: Optional[float] = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Accept the request or raise SignatureInvalidError (401) saying why: missing, stale or wrong.

    ``keys`` empty means no secret is configured: every request is refused.
    """
    if not timestamp or not signature_header:
        raise errors.SignatureInvalidError(f"The {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required.",
                                           reason="missing")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise errors.SignatureInvalidError("The timestamp must be unix seconds.", reason="bad_timestamp")
    clock = time.time() if now is None else now
    if abs(clock - int(timestamp)) > tolerance:
        raise errors.SignatureInvalidError("The timestamp is more than 5 minutes away from ours.", reason="stale")
    given = signature_header.strip()
    # compare_digest refuses non-ASCII str; such a header cannot be ours anyway.
    if not given.isascii() or not any(hmac.compare_digest(signature(k, timestamp, body), given) for k in keys if k):
        raise errors.SignatureInvalidError("The signature does not match the body.", reason="mismatch")
