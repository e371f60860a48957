"""Orders: coins in escrow until the game server delivers, then settled once or refunded.

An order is a hold (``holds.py``, ``kind = "order"``, the same id) plus an
order item that says what was bought. States::

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

Every resolution posts under the hold's one key ``hold-resolve:<order_id>``,
so an order is fulfilled or refunded exactly once whoever races (a retried
consumer, the expiry job, two redeems of one voucher). Deadlines: API orders
``ESCROW_TIMEOUT_MIN``, voucher orders ``VOUCHER_TIMEOUT_H``; jobs
``expire-orders`` and ``expire-vouchers`` refund what passed them (due index,
shards ``o*`` and ``v*``).
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.config import get_settings
from chalicelib.core.ids import new_id, now_iso
from chalicelib.ledger import Outcome, Posted, SideWrite, revenue
from chalicelib.ledger.limits import MAX_ORDER_QTY, check_total
from chalicelib.market import events
from chalicelib.market.fulfilment import minecraft, vouchers
from chalicelib.market.store import counters, prices
from chalicelib.market.store import orders as store
from chalicelib.market.store import vouchers as voucher_store
from chalicelib.market.store.orders import OrderItem
from chalicelib.runtime import queue
from chalicelib.spending import holds
from chalicelib.spending.holds import Resolution

log = logging.getLogger("coinhall.orders")

ORDER_STATES = ("pending", "fulfilled", "refunded", "cancelled")
MAX_QTY = MAX_ORDER_QTY
DELIVERY_TOPIC = "fulfilment.minecraft"
_ORDER_ID = re.compile(r"^ord_[0-9A-Z]{26}$")

find_order = store.find_order
counter_take = counters.counter_take
counter_value = counters.counter_value


def valid_order_id(order_id: Any) -> bool:
    return isinstance(order_id, str) and bool(_ORDER_ID.match(order_id))


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


def _source(kind: str) -> UnitSource:
    source = _SOURCES.get(kind)
    if source is None:  # a programming error: every kind's module is imported with the package
        raise KeyError(f"no unit source for order kind {kind!r}")
    return source


# -- reading ---------------------------------------------------------------------------


def _load(economy: str, order_id: str) -> OrderItem:
    order = find_order(economy, order_id)
    if order is None:
        raise errors.OrderNotFoundError(order_id=order_id)
    return order


def get_order(economy: str, order_id: str) -> Dict[str, Any]:
    """Raises OrderNotFoundError."""
    return order_view(_load(economy, order_id))


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
            "discord": discord, "attempts": 0, "op_id": hold["op_id"],
        }

    def extra(hold: Dict[str, Any]) -> List[SideWrite]:
        writes = [store.order_put(record(hold)), *terms.reserve]
        if hashed:
            writes.append(voucher_store.voucher_put(economy, order_id, hashed, hold["created_at"]))
        return writes

    outcome = holds.place(
        economy, terms.buyer_id, terms.total, f"order {terms.sku}", order_id,
        seconds, idempotency_key, request=request, kind="order", hold_id=order_id,
        due_prefix="v" if voucher else "o", entry_type="order", key_namespace=key_namespace,
        meta={"order_id": order_id, "sku": terms.sku, "qty": terms.qty, "listing_id": terms.listing_id},
        extra_side_writes=extra, view=lambda hold: order_view(record(hold)),
    )
    result = dict(outcome.result)
    placed_id = result["order_id"]
    if voucher:
        result["voucher_code"] = vouchers.code_for(economy, placed_id)
    if terms.fulfilment == "api":
        # Also on a replay: the first request may have died between its commit and this line.
        _queue_delivery(economy, placed_id)
    if not outcome.replayed:
        _announce(economy, "order.placed", outcome.result, outcome.op_id)
    return Outcome(result, outcome.status_code, outcome.replayed, outcome.op_id)


def queue_delivery(economy: str, order_id: str, attempt: int = 1, delay: float = 0) -> None:
    """Enqueue try ``attempt`` of an order's delivery on ``fulfilment.minecraft`` (deduplicated per try)."""
    # SQS takes whole seconds; sub-second delays only occur with tiny test bases.
    seconds: Any = delay if delay < 1 else math.ceil(delay)
    queue.enqueue(DELIVERY_TOPIC, {"economy": economy, "order_id": order_id, "attempt": attempt},
                  dedupe_id=keys.join(order_id, str(attempt)), delay_seconds=seconds)


def _queue_delivery(economy: str, order_id: str) -> None:
    try:
        queue_delivery(economy, order_id)
    except Exception:  # the coins are escrowed; the expiry job refunds an order nobody delivers
        log.exception("could not queue delivery of %s", order_id)


# -- resolving --------------------------------------------------------------------------------


def _conflict(economy: str, order_id: str) -> Callable[[Dict[str, Any]], errors.CoinhallError]:
    def explain(_hold: Dict[str, Any]) -> errors.CoinhallError:
        order = find_order(economy, order_id)
        status = order["status"] if order else "unknown"
        return errors.OrderNotPendingError(f"This order is already {status}.",
                                           order=order_view(order) if order else None)

    return explain


def _hold_of(economy: str, order: Dict[str, Any]) -> Dict[str, Any]:
    hold = holds.find_hold(economy, order["order_id"])
    if hold is None:  # written in the same transaction as the order: cannot happen
        raise errors.ConflictError("The order's escrow is missing.", order_id=order["order_id"])
    return hold


def fulfil(economy: str, order_id: str, *, via: str, token: str, player_id: Optional[str] = None,
           order: Optional[Dict[str, Any]] = None) -> Outcome:
    """Settle the order's escrow: the seller's net to the seller, the fee (or the shop price) to the treasury.

    ``via`` is ``api`` or ``voucher``; ``token`` tells requests apart (the same
    token replays the first answer). Writes the sale row for the price rollup
    and, for a voucher, marks it redeemed by ``player_id``. ``order``: the item
    the caller just read (what it says never changes; the status is checked by
    the write). Raises OrderNotFoundError, OrderNotPendingError (resolved
    otherwise), ContentionError.
    """
    order = order or _load(economy, order_id)
    hold = _hold_of(economy, order)
    total, seller = int(order["total"]), order.get("seller_id")
    share = revenue.payee_share_bps(int(order["fee_bps"])) if seller else 0
    payment = revenue.split(total, share)
    res = Resolution("order-fulfil", "settled", total, seller, share, "settle", token)
    conflict = _conflict(economy, order_id)

    def fields(at: str) -> Dict[str, Any]:
        return {"status": "fulfilled", "resolved_at": at, "resolution": f"fulfilled:{via}",
                "seller_amount": payment.recipient if seller else None, "treasury_amount": payment.platform,
                "redeemed_by": player_id}

    def extra(posted: Posted) -> List[SideWrite]:
        writes = [store.order_resolve(economy, order_id, fields(posted.created_at), lambda _old: conflict(hold)),
                  prices.sale_put(economy, order["sku"], order_id, order["kind"], int(order["qty"]),
                                  int(order["unit_price"]), posted.created_at)]
        if order.get("voucher_hash"):
            writes.append(voucher_store.voucher_close(order["voucher_hash"], "redeemed", posted.created_at,
                                                      player_id))
        return writes

    def view(after: Dict[str, Any]) -> Dict[str, Any]:
        return order_view({**order, **{k: v for k, v in fields(after["resolved_at"]).items() if v is not None}})

    outcome = holds.resolve(economy, hold, res, view, conflict, meta={"order_id": order_id, "sku": order["sku"]},
                            extra_side_writes=extra)
    if not outcome.replayed:
        _announce(economy, "order.fulfilled", outcome.result, outcome.op_id)
    return outcome


def refund(
    economy: str,
    order_id: str,
    *,
    reason: str,
    token: str,
    action: str = "order-refund",
    status: str = "refunded",
    hold_status: str = "released",
    request_key: Optional[str] = None,
) -> Outcome:
    """Release the order's escrow to the buyer and give the units back (stock or listing, limit counters).

    ``request_key``: the caller's Idempotency-Key record (``api:<k>``), bound to the refund.
    Raises OrderNotFoundError, OrderNotPendingError, IdempotencyKeyReusedError, ContentionError.
    """
    order = _load(economy, order_id)
    hold = _hold_of(economy, order)
    qty = int(order["qty"])
    res = Resolution(action, hold_status, 0, None, 0, "release", token, request_key)
    conflict = _conflict(economy, order_id)

    def fields(at: str) -> Dict[str, Any]:
        return {"status": status, "resolved_at": at, "resolution": action, "last_error": reason}

    def extra(posted: Posted) -> List[SideWrite]:
        writes = [store.order_resolve(economy, order_id, fields(posted.created_at), lambda _old: conflict(hold)),
                  *_source(order["kind"]).release(economy, order)]
        writes += [counters.counter_give(c, qty) for c in order.get("counters") or ()]
        if order.get("voucher_hash"):
            writes.append(voucher_store.voucher_close(order["voucher_hash"], "void", posted.created_at))
        return writes

    def view(after: Dict[str, Any]) -> Dict[str, Any]:
        return order_view({**order, **fields(after["resolved_at"])})

    outcome = holds.resolve(economy, hold, res, view, conflict, meta={"order_id": order_id, "sku": order["sku"]},
                            extra_side_writes=extra)
    if not outcome.replayed:
        _announce(economy, f"order.{status}", outcome.result, outcome.op_id)
    return outcome


def expire(economy: str, hold: Dict[str, Any], now: str) -> Optional[Outcome]:
    """Refund an order whose escrow deadline passed ``now``; None when not due or resolved otherwise.

    Overlapping callers (two job runs, a late consumer, a late redeem) share one
    fingerprint and replay each other. Raises ContentionError.
    """
    if hold.get("kind") != "order" or hold["expires_at"] > now:
        return None
    try:
        return refund(economy, hold["hold_id"], reason="not fulfilled before its deadline", token="due",
                      action="order-expire", hold_status="expired")
    except (errors.OrderNotPendingError, errors.OrderNotFoundError):
        return None


def expire_if_due(economy: str, order_id: str, now: str) -> Optional[Outcome]:
    """Refund the order if its deadline passed ``now`` (a late consumer, a late redeem); as ``expire``."""
    hold = holds.find_hold(economy, order_id)
    return expire(economy, hold, now) if hold is not None else None


def expire_due_orders(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``expire-orders``: refund API orders not fulfilled within ESCROW_TIMEOUT_MIN (due index, bounded)."""
    return holds.run_due(ctx, "order", lambda item, at: expire(item["economy"], item, at), economy, now, prefix="o")


def expire_due_vouchers(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``expire-vouchers``: refund voucher orders not redeemed within VOUCHER_TIMEOUT_H (due index, bounded)."""
    return holds.run_due(ctx, "order", lambda item, at: expire(item["economy"], item, at), economy, now, prefix="v")


def cancel(economy: str, order_id: str, idempotency_key: Optional[str]) -> Outcome:
    """Cancel a pending voucher order (the code stops working) and refund it.

    API orders cannot be cancelled: a call to the game server may be in
    flight. Raises OrderNotFoundError, OrderNotCancellableError,
    OrderNotPendingError (resolved, or past its deadline: then it is refunded
    as expired first), ContentionError.
    """
    order = _load(economy, order_id)
    if order["fulfilment"] != "voucher":
        raise errors.OrderNotCancellableError(order_id=order_id, fulfilment=order["fulfilment"])
    if order["status"] == "pending" and order["expires_at"] <= now_iso():
        expire(economy, _hold_of(economy, order), now_iso())
        raise _conflict(economy, order_id)({})
    if order["status"] != "pending" and not idempotency_key:
        raise _conflict(economy, order_id)({})
    return refund(economy, order_id, reason="cancelled", token=holds.request_token(idempotency_key),
                  action="order-cancel", status="cancelled", request_key=holds.request_key(idempotency_key))


def note_attempt(economy: str, order_id: str, attempt: int, error: Optional[str] = None) -> None:
    """Record a delivery try on a pending order (for operators; no money moves)."""
    store.note_attempt(economy, order_id, attempt, error)


def flag_late_delivery(economy: str, order_id: str, detail: str) -> None:
    """The game server delivered an order that was already refunded: mark it for an operator."""
    log.error("order %s was delivered after it was resolved: %s", order_id, detail)
    store.flag_late_delivery(economy, order_id)


def _announce(economy: str, event: str, result: Dict[str, Any], op_id: str) -> None:
    events.publish(economy, event, result, op_id)
