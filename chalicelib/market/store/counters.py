"""The ``market_counters`` table: per-buyer limit counters, and claim-once notices.

A limit counter (``n``) is taken inside an order's transaction only while it
stays within its limit, and given back by the refund's. A notice claim is a
conditional put kept a week: the right to say something once.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional

from chalicelib.core import errors, keys
from chalicelib.db import ops
from chalicelib.db.engine import table_name
from chalicelib.ledger import SideWrite

TABLE = "market_counters"
_NOTICE_SECONDS = 7 * 86_400
_GIVE_BACK_TTL_SECONDS = 3 * 86_400


def counter_take(counter: str, qty: int, limit: int, ttl_epoch: int, explain: Mapping[str, Any]) -> SideWrite:
    """Add ``qty`` to ``counter`` only while it stays within ``limit`` (LimitReachedError otherwise)."""
    expression, names, values = ops.update_expression(add={"n": qty}, if_not_exists={"expires_epoch": ttl_epoch})
    update = {"Update": {
        "TableName": table_name(TABLE), "Key": {"counter": {"S": counter}},
        "UpdateExpression": expression,
        # More than the limit in one order: a condition no counter (not even a new one) meets.
        "ConditionExpression": "attribute_not_exists(#c) OR #c <= :cap" if qty <= limit else "#c <= :cap",
        "ExpressionAttributeNames": {**names, "#c": "n"},
        "ExpressionAttributeValues": {**values, ":cap": {"N": str(limit - qty)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}

    def refuse(item: Optional[Dict[str, Any]]) -> errors.CoinhallError:
        bought = int((item or {}).get("n", 0))
        return errors.LimitReachedError(limit=limit, bought=bought, requested=qty, left=max(0, limit - bought),
                                        **explain)

    return SideWrite(update, refuse)


def counter_give(counter: str, qty: int) -> SideWrite:
    """Give ``qty`` back to ``counter`` (a refund); unconditional."""
    expression, names, values = ops.update_expression(
        add={"n": -qty}, if_not_exists={"expires_epoch": int(time.time()) + _GIVE_BACK_TTL_SECONDS})
    return SideWrite({"Update": {
        "TableName": table_name(TABLE), "Key": {"counter": {"S": counter}}, "UpdateExpression": expression,
        "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
    }})


def counter_value(counter: str) -> int:
    item = ops.get(TABLE, {"counter": counter})
    return int(item.get("n", 0)) if item else 0


def claim_notice(dedupe_id: str, now: float) -> str:
    """Take the right to say something once (kept a week), under a lease: ``ops.TAKEN``, ``DONE`` or ``BUSY``."""
    return ops.claim_leased(TABLE, "counter", keys.join("notice", dedupe_id), ttl_seconds=_NOTICE_SECONDS,
                            now=now, extra={"n": 1})


def finish_notice(dedupe_id: str) -> None:
    """It was said: the claim never lapses now."""
    ops.finish_claim(TABLE, "counter", keys.join("notice", dedupe_id))


def release_notice(dedupe_id: str) -> None:
    """Give the right back after a failed attempt, so the queue's retry can say it."""
    ops.release(TABLE, "counter", keys.join("notice", dedupe_id))
