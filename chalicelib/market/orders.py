"""Orders: coins in escrow until the game server delivers, then settled once or refunded.

An order is a pending transfer (``ledger.pending``: reserve, then post or
void) recorded by a hold row (``kind = "order"``, the same id, in the holds
table: ``store/order_holds.py``) plus an order item that says what was bought. States::

    pending --delivered (API 2xx, or voucher redeemed)--> fulfilled   (escrow settled)
    pending --plugin refused / tries used up-----------> refunded    (escrow released)
    pending --not fulfilled by its deadline (job)------> refunded    (resolution "order-expire")
    pending --voucher cancelled by the buyer's app-----> cancelled   (escrow released)

Money, for ``total = qty * unit_price``:
* buy: buyer ``available -total, held +total`` (one ledger operation, with the
  order item, the hold item, the conditional stock or listing decrement, the
  limit counters and the voucher hash as side writes: all or nothing);
* fulfil a shop order: buyer ``held -total``; treasury ``+total`` (shop revenue);
* fulfil a listing order: buyer ``held -total``; seller ``earnings
  +floor(total * (10000 - fee_bps) / 10000)``; treasury the rest (the fee);
* refund / expire / cancel: buyer ``held -total, available +total``, and the
  units go back (shop stock, listing quantity, limit counters).

Orders know neither the shop nor listings: each order ``kind`` has a *unit
source* (``UnitSource``), registered by the module that sells that kind
(``catalog`` for ``shop``, ``listings`` for ``listing``). The seller side
builds the ``Terms`` with its reserve writes; on a refund the source gives the
writes that put the units back. Delivery is queued by topic
(``fulfilment.minecraft``) and events are published (``events.publish``): no
import of their consumers.

Resolving (fulfil, refund, expire, cancel) is ``settlement.py``. Every
resolution posts under the one resolve key ``hold-resolve:<order_id>``,
so an order is fulfilled or refunded exactly once whoever races (a retried
consumer, the expiry job, two redeems of one voucher). Deadlines: API orders
``ESCROW_TIMEOUT_MIN``, voucher orders ``VOUCHER_TIMEOUT_H``; jobs
``expire-orders`` and ``expire-vouchers`` refund what passed them (due index,
shards ``o*`` and ``v*``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.config import get_settings
from chalicelib.core.ids import new_id
from chalicelib.ledger import Outcome, SideWrite, pending
from chalicelib.ledger.limits import MAX_ORDER_QTY, check_total
from chalicelib.market import events
from chalicelib.market.fulfilment import minecraft, vouchers
from chalicelib.market.names import ORDER_STATES, valid_order_id  # noqa: F401 (this module's names)
from chalicelib.market.store import counters
from chalicelib.market.store import order_holds as hold_store
from chalicelib.market.store import orders as store
from chalicelib.market.store import vouchers as voucher_store
from chalicelib.market.store.orders import OrderItem
from chalicelib.runtime import queue

log = logging.getLogger("coinhall.orders")

MAX_QTY = MAX_ORDER_QTY
DELIVERY_TOPIC = "fulfilment.minecraft"

find_order = store.find_order
counter_take = counters.counter_take
counter_value = counters.counter_value


def order_view(item: Mapping[str, Any]) -> Dict[str, Any]:
    return {
        "order_id": item["order_id"],
        "kind": item["kind"],
        "status": item["status"],
        "buyer_id": item["buyer_id"],
        "player_id": item["player_id"],
        "sku": item["sku"],
        "name": item["name"],
        "category": item["category"],
        "qty": int(item["qty"]),
        "unit_price": int(item["unit_price"]),
        "total": int(item["total"]),
        "fee_bps": int(item["fee_bps"]),
        "seller_id": item.get("seller_id"),
        "listing_id": item.get("listing_id"),
        "fulfilment": item["fulfilment"],
        "action": item["action"],
        "payload": item.get("payload") or {},
        "created_at": item["created_at"],
        "expires_at": item["expires_at"],
        "resolved_at": item.get("resolved_at"),
        "resolution": item.get("resolution"),
        "seller_amount": item.get("seller_amount"),
        "treasury_amount": item.get("treasury_amount"),
        "attempts": int(item.get("attempts") or 0),
        "last_error": item.get("last_error"),
        "redeemed_by": item.get("redeemed_by"),
        # the README's flag for an operator: the game server delivered after we refunded
        "delivered_after_resolution": bool(item.get("delivered_after_resolution")),
        # and its twin: a try's outcome was never recorded (no answer, or delivered and never settled),
        # so a refunded order may have been delivered all the same
        "delivery_unknown": bool(item.get("delivery_unknown")),
        # a shop discount event that lowered the unit price (None: none did)
        "event_id": item.get("event_id"),
        "discount_bps": item.get("discount_bps"),
        "list_price": item.get("list_price"),
    }


# -- unit sources ------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitSource:
    """Where an order kind's units come from, as far as orders need to know.

    ``release(economy, order)`` gives the writes that put a refunded order's
    units back (shop stock, listing units). The reserve writes are built by
    the source itself when it makes the ``Terms`` (it knows its own item).
    """

    release: Callable[[str, Mapping[str, Any]], List[SideWrite]]


_SOURCES: Dict[str, UnitSource] = {}


def register_unit_source(kind: str, source: UnitSource) -> None:
    """Called by the module that sells ``kind`` when it is imported (``market/__init__`` imports them all)."""
    _SOURCES[kind] = source


def unit_source(kind: str) -> UnitSource:
    source = _SOURCES.get(kind)
    if source is None:  # a programming error: every kind's module is imported with the package (KeyError)
        raise KeyError(f"no unit source for order kind {kind!r}")
    return source


# -- reading ---------------------------------------------------------------------------


def load(economy: str, order_id: str) -> OrderItem:
    """The order item. Raises OrderNotFoundError."""
    order = find_order(economy, order_id)
    if order is None:
        raise errors.OrderNotFoundError(order_id=order_id)
    return order


def get_order(economy: str, order_id: str) -> Dict[str, Any]:
    """Raises OrderNotFoundError."""
    return order_view(load(economy, order_id))


def list_orders(economy: str, buyer_id: str, status: Optional[str] = None, limit: int = 25,
                cursor: Optional[str] = None) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """A buyer's orders, newest first, optionally in one ``status``. Raises InvalidCursorError."""
    page = store.buyer_page(economy, buyer_id, status, limit, cursor)
    return [order_view(i) for i in page.items], page.next_cursor


# -- placing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """What is being bought, from whom, and what to give back if it is refunded."""

    kind: str  # shop | listing
    buyer_id: str
    player_id: str
    sku: str
    name: str
    category: str
    qty: int
    unit_price: int
    fee_bps: int
    fulfilment: str  # api | voucher
    action: str
    payload: Dict[str, Any]
    seller_id: Optional[str] = None
    listing_id: Optional[str] = None
    counters: Tuple[str, ...] = ()  # limit counters taken, given back on refund
    reserve: Tuple[SideWrite, ...] = field(default=())  # stock / listing decrement, limit counters
    # A shop discount event that set ``unit_price``: {event_id, discount_bps, list_price}, kept on the order.
    discount: Optional[Dict[str, Any]] = None

    @property
    def total(self) -> int:
        return self.qty * self.unit_price


def place_order(
    economy: str,
    terms: Terms,
    *,
    idempotency_key: str,
    key_namespace: str,
    request: Tuple[Any, ...],
    discord: Optional[Dict[str, str]] = None,
) -> Outcome:
    """Escrow the buyer's coins and write the order, once per key; queue the delivery.

    The result is the order with ``transaction_id``, ``balance`` and, for a
    voucher order, ``voucher_code`` (derived again on a replay, never stored).
    Raises InsufficientFundsError, AccountFrozenError, UserNotFoundError,
    IdempotencyKeyReusedError, the reserve writes' errors (OutOfStockError,
    LimitReachedError, RewardUnavailableError, PriceChangedError, ...),
    FulfilmentUnavailableError, ContentionError.
    """
    check_total(terms.qty, terms.unit_price)  # whatever adapter built the terms
    settings = get_settings()
    if terms.fulfilment == "api":
        minecraft.ensure_configured()
    voucher = terms.fulfilment == "voucher"
    order_id = new_id("ord_")
    seconds = settings.voucher_timeout_h * 3600 if voucher else settings.escrow_timeout_min * 60
    hashed = vouchers.code_hash(vouchers.code_for(economy, order_id)) if voucher else None

    def record(hold: Mapping[str, Any]) -> Dict[str, Any]:
        return {
            "economy": economy, "order_id": order_id, "kind": terms.kind, "buyer_id": terms.buyer_id,
            "owner": f"{economy}#{terms.buyer_id}", "player_id": terms.player_id, "sku": terms.sku,
            "name": terms.name, "category": terms.category, "qty": terms.qty, "unit_price": terms.unit_price,
            "total": terms.total, "fee_bps": terms.fee_bps, "seller_id": terms.seller_id,
            "listing_id": terms.listing_id, "fulfilment": terms.fulfilment, "action": terms.action,
            "payload": terms.payload, "status": "pending", "created_at": hold["created_at"],
            "expires_at": hold["expires_at"], "counters": list(terms.counters) or None, "voucher_hash": hashed,
            "discord": discord, "attempts": 0, "op_id": hold["op_id"], **(terms.discount or {}),
        }

    def times(r: pending.Reserved) -> Dict[str, Any]:
        return {"created_at": r.created_at, "expires_at": r.expires_at, "op_id": r.op_id}

    def writes(r: pending.Reserved) -> List[SideWrite]:
        hold = hold_store.order_hold_record(economy, order_id, terms.buyer_id, terms.total, terms.sku, r.created_at,
                                            r.expires_at, r.op_id, "v" if voucher else "o")
        out = [hold_store.order_hold_put(hold), store.order_put(record(times(r))), *terms.reserve]
        if hashed:
            out.append(voucher_store.voucher_put(economy, order_id, hashed, r.created_at))
        return out

    def respond(r: pending.Reserved) -> Dict[str, Any]:
        return {**order_view(record(times(r))), "transaction_id": r.op_id,
                "balance": r.posted.user(terms.buyer_id).as_dict()}

    outcome = pending.reserve(economy, pending.Reserve(
        id=order_id, payer=terms.buyer_id, amount=terms.total, expires_in=seconds,
        key=keys.tag(key_namespace, idempotency_key), request=request, type="order", reason=f"order {terms.sku}",
        ref=order_id, meta={"order_id": order_id, "sku": terms.sku, "qty": terms.qty, "listing_id": terms.listing_id,
                            "hold_id": order_id, **(terms.discount or {})},
    ), respond=respond, record=writes)
    result = dict(outcome.result)
    placed_id = result["order_id"]
    if voucher:
        result["voucher_code"] = vouchers.code_for(economy, placed_id)
    if terms.fulfilment == "api":
        # Also on a replay: the first request may have died between its commit and this line.
        _queue_delivery(economy, placed_id)
    if not outcome.replayed:
        announce(economy, "order.placed", outcome.result, outcome.op_id)
    return replace(outcome, result=result)


def queue_delivery(economy: str, order_id: str, attempt: int = 1, delay: float = 0,
                   dedupe: Optional[str] = None) -> None:
    """Enqueue try ``attempt`` of an order's delivery on ``fulfilment.minecraft`` (deduplicated per try, or by
    ``dedupe``: an operator's extra try must not be dropped as the copy of a retry already scheduled)."""
    # SQS takes whole seconds; sub-second delays only occur with tiny test bases.
    seconds: Any = delay if delay < 1 else math.ceil(delay)
    queue.enqueue(DELIVERY_TOPIC, {"economy": economy, "order_id": order_id, "attempt": attempt},
                  dedupe_id=dedupe or keys.join(order_id, str(attempt)), delay_seconds=seconds)


def _queue_delivery(economy: str, order_id: str) -> None:
    try:
        queue_delivery(economy, order_id)
    except Exception:  # the coins are escrowed; the expiry job refunds an order nobody delivers
        log.exception("could not queue delivery of %s", order_id)


def note_attempt(economy: str, order_id: str, attempt: int, error: Optional[str] = None,
                 unknown: Optional[bool] = None) -> None:
    """Record a delivery try on a pending order (for operators; no money moves).

    ``unknown`` sets ``delivery_unknown`` (None leaves it): whether the game server may
    have delivered the order without our hearing it.
    """
    store.note_attempt(economy, order_id, attempt, error, unknown)


def flag_late_delivery(economy: str, order_id: str, detail: str) -> None:
    """The game server delivered an order that was already refunded: mark it for an operator."""
    log.error("order %s was delivered after it was resolved: %s", order_id, detail)
    store.flag_late_delivery(economy, order_id)


def announce(economy: str, event: str, result: Dict[str, Any], op_id: str) -> None:
    """Publish an order event (after its transaction committed; never raises)."""
    events.publish(economy, event, result, op_id)
