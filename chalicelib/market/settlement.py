"""Settling orders: fulfil (post the escrow to the seller and the treasury), refund, expire, cancel.

Each is one ledger operation on the order's pending transfer
(``ledger.pending.post`` or ``void``) under its one resolve key
``hold-resolve:<order_id>``, with the order's and its hold row's updates (both
conditioned on still being pending/active), the sale row or the units given
back (the order kind's unit source), the limit counters and the voucher as
side writes. So an order ends exactly once whoever races: a retried consumer,
the expiry job, two redeems of one voucher. The fingerprints are the ones the
order's hold always had, so an operation started before a deploy replays
after it.

Jobs ``expire-orders`` and ``expire-vouchers`` refund orders past their
deadline (the holds table's ``due`` index, shards ``o*`` and ``v*``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.ids import new_id, now_iso
from chalicelib.ledger import Outcome, Posted, SideWrite, pending, revenue
from chalicelib.market import catalog, listings  # noqa: F401 (they register their unit sources with orders)
from chalicelib.market.orders import announce, find_order, load, order_view, unit_source
from chalicelib.market.store import counters, prices
from chalicelib.market.store import order_holds as hold_store
from chalicelib.market.store import orders as store
from chalicelib.market.store import vouchers as voucher_store
from chalicelib.runtime.due import run_due_index


def _conflict(economy: str, order_id: str) -> Callable[[Any], errors.CoinhallError]:
    def explain(_hold: Any) -> errors.CoinhallError:
        order = find_order(economy, order_id)
        status = order["status"] if order else "unknown"
        return errors.OrderNotPendingError(f"This order is already {status}.",
                                           order=order_view(order) if order else None)

    return explain


def _hold_of(economy: str, order: Mapping[str, Any]) -> Dict[str, Any]:
    hold = hold_store.find_order_hold(economy, order["order_id"])
    if hold is None:  # written in the same transaction as the order: cannot happen
        raise errors.ConflictError("The order's escrow is missing.", order_id=order["order_id"])
    return hold


@dataclass(frozen=True)
class _Resolution:
    """How an order's pending transfer resolves (the hold row records it)."""

    action: str  # order-fulfil | order-refund | order-expire | order-cancel
    hold_status: str  # settled | released | expired
    entry_type: str  # settle | release
    token: str  # what tells two requests apart: a label, an Idempotency-Key, "due"
    payees: Tuple[pending.Payee, ...] = ()
    payee: Optional[str] = None  # the seller paid, if any
    split: Optional[revenue.Split] = None
    request_key: Optional[str] = None

    @property
    def settled(self) -> int:
        return sum(p.amount for p in self.payees)


def _resolve(economy: str, order: Mapping[str, Any], hold: Mapping[str, Any], res: _Resolution,
             order_fields: Callable[[str], Dict[str, Any]], extra: Callable[[Posted], List[SideWrite]]) -> Outcome:
    """Post or void the order's pending transfer under its one resolve key, with the order's and hold's writes.

    Raises OrderNotPendingError (resolved otherwise), IdempotencyKeyReusedError,
    the side writes' errors, ContentionError.
    """
    order_id = order["order_id"]
    amount = int(hold["amount"])
    conflict = _conflict(economy, order_id)
    payment = res.split or revenue.split(0, 0)

    def hold_fields(posted: Posted) -> Dict[str, Any]:
        return {"status": res.hold_status, "resolved_at": posted.created_at, "resolution": res.action,
                "resolution_op": posted.op_id, "settled_amount": res.settled, "returned_amount": amount - res.settled,
                "to_user_id": res.payee, "creator_amount": payment.recipient, "platform_amount": payment.platform}

    def writes(posted: Posted) -> List[SideWrite]:
        return [hold_store.order_hold_resolve(economy, order_id, hold_fields(posted), conflict),
                store.order_resolve(economy, order_id, order_fields(posted.created_at), conflict), *extra(posted)]

    def respond(posted: Posted) -> Dict[str, Any]:
        after = {k: v for k, v in order_fields(posted.created_at).items() if v is not None}
        return {**order_view({**order, **after}), "transaction_id": posted.op_id,
                "balance": posted.user(hold["user_id"]).as_dict()}

    transfer = pending.Pending(id=order_id, payer=hold["user_id"], amount=amount, expires_at=hold["expires_at"])
    resolution = pending.Resolve(
        action=res.action, type=res.entry_type, request=(res.settled, res.payee, res.token), payees=res.payees,
        request_key=res.request_key, reason=f"{res.action} {hold['purpose']}", ref=hold.get("ref"),
        meta={"order_id": order_id, "sku": order["sku"], "hold_id": order_id},
    )
    try:
        if res.payees:
            return pending.post(economy, transfer, resolution, respond=respond, record=writes)
        return pending.void(economy, transfer, resolution, respond=respond, record=writes)
    except pending.PendingResolvedError:
        raise conflict(None) from None  # another resolution committed first: answer with the order's state


def fulfil(economy: str, order_id: str, *, via: str, token: str, player_id: Optional[str] = None,
           order: Optional[Mapping[str, Any]] = None, also: Optional[Callable[[Posted], List[SideWrite]]] = None,
           request_key: Optional[str] = None) -> Outcome:
    """Settle the order's escrow: the seller's net to the seller, the fee (or the shop price) to the treasury.

    ``via`` is ``api`` or ``voucher``; ``token`` tells requests apart (the same
    token replays the first answer). Writes the sale row for the price rollup
    and, for a voucher, marks it redeemed by ``player_id``. ``order``: the item
    the caller just read (what it says never changes; the status is checked by
    the write). Raises OrderNotFoundError, OrderNotPendingError (resolved
    otherwise), ContentionError.
    """
    order = order or load(economy, order_id)
    hold = _hold_of(economy, order)
    total, seller = int(order["total"]), order.get("seller_id")
    share = revenue.payee_share_bps(int(order["fee_bps"])) if seller else 0
    payment = revenue.split(total, share)
    res = _Resolution("order-fulfil", "settled", "settle", token,
                      payees=pending.split(total, share, ledger.user(seller) if seller else None),
                      payee=seller, split=payment, request_key=request_key)

    def fields(at: str) -> Dict[str, Any]:
        return {"status": "fulfilled", "resolved_at": at, "resolution": f"fulfilled:{via}",
                "seller_amount": payment.recipient if seller else None, "treasury_amount": payment.platform,
                "redeemed_by": player_id}

    def extra(posted: Posted) -> List[SideWrite]:
        writes = [prices.sale_put(economy, order["sku"], order_id, order["kind"], int(order["qty"]),
                                  int(order["unit_price"]), posted.created_at)]
        if order.get("voucher_hash"):
            writes.append(voucher_store.voucher_close(order["voucher_hash"], "redeemed", posted.created_at,
                                                      player_id))
        return writes + (also(posted) if also else [])

    outcome = _resolve(economy, order, hold, res, fields, extra)
    if not outcome.replayed:
        announce(economy, "order.fulfilled", outcome.result, outcome.op_id)
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
    also: Optional[Callable[[Posted], List[SideWrite]]] = None,
) -> Outcome:
    """Release the order's escrow to the buyer and give the units back (its unit source's writes, limit counters).

    ``request_key``: the caller's Idempotency-Key record (``api:<k>``), bound to the refund. ``also``: more side
    writes of the same transaction (an operator's audit row).
    Raises OrderNotFoundError, OrderNotPendingError, IdempotencyKeyReusedError, ContentionError.
    """
    order = load(economy, order_id)
    hold = _hold_of(economy, order)
    qty = int(order["qty"])
    res = _Resolution(action, hold_status, "release", token, request_key=request_key)

    def fields(at: str) -> Dict[str, Any]:
        return {"status": status, "resolved_at": at, "resolution": action, "last_error": reason}

    def extra(posted: Posted) -> List[SideWrite]:
        writes = [*unit_source(order["kind"]).release(economy, order)]
        writes += [counters.counter_give(c, qty) for c in order.get("counters") or ()]
        if order.get("voucher_hash"):
            writes.append(voucher_store.voucher_close(order["voucher_hash"], "void", posted.created_at))
        return writes + (also(posted) if also else [])

    outcome = _resolve(economy, order, hold, res, fields, extra)
    if not outcome.replayed:
        announce(economy, f"order.{status}", outcome.result, outcome.op_id)
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
    hold = hold_store.find_order_hold(economy, order_id)
    return expire(economy, hold, now) if hold is not None else None


def _expire_due(ctx: Any, prefix: str, economy: Optional[str], now: Optional[str]) -> Dict[str, Any]:
    """Refund what is due in the holds table's ``due`` index shards ``prefix*`` (never a scan), within budget."""
    at = now or now_iso()

    def one(item: Dict[str, Any]) -> str:
        outcome = expire(item["economy"], item, at)
        return "resolved" if outcome is not None and not outcome.replayed else "already_resolved"

    return run_due_index(ctx, table=hold_store.TABLE, prefix=prefix, shards=hold_store.DUE_SHARDS, now=at,
                         handle=one, key="hold_id", economy=economy)


def expire_due_orders(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``expire-orders``: refund API orders not fulfilled within ESCROW_TIMEOUT_MIN (due index, bounded)."""
    return _expire_due(ctx, "o", economy, now)


def expire_due_vouchers(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``expire-vouchers``: refund voucher orders not redeemed within VOUCHER_TIMEOUT_H (due index, bounded)."""
    return _expire_due(ctx, "v", economy, now)


def cancel(economy: str, order_id: str, idempotency_key: Optional[str]) -> Outcome:
    """Cancel a pending voucher order (the code stops working) and refund it.

    API orders cannot be cancelled: a call to the game server may be in
    flight. Raises OrderNotFoundError, OrderNotCancellableError,
    OrderNotPendingError (resolved, or past its deadline: then it is refunded
    as expired first), ContentionError.
    """
    order = load(economy, order_id)
    if order["fulfilment"] != "voucher":
        raise errors.OrderNotCancellableError(order_id=order_id, fulfilment=order["fulfilment"])
    if order["status"] == "pending" and order["expires_at"] <= now_iso():
        expire(economy, _hold_of(economy, order), now_iso())
        raise _conflict(economy, order_id)({})
    if order["status"] != "pending" and not idempotency_key:
        raise _conflict(economy, order_id)({})
    # With a key a retry replays; without one every call is a new request (a second one is a 409).
    token = f"key:{idempotency_key}" if idempotency_key else new_id("req_")
    request_key = keys.tag("api", idempotency_key) if idempotency_key else None  # the same record on every route
    return refund(economy, order_id, reason="cancelled", token=token, action="order-cancel", status="cancelled",
                  request_key=request_key)
