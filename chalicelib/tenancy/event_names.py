"""Operator events' names and bounds, for the edge to validate with at cold start (a leaf: no store loads with it)."""
from __future__ import annotations

import re
from typing import Any

BPS = 10_000
KINDS = ("reward_multiplier", "shop_discount")
STATUSES = ("scheduled", "active", "stopped", "ended")
# The grant types a multiplier may name (rewards.grants.GRANT_TYPES: that layer is above this one).
REWARD_TYPES = ("daily", "quest", "referral", "course_completion")
MULTIPLIER_BOUNDS = (BPS + 1, 10 * BPS)  # x1.0001 - x10
DISCOUNT_BOUNDS = (1, 9_000)  # 0.01% - 90% off
MAX_SKUS = 50
EVENT_ID = re.compile(r"^evt_[0-9A-Z]{26}$")


def valid_event_id(event_id: Any) -> bool:
    return isinstance(event_id, str) and bool(EVENT_ID.match(event_id))
