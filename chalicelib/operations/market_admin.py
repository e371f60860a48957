"""Operators on the market: find listings and orders, cancel a listing, force-fulfil or refund an order.

Each write is the market's own operation (the same guards and escrow rules as
the player's or the job's) with the operator's audit row in its transaction:
a refund is the escrow released to the buyer, a "mark delivered" the escrow
settled to the seller and treasury, a cancel the listing closed (its unsold
units stay the seller's). A re-queued delivery changes no record but the
audit row, and the consumer's own rules (the order still pending, its deadline)
decide what the next try does.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.ledger import Outcome, Posted, SideWrite, claims
from chalicelib.market import listings, orders, settlement
from chalicelib.market.store import orders as order_store
from chalicelib.tenancy.audit import audit_write

FORCE_MODES = ("requeue", "delivered")


def list_orders(economy: str, status: Optional[str], buyer_id: Optional[str], limit: int,
                cursor: Optional[str]) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Orders newest first: one buyer's (their index) or the economy's (its partition). InvalidCursorError."""
    if buyer_id:
        return orders.list_orders(economy, buyer_id, status, limit, cursor)
    page = order_store.economy_page(economy, status, limit, cursor)
    return [orders.order_view(item) for item in page.items], page.next_cursor


def _audit(economy: str, actor: str, action: str, order: Dict[str, Any], status: str,
           extra: Dict[str, Any]) -> Callable[[Posted], List[SideWrite]]:
    """The audit row of an order's resolution, a side write of its ledger operation."""
    def write(posted: Posted) -> List[SideWrite]:
        row = audit_write(economy, actor, action, keys.join("order", order["order_id"]),
                          before={"status": order["status"]}, after={"status": status},
                          extra={"transaction_id": posted.op_id, "buyer_id": order["buyer_id"], **extra})
        return [SideWrite(row)]

    return write


def refund_order(economy: str, order_id: str, reason: str, actor: str, idempotency_key: str) -> Outcome:
    """Release a pending order's escrow to the buyer and give its units back, audited.

    An API order may have a delivery in flight: one that lands after the refund is flagged
    ``delivered_after_resolution`` by the consumer, as for an expired order. Raises OrderNotFoundError,
    OrderNotPendingError, IdempotencyKeyReusedError, ContentionError.
    """
    order = orders.load(economy, order_id)
    return settlement.refund(economy, order_id, reason=f"operator: {reason}", token=f"key:{idempotency_key}",
                             request_key=keys.tag("api", idempotency_key),
                             also=_audit(economy, actor, "order.refund", order, "refunded",
                                         {"amount": int(order["total"])}))


def force_fulfil(economy: str, order_id: str, mode: str, reason: str, actor: str,
                 idempotency_key: str) -> Tuple[Dict[str, Any], bool, bool]:
    """``requeue``: one more delivery try of a pending API order; ``delivered``: settle it as delivered (the
    operator saw it arrive). Returns (the order, replayed, created). Raises OrderNotFoundError,
    OrderNotPendingError, OrderNotRequeueableError (requeue of a voucher order), IdempotencyKeyReusedError.
    """
    order = orders.load(economy, order_id)
    if mode == "delivered":
        outcome = settlement.fulfil(economy, order_id, via="operator", token=f"key:{idempotency_key}",
                                    order=order, request_key=keys.tag("api", idempotency_key),
                                    also=_audit(economy, actor, "order.fulfil", order, "fulfilled", {"mode": mode}))
        return outcome.result, outcome.replayed, outcome.created
    key, fp = keys.tag("api", idempotency_key), ledger.fingerprint("order-requeue", economy, order_id)
    dedupe = keys.join(order_id, "operator", idempotency_key)
    earlier = claims.find(economy, key)
    if earlier is not None:  # a retry of this request answers as it did (after the checks it passed then)
        claims.replayed_ref(earlier, fp, key)
        if order["status"] == "pending":  # the first may have died before queueing: the dedupe id keeps it one try
            orders.queue_delivery(economy, order_id, attempt=max(1, int(order.get("attempts") or 0)), dedupe=dedupe)
        return orders.order_view(orders.load(economy, order_id)), True, False
    if order["fulfilment"] != "api":
        raise errors.OrderNotRequeueableError(order_id=order_id, fulfilment=order["fulfilment"])
    if order["status"] != "pending":
        raise errors.OrderNotPendingError(f"This order is already {order['status']}.",
                                          order=orders.order_view(order))
    # The try counts as the last one made: it spends none of the retry budget, and if it fails the retry
    # it schedules is the one already due (the same dedupe id), so no second chain of retries starts.
    attempt = max(1, int(order.get("attempts") or 0))
    row = audit_write(economy, actor, "order.requeue", keys.join("order", order_id),
                      before={"status": order["status"], "attempts": int(order.get("attempts") or 0)},
                      after={"status": order["status"], "queued_attempt": attempt},
                      extra={"buyer_id": order["buyer_id"], "idempotency_key": idempotency_key})
    if not claims.commit([row, claims.claim_write(economy, key, fp, "order-requeue", {"order_id": order_id})]):
        claims.replayed_ref(claims.find(economy, key) or {}, fp, key)  # a twin got there first (or a reused key)
        return orders.order_view(orders.load(economy, order_id)), True, False
    orders.queue_delivery(economy, order_id, attempt=attempt, dedupe=dedupe)
    return orders.order_view(orders.load(economy, order_id)), False, False


def cancel_listing(economy: str, listing_id: str, reason: str, actor: str) -> Dict[str, Any]:
    """Close an active listing for its seller, audited in the same transaction. Raises ListingNotFoundError,
    ListingNotActiveError."""

    def audit(listing: Any) -> Dict[str, Any]:
        return audit_write(economy, actor, "listing.cancel", keys.join("listing", listing_id),
                           before={"status": "active", "units_left": listing.units_left},
                           after={"status": "cancelled"}, extra={"seller_id": listing.seller_id})

    return listings.cancel_listing(economy, listing_id, None, audit=audit)


def reprice_listing(economy: str, listing_id: str, unit_price: int, reason: str,
                    actor: str) -> Tuple[Dict[str, Any], bool]:
    """Change an active listing's price under the market's guards, audited in the same transaction.

    Returns (the listing, changed). Raises ListingNotFoundError, ListingNotActiveError,
    BelowPriceFloorError, ValidationFailedError, ContentionError.
    """

    def audit(before: Any, after: Any) -> Dict[str, Any]:
        return audit_write(economy, actor, "listing.reprice", keys.join("listing", listing_id),
                           before={"unit_price": before.unit_price, "fee_bps": before.fee_bps},
                           after={"unit_price": after.unit_price, "fee_bps": after.fee_bps,
                                  "price_floor": after.price_floor},
                           extra={"seller_id": before.seller_id, "sku": before.sku})

    return listings.reprice_listing(economy, listing_id, unit_price, audit)
