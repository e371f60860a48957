"""Queue consumer ``fulfilment.minecraft``: deliver one API order, try by try.

One message is one try. A try that cannot tell (timeout, 5xx, 408/425/429, a
network error) queues the next try with exponential backoff and jitter
(``MINECRAFT_RETRY_BASE_S * 2**(n-1)``, times a random factor in [0.5, 1],
capped at 15 minutes); after ``MINECRAFT_MAX_ATTEMPTS`` tries the order is
refunded. A 2xx settles it, another 4xx refunds it at once. Each message
carries its try number, and every outcome goes through the order's single
resolution key, so redelivered or duplicated messages, a crash between the
escrow and the call, and the expiry job racing a late try all end the order
exactly once; the plugin is asked to be idempotent by the order id
(``Idempotency-Key``) for the tries it answered but we never heard.

A try is not started when the order's deadline is too close to finish it:
the ``expire-orders`` job refunds it instead, so a delivery never lands after
its refund (short of a plugin answering after our timeout; such an order is
flagged ``delivered_after_resolution`` for an operator). An order is marked
``delivery_unknown`` before each call and unmarked only by an answer that
delivered nothing, so a try that got no answer (timeout, dropped connection) or
whose settlement never happened (the consumer died after the plugin delivered,
and the deadline came first) leaves a refunded order that says the plugin may
have delivered it; only the game server can tell.
"""
from __future__ import annotations

import logging
import random
from datetime import datetime, timezone
from typing import Any, Dict

from chalicelib.core import errors
from chalicelib.core.config import get_settings
from chalicelib.core.ids import now_iso, utc_now
from chalicelib.market import orders, settlement
from chalicelib.market.fulfilment import minecraft

log = logging.getLogger("coinhall.fulfilment")

TOPIC = orders.DELIVERY_TOPIC
MAX_BACKOFF_SECONDS = 900.0  # SQS's longest delay
DEADLINE_MARGIN_SECONDS = 5.0

queue_delivery = orders.queue_delivery  # orders queues the first try; this consumer the next ones


def backoff(attempt: int, base: float) -> float:
    """Seconds before try ``attempt + 1``: exponential, with jitter so retries of many orders spread out."""
    return min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _seconds_left(order: Dict[str, Any]) -> float:
    deadline = datetime.strptime(order["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return (deadline - utc_now()).total_seconds()  # the clock now_iso() reads above, not a second one


def handle(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Try once to deliver the order in ``payload``; raises only for unexpected failures (the queue retries)."""
    economy, order_id = payload["economy"], payload["order_id"]
    attempt = int(payload.get("attempt", 1))
    order = orders.find_order(economy, order_id)
    if order is None or order["status"] != "pending" or order["fulfilment"] != "api":
        return  # resolved already (or not ours): a duplicate or late message
    settings = get_settings()
    if order["expires_at"] <= now_iso():
        settlement.expire_if_due(economy, order_id, now_iso())
        return
    if _seconds_left(order) < settings.minecraft_timeout_s + DEADLINE_MARGIN_SECONDS:
        log.warning("order %s: too close to its deadline for another try; the expiry job refunds it", order_id)
        return
    # From here until an answer is recorded the goods may be out: a crash after the plugin
    # delivered, or a settlement that fails until the deadline, must not leave a refunded
    # order that nobody doubts. An answer without the goods puts the mark back as it was.
    doubted_before = bool(order.get("delivery_unknown"))
    orders.note_attempt(economy, order_id, attempt, unknown=True)
    delivery = minecraft.deliver(orders.order_view(order))
    if delivery.outcome == "delivered":
        try:
            settlement.fulfil(economy, order_id, via="api", token="api", order=order)
        except errors.OrderNotPendingError:
            orders.flag_late_delivery(economy, order_id, f"try {attempt} answered {delivery.status}")
        return
    detail = f"try {attempt}: {delivery.status or delivery.detail}"
    answered = delivery.status is not None  # not a timeout or a dropped connection: this try delivered nothing
    orders.note_attempt(economy, order_id, attempt, detail, unknown=doubted_before if answered else None)
    if delivery.outcome == "refused":
        _refund(economy, order_id, f"the game server refused the order ({delivery.status}): {delivery.detail}",
                "api-refused")
        return
    if attempt >= settings.minecraft_max_attempts:
        _refund(economy, order_id, f"not delivered after {attempt} tries (last: {delivery.status or delivery.detail})",
                "api-failed")
        return
    queue_delivery(economy, order_id, attempt + 1, backoff(attempt, settings.minecraft_retry_base_s))


def _refund(economy: str, order_id: str, reason: str, token: str) -> None:
    try:
        settlement.refund(economy, order_id, reason=reason[:300], token=token)
    except errors.OrderNotPendingError:
        pass  # resolved by another message or the expiry job
