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

Every resolution posts under the hold's one key ``hold-resolve:<order_id>``,
so an order is fulfilled or refunded exactly once whoever races (a retried
consumer, the expiry job, two redeems of one voucher). Deadlines: API orders
``ESCROW_TIMEOUT_MIN``, voucher orders ``VOUCHER_TIMEOUT_H``; jobs
``expire-orders`` and ``expire-vouchers`` refund what passed them (due index,
shards ``o*`` and ``v*``).
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from chalicelib.core import cursors, errors, keys
from chalicelib.spending import holds
from chalicelib.ledger import revenue
from chalicelib.core.config import get_settings
from chalicelib.db.engine import get_client, table_name
from chalicelib.spending.holds import Resolution
from chalicelib.core.ids import new_id, now_iso
from chalicelib.ledger import Outcome, Posted, SideWrite
from chalicelib.db import codec
from chalicelib.ledger.limits import MAX_ORDER_QTY, check_total

log = logging.getLogger("coinhall.orders")

ORDER_STATES = ("pending", "fulfilled", "refunded", "cancelled")
MAX_QTY = MAX_ORDER_QTY
_ORDER_ID = re.compile(r"^ord_[0-9A-Z]{26}$")


def valid_order_id(order_id: Any) -> bool:
    return isinstance(order_id, str) and bool(_ORDER_ID.match(order_id))


def order_view(item: Dict[str, Any]) -> Dict[str, Any]:
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


# -- reading ---------------------------------------------------------------------------


def find_order(economy: str, order_id: str) -> Optional[Dict[str, Any]]:
    item = get_client().get_item(TableName=table_name("orders"),
                                 Key={"economy": {"S": economy}, "order_id": {"S": order_id}},
                                 ConsistentRead=True).get("Item")
    return codec.decode_item(item) if item else None


def _load(economy: str, order_id: str) -> Dict[str, Any]:
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
    owner = f"{economy}#{buyer_id}"
    scope = keys.join("orders", owner, status or "*")
    kwargs: Dict[str, Any] = {
        "TableName": table_name("orders"), "IndexName": "by_buyer",
        "KeyConditionExpression": "#o = :o", "ExpressionAttributeNames": {"#o": "owner"},
        "ExpressionAttributeValues": {":o": {"S": owner}}, "ScanIndexForward": False,
        "Limit": limit if status is None else max(limit, 50),
    }
    if status is not None:
        kwargs["FilterExpression"] = "#s = :s"
        kwargs["ExpressionAttributeNames"]["#s"] = "status"
        kwargs["ExpressionAttributeValues"][":s"] = {"S": status}
    if cursor:
        position = cursors.decode(cursor, scope, ("order_id", "created_at"))
        kwargs["ExclusiveStartKey"] = {"economy": {"S": economy}, "order_id": {"S": position["order_id"]},
                                       "owner": {"S": owner}, "created_at": {"S": position["created_at"]}}
    items: List[Dict[str, Any]] = []
    client = get_client()
    for _ in range(10):  # a status filter can leave pages empty: bounded, then a cursor
        page = client.query(**kwargs)
        raw_items = page["Items"]
        for index, raw in enumerate(raw_items):
            items.append(codec.decode_item(raw))
            if len(items) == limit:
                more = index < len(raw_items) - 1 or "LastEvaluatedKey" in page
                last = items[-1]
                return [order_view(i) for i in items], (
                    cursors.encode(scope, {"order_id": last["order_id"], "created_at": last["created_at"]})
                    if more else None)
        if "LastEvaluatedKey" not in page:
            return [order_view(i) for i in items], None
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    last_key = kwargs["ExclusiveStartKey"]
    position = {"order_id": last_key["order_id"]["S"], "created_at": last_key["created_at"]["S"]}
    return [order_view(i) for i in items], cursors.encode(scope, position)


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
    from chalicelib.market.fulfilment import minecraft, vouchers

    check_total(terms.qty, terms.unit_price)  # whatever adapter built the terms
    settings = get_settings()
    if terms.fulfilment == "api":
        minecraft.ensure_configured()
    voucher = terms.fulfilment == "voucher"
    order_id = new_id("ord_")
    seconds = settings.voucher_timeout_h * 3600 if voucher else settings.escrow_timeout_min * 60
    hashed = vouchers.code_hash(vouchers.code_for(economy, order_id)) if voucher else None

    def record(hold: Dict[str, Any]) -> Dict[str, Any]:
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
        put = {"Put": {"TableName": table_name("orders"), "Item": codec.encode_item(record(hold)),
                       "ConditionExpression": "attribute_not_exists(order_id)"}}
        writes = [SideWrite(put, errors.ConflictError("The order id is taken; retry.")), *terms.reserve]
        if hashed:
            writes.append(SideWrite(vouchers.voucher_put(economy, order_id, hashed, hold["created_at"]),
                                    errors.ConflictError("The voucher code is taken; retry.")))
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
    return replace(outcome, result=result)


def _queue_delivery(economy: str, order_id: str) -> None:
    from chalicelib.market.fulfilment.consumer import queue_delivery

    try:
        queue_delivery(economy, order_id)
    except Exception:  # the coins are escrowed; the expiry job refunds an order nobody delivers
        log.exception("could not queue delivery of %s", order_id)


# -- limit counters (written inside the order's transaction) ---------------------------------


def counter_take(counter: str, qty: int, limit: int, ttl_epoch: int, explain: Dict[str, Any]) -> SideWrite:
    """Add ``qty`` to ``counter`` only while it stays within ``limit`` (LimitReachedError otherwise)."""
    update = {"Update": {
        "TableName": table_name("market_counters"), "Key": {"counter": {"S": counter}},
        "UpdateExpression": "ADD n :q SET expires_epoch = if_not_exists(expires_epoch, :ttl)",
        # More than the limit in one order: a condition no counter (not even a new one) meets.
        "ConditionExpression": "attribute_not_exists(n) OR n <= :cap" if qty <= limit else "n <= :cap",
        "ExpressionAttributeValues": {":q": {"N": str(qty)}, ":cap": {"N": str(limit - qty)},
                                      ":ttl": {"N": str(ttl_epoch)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}

    def refuse(item: Optional[Dict[str, Any]]) -> errors.CoinhallError:
        bought = int((item or {}).get("n", 0))
        return errors.LimitReachedError(limit=limit, bought=bought, requested=qty, left=max(0, limit - bought),
                                        **explain)

    return SideWrite(update, refuse)


def counter_give(counter: str, qty: int) -> Dict[str, Any]:
    return {"Update": {
        "TableName": table_name("market_counters"), "Key": {"counter": {"S": counter}},
        "UpdateExpression": "ADD n :neg SET expires_epoch = if_not_exists(expires_epoch, :ttl)",
        "ExpressionAttributeValues": {":neg": {"N": str(-qty)}, ":ttl": {"N": str(int(time.time()) + 3 * 86_400)}},
    }}


def counter_value(counter: str) -> int:
    item = get_client().get_item(TableName=table_name("market_counters"), Key={"counter": {"S": counter}},
                                 ConsistentRead=True).get("Item")
    return int(codec.decode_item(item).get("n", 0)) if item else 0


# -- resolving --------------------------------------------------------------------------------


def _conflict(economy: str, order_id: str) -> Callable[[Dict[str, Any]], errors.CoinhallError]:
    def explain(_hold: Dict[str, Any]) -> errors.CoinhallError:
        order = find_order(economy, order_id)
        status = order["status"] if order else "unknown"
        return errors.OrderNotPendingError(f"This order is already {status}.",
                                           order=order_view(order) if order else None)

    return explain


def _order_update(economy: str, order_id: str, fields: Dict[str, Any],
                  conflict: Callable[[Any], errors.CoinhallError]) -> SideWrite:
    values = {k: v for k, v in fields.items() if v is not None}
    names = {f"#f{i}": k for i, k in enumerate(values)}
    update = {"Update": {
        "TableName": table_name("orders"),
        "Key": {"economy": {"S": economy}, "order_id": {"S": order_id}},
        "UpdateExpression": "SET " + ", ".join(f"{n} = :f{i}" for i, n in enumerate(names)),
        "ConditionExpression": "#st = :pending",
        "ExpressionAttributeNames": {**names, "#st": "status"},
        "ExpressionAttributeValues": {**{f":f{i}": codec.encode(v) for i, v in enumerate(values.values())},
                                      ":pending": {"S": "pending"}},
    }}
    return SideWrite(update, conflict)


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
    from chalicelib.market import pricing
    from chalicelib.market.fulfilment import vouchers

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
        writes = [_order_update(economy, order_id, fields(posted.created_at), lambda _old: conflict(hold)),
                  SideWrite(pricing.sale_put(economy, order["sku"], order_id, order["kind"], int(order["qty"]),
                                             int(order["unit_price"]), posted.created_at))]
        if order.get("voucher_hash"):
            writes.append(SideWrite(vouchers.voucher_close(order["voucher_hash"], "redeemed", posted.created_at,
                                                           player_id)))
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
    from chalicelib.market import listings, catalog as shop
    from chalicelib.market.fulfilment import vouchers

    order = _load(economy, order_id)
    hold = _hold_of(economy, order)
    qty = int(order["qty"])
    res = Resolution(action, hold_status, 0, None, 0, "release", token, request_key)
    conflict = _conflict(economy, order_id)

    def fields(at: str) -> Dict[str, Any]:
        return {"status": status, "resolved_at": at, "resolution": action, "last_error": reason}

    def extra(posted: Posted) -> List[SideWrite]:
        writes = [_order_update(economy, order_id, fields(posted.created_at), lambda _old: conflict(hold))]
        if order["kind"] == "shop":
            writes.append(SideWrite(shop.release_write(economy, order["sku"], qty)))
        else:
            writes.append(SideWrite(listings.release_write(economy, order["listing_id"], qty)))
        writes += [SideWrite(counter_give(c, qty)) for c in order.get("counters") or ()]
        if order.get("voucher_hash"):
            writes.append(SideWrite(vouchers.voucher_close(order["voucher_hash"], "void", posted.created_at)))
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
    client = get_client()
    values: Dict[str, Any] = {":n": {"N": str(attempt)}, ":pending": {"S": "pending"}}
    update = "SET attempts = :n"
    if error is not None:
        update += ", last_error = :e"
        values[":e"] = {"S": error[:300]}
    try:
        client.update_item(TableName=table_name("orders"),
                           Key={"economy": {"S": economy}, "order_id": {"S": order_id}},
                           UpdateExpression=update, ConditionExpression="#st = :pending",
                           ExpressionAttributeNames={"#st": "status"}, ExpressionAttributeValues=values)
    except client.exceptions.ConditionalCheckFailedException:
        pass  # resolved meanwhile: nothing to note


def flag_late_delivery(economy: str, order_id: str, detail: str) -> None:
    """The game server delivered an order that was already refunded: mark it for an operator."""
    log.error("order %s was delivered after it was resolved: %s", order_id, detail)
    get_client().update_item(TableName=table_name("orders"),
                             Key={"economy": {"S": economy}, "order_id": {"S": order_id}},
                             UpdateExpression="SET delivered_after_resolution = :t",
                             ExpressionAttributeValues={":t": {"BOOL": True}})


def _announce(economy: str, event: str, result: Dict[str, Any], op_id: str) -> None:
    from chalicelib.market.events import publish

    publish(economy, event, result, op_id)
