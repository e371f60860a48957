"""Identifiers: time-ordered, unguessable, URL-safe.

A ULID-style id (48 bits of milliseconds, 80 random bits, Crockford base32) sorts
by creation time, which keeps ledger entries and audit rows in order without a
second index, and carries enough randomness that two Lambdas never collide.
"""
from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timezone
from typing import Callable, Optional

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int) -> str:
    """128 bits as 26 Crockford base32 characters, most significant first (a ULID's text)."""
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


# Where an id's milliseconds and random bits come from: the seeded simulation (sim/) sets
# both, so its ids (and whatever is derived from them, a shard, a sort order) replay.
millis: Callable[[], int] = lambda: int(time.time() * 1000)
entropy: Callable[[int], bytes] = os.urandom


def new_id(prefix: str = "") -> str:
    return prefix + _encode((millis() << 80) | int.from_bytes(entropy(10), "big"))


def keyed_id(prefix: str, name: str) -> str:
    """The id ``name`` always gets, in ``new_id``'s form: 128 bits of its SHA-256 in place of time and randomness."""
    return prefix + _encode(int.from_bytes(hashlib.sha256(name.encode()).digest()[:16], "big"))


def keyed_id_at(prefix: str, at_millis: int, name: str) -> str:
    """The id ``name`` always gets, sorting at ``at_millis``: ``new_id``'s time, 80 bits of ``name``'s SHA-256.

    For a record a retry must not write twice that still sorts by time among ``new_id`` ones
    (a note keyed by the Discord interaction that asked for it: the interaction id carries its time).
    """
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:10], "big")
    return prefix + _encode(((at_millis & ((1 << 48) - 1)) << 80) | digest)


# The one seam for "what time is it": every business time (created_at, expires_at,
# today's day, due indexes) comes from utc_now(), so a test that sets this moves the
# whole app through time at once (tests/clock_helpers.py) instead of sleeping or
# racing UTC midnight. None in production.
clock: Optional[Callable[[], datetime]] = None


def utc_now() -> datetime:
    return clock() if clock is not None else datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z: sorts as text, reads as time."""
    utc = moment.astimezone(timezone.utc)
    # %Y does not pad years before 1000 on every libc ("999-..." would sort after "2026-...").
    return f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(utc_now())


def parse_iso(text: str) -> str:
    """An ISO-8601 time that names its zone, as ``iso()`` text; ValueError saying why not.

    Valid-looking times can still be unrepresentable in UTC (``9999-12-31T23:59:59-23:59``
    is in year 10000): Python raises OverflowError for those, which would escape
    a validator as a 500, so it is a ValueError here like any other bad time.
    """
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise ValueError("must name its time zone (e.g. Z)")
    try:
        return iso(moment)
    except (OverflowError, ValueError):
        raise ValueError("is outside the years 1-9999 in UTC") from None
