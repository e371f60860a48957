"""Spending's ids, states and bounds, for the edge to validate with at cold start.

A leaf: routes import it without loading the spending package's stores, which
load on the first spending call.
"""
from __future__ import annotations

import re
from typing import Any

HOLD_STATES = ("active", "settled", "released", "expired")
MAX_HOLD_SECONDS = 30 * 86_400
MAX_ESCROW_SECONDS = 365 * 86_400

_HOLD_ID = re.compile(r"^(hold|esc)_[0-9A-Z]{26}$")
_CONTENT_ID = re.compile(r"^[A-Za-z0-9_.:@|-]{1,128}$")


def valid_hold_id(hold_id: Any) -> bool:
    return isinstance(hold_id, str) and bool(_HOLD_ID.match(hold_id))


def valid_content_id(content_id: Any) -> bool:
    return isinstance(content_id, str) and bool(_CONTENT_ID.match(content_id))
