"""Holds: coins reserved for something metered (a call, a stream), settled later.

A hold is the record of a ledger pending transfer (``ledger.pending``): the
ledger moves the coins and resolves it once; this module keeps its state
machine (one hold item per hold, ``spending/store.py``)::

    active --settle(amount?, to_user_id?)--> settled   (the rest returns to the payer)
    active --release-------------------------> released
    active --expires_at passed---------------> expired  (released by the job, or by the
                                                          first settle/release that comes late)

Money:
* place: payer ``available -> held`` (``amount``), one ledger operation under the
  caller's ``Idempotency-Key``, with the hold item as a side write;
* settle ``s`` of ``A``: payer ``held -A``, payer ``available +(A - s)``, and ``s``
  split by ``revenue.split`` to ``to_user_id``'s ``earnings`` at the economy's
  creator share (treasury the rest), or all of ``s`` to the treasury;
* release / expire: payer ``held -A``, ``available +A``.

A hold resolves once. Every resolution (settle, release, expire, and the
escrow ones in ``escrows.py``) posts under the ONE ledger key
``ledger.pending.resolve_key(hold_id)`` (``hold-resolve:<hold_id>``): whichever commits first wins, the others find that
operation with another fingerprint and get 409 ``hold_not_active`` with the
hold's state. The hold item's update also carries ``status = active`` as its
condition, and removes ``due_shard`` so the hold leaves the expiry index.
An ``Idempotency-Key`` on settle/release goes into the fingerprint, so a retry
with the same key replays the first answer; without one, a second call is a 409.
The key itself is bound to the resolution too (``post(request_key=api:<k>)``,
``ledger/claims.py``): a key used on any other route is refused here, and this
one is refused there.

A market order (``orders.py``) is a hold too (``kind = "order"``, id ``ord_...``,
``due`` shards ``o*``/``v*``): it reuses ``place`` and ``resolve`` with extra
side writes, and is addressed only through ``/v1/orders``.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.ids import new_id, now_iso
from chalicelib.ledger import Outcome, Posted, SideWrite, pending
from chalicelib.runtime.due import run_due_index
from chalicelib.spending.names import HOLD_STATES, MAX_HOLD_SECONDS, valid_hold_id  # noqa: F401 (this module's names)
from chalicelib.spending import store
from chalicelib.spending.rates import get_rates
from chalicelib.spending.store import HoldRecord, find_hold

log = logging.getLogger("coinhall.holds")

DUE_SHARDS = 8

View = Callable[[Dict[str, Any]], Dict[str, Any]]
Conflict = Callable[[Dict[str, Any]], errors.CoinhallError]

__all__ = [
    "DUE_SHARDS", "HOLD_STATES", "MAX_HOLD_SECONDS", "Resolution", "ensure_active", "expire", "expire_due_holds",
    "find_hold", "get_hold", "hold_conflict", "hold_view", "list_holds", "load", "place", "place_hold", "release",
    "request_key", "request_token", "resolve", "run_due", "settle", "valid_hold_id",
]


def hold_view(item: Dict[str, Any]) -> Dict[str, Any]:
    view = {
        "hold_id": item["hold_id"],
        "kind": item["kind"],
        "user_id": item["user_id"],
        "amount": int(item["amount"]),
        "purpose": item["purpose"],
        "ref": item.get("ref"),
        "status": item["status"],
        "created_at": item["created_at"],
        "expires_at": item["expires_at"],
        "resolved_at": item.get("resolved_at"),
        "settled_amount": item.get("settled_amount"),
        "returned_amount": item.get("returned_amount"),
        "to_user_id": item.get("to_user_id"),
        "creator_amount": item.get("creator_amount"),
        "platform_amount": item.get("platform_amount"),
    }
    if item["kind"] == "escrow":
        view["payee_id"] = item.get("payee_id")
    return view


# -- reading -------------------------------------------------------------------


def load(economy: str, hold_id: str, kind: str) -> Dict[str, Any]:
    """The hold item, addressed as ``kind`` ("hold", "escrow" or "any").

    Raises HoldNotFoundError / EscrowNotFoundError, HoldIsEscrowError (an escrow
    addressed as a plain hold: it resolves only through the escrow API).
    """
    item = find_hold(economy, hold_id)
    if kind == "escrow":
        if item is None or item["kind"] != "escrow":
            raise errors.EscrowNotFoundError(escrow_id=hold_id)
        return item
    if item is None:
        raise errors.HoldNotFoundError(hold_id=hold_id)
    if kind == "hold" and item["kind"] == "escrow":
        raise errors.HoldIsEscrowError(hold_id=hold_id)
    return item


def get_hold(economy: str, hold_id: str) -> Dict[str, Any]:
    """A hold's (or escrow's) state as a hold. Raises HoldNotFoundError."""
    return hold_view(load(economy, hold_id, "any"))


def list_holds(
    economy: str, user_id: str, status: Optional[str] = None, limit: int = 25, cursor: Optional[str] = None
) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """A payer's holds and escrows, newest first, optionally in one ``status``.

    ``cursor`` is bound to this user (and status). Raises InvalidCursorError.
    """
    page = store.hold_page(economy, user_id, status, limit, cursor)
    return [hold_view(i) for i in page.items], page.next_cursor


# -- placing -------------------------------------------------------------------


def place(
    economy: str,
    user_id: str,
    amount: int,
    purpose: str,
    ref: Optional[str],
    expires_in: int,
    idempotency_key: str,
    *,
    request: Tuple[Any, ...],
    kind: str = "hold",
    payee_id: Optional[str] = None,
    fee_bps: Optional[int] = None,
    view: View = hold_view,
    hold_id: Optional[str] = None,
    due_prefix: Optional[str] = None,
    entry_type: Optional[str] = None,
    key_namespace: str = "api",
    meta: Optional[Mapping[str, Any]] = None,
    extra_side_writes: Optional[Callable[[Dict[str, Any]], Sequence[SideWrite]]] = None,
) -> Outcome:
    """Reserve ``amount`` of the payer's coins (``ledger.pending.reserve``) with the hold item, once per key.

    ``request`` is what the caller asked for (the fingerprint), so values
    derived from today's settings do not turn a retry into a conflict. Raises
    InsufficientFundsError, AccountFrozenError, UserNotFoundError,
    IdempotencyKeyReusedError, and the ``on_conflict`` error of a failed extra
    side write.

    The optional arguments let another kind of pending transfer (a market
    order) reuse the hold: its own id, its own shards of the ``due`` index
    (``due_prefix``), ledger entry type and key namespace, more ledger
    metadata, and ``extra_side_writes(hold item)`` committed in the same
    transaction (the order item, a stock decrement, a limit counter).
    """
    hold_id = hold_id or new_id("esc_" if kind == "escrow" else "hold_")
    prefix = due_prefix or ("e" if kind == "escrow" else "h")
    # Drawn once per call, so every attempt of the operation writes the same shard.
    shard = f"{prefix}{random.randrange(DUE_SHARDS)}"

    def record(r: pending.Reserved) -> HoldRecord:
        return HoldRecord(economy, hold_id, kind, user_id, amount, purpose, ref, "active", r.created_at,
                          r.expires_at, shard, payee_id, fee_bps, r.op_id)

    def respond(r: pending.Reserved) -> Dict[str, Any]:
        return {**view(record(r).to_item()), "transaction_id": r.op_id, "balance": r.posted.user(user_id).as_dict()}

    def side_writes(r: pending.Reserved) -> List[SideWrite]:
        hold = record(r)
        return [store.hold_put(hold), *(extra_side_writes(hold.to_item()) if extra_side_writes else ())]

    reservation = pending.Reserve(
        hold_id, user_id, amount, expires_in, keys.tag(key_namespace, idempotency_key), request,
        type=entry_type or ("escrow" if kind == "escrow" else "hold"), reason=purpose, ref=ref,
        meta={**(meta or {}), "hold_id": hold_id},
    )
    return pending.reserve(economy, reservation, respond=respond, record=side_writes)


def place_hold(
    economy: str, user_id: str, amount: int, purpose: str, ref: Optional[str], expires_in: int, idempotency_key: str
) -> Outcome:
    """A plain hold (``POST /v1/holds``). Raises as ``place``, and ValueError for ``expires_in`` out of range."""
    if not 1 <= expires_in <= MAX_HOLD_SECONDS:
        raise ValueError(f"expires_in must be 1..{MAX_HOLD_SECONDS}")
    return place(economy, user_id, amount, purpose, ref, expires_in, idempotency_key,
                 request=("hold", user_id, amount, purpose, ref, expires_in))


# -- resolving -------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """How one hold is resolved: how much of it is paid out, to whom, and the state it leaves."""

    action: str  # settle | release | expire | escrow-release | escrow-auto | escrow-refund
    status: str  # the state the hold is left in
    settled: int  # coins paid out of the hold; the rest returns to the payer
    payee: Optional[str]  # the recipient's user id; None pays ``settled`` to the treasury
    payee_share_bps: int  # the recipient's share of ``settled`` (revenue.split)
    entry_type: str  # the ledger entry type
    token: str  # what tells two requests apart: their Idempotency-Key, a nonce, or "due"
    request_key: Optional[str] = None  # the caller's Idempotency-Key record (``api:<k>``), bound to this resolution


def request_token(idempotency_key: Optional[str]) -> str:
    """With a key a retry replays; without one every call is a new request (a second one is a 409)."""
    return f"key:{idempotency_key}" if idempotency_key else new_id("req_")


def request_key(idempotency_key: Optional[str]) -> Optional[str]:
    """The ledger key an API caller's Idempotency-Key is recorded under (the same on every route)."""
    return keys.tag("api", idempotency_key) if idempotency_key else None


def resolve(
    economy: str,
    hold: Dict[str, Any],
    res: Resolution,
    view: View,
    conflict: Conflict,
    *,
    meta: Optional[Mapping[str, Any]] = None,
    extra_side_writes: Optional[Callable[[Posted], Sequence[SideWrite]]] = None,
) -> Outcome:
    """Resolve ``hold`` as ``res`` through ``ledger.pending``; at most one resolution ever commits.

    ``settled`` coins are posted (to the payee by the revenue split, or to the
    treasury), the rest voided back to the payer. ``extra_side_writes(posted)``
    commit in the same transaction (a market order's status, its sale record,
    stock given back). Raises ``conflict(current hold item)`` when the hold is
    already resolved (by this or any other resolution), IdempotencyKeyReusedError
    (the caller's key belongs to another request), the ``on_conflict`` error of
    a failed extra side write, ContentionError.
    """
    hold_id, payer_id = hold["hold_id"], hold["user_id"]
    held = store.pending_of(hold)
    payee = ledger.user(res.payee) if res.payee else None
    share = res.payee_share_bps if res.payee else 0
    payment = ledger.revenue.split(res.settled, share)
    resolution = pending.Resolve(
        res.action, res.entry_type, (res.settled, res.payee, res.token),
        pending.split(res.settled, share, payee), request_key=res.request_key,
        reason=f"{res.action} {hold['purpose']}", ref=hold.get("ref"), meta={**(meta or {}), "hold_id": hold_id},
    )

    def fields(posted: Posted) -> Dict[str, Any]:
        return {
            "status": res.status,
            "resolved_at": posted.created_at,
            "resolution": res.action,
            "resolution_op": posted.op_id,
            "settled_amount": res.settled,
            "returned_amount": held.amount - res.settled,
            "to_user_id": res.payee,
            "creator_amount": payment.recipient,
            "platform_amount": payment.platform,
        }

    def respond(posted: Posted) -> Dict[str, Any]:
        after = {k: v for k, v in {**hold, **fields(posted)}.items() if k != "due_shard"}
        return {**view(after), "transaction_id": posted.op_id, "balance": posted.user(payer_id).as_dict()}

    def side_writes(posted: Posted) -> List[SideWrite]:
        update = store.hold_resolve(economy, hold_id, fields(posted), lambda old: conflict(old or hold))
        return [update, *(extra_side_writes(posted) if extra_side_writes else ())]

    move = pending.post if resolution.payees else pending.void
    try:
        return move(economy, held, resolution, respond=respond, record=side_writes)
    except pending.PendingResolvedError:
        # Another resolution of this hold committed first: answer with its state.
        raise conflict(find_hold(economy, hold_id) or hold) from None


def hold_conflict(item: Dict[str, Any]) -> errors.CoinhallError:
    return errors.HoldNotActiveError(f"This hold is already {item['status']}.", hold=hold_view(item))


def ensure_active(
    economy: str,
    hold: Dict[str, Any],
    conflict: Conflict,
    lapse: Callable[[Dict[str, Any], str], Any],
    idempotency_key: Optional[str],
) -> None:
    """Refuse a resolved hold; resolve a lapsed one as its deadline says (``lapse``), then refuse.

    With an Idempotency-Key a resolved hold goes on to the ledger, which
    replays the request that resolved it or refuses anything else.
    """
    if hold["status"] != "active":
        if idempotency_key:
            return
        raise conflict(hold)
    now = now_iso()
    if pending.due(store.pending_of(hold), now):
        lapse(hold, now)
        raise conflict(find_hold(economy, hold["hold_id"]) or hold)


def settle(
    economy: str, hold_id: str, amount: Optional[int], to_user_id: Optional[str], idempotency_key: Optional[str]
) -> Outcome:
    """Settle ``amount`` (default: all) of an active hold; the rest returns to the payer.

    To ``to_user_id``'s earnings with the economy's creator split, else to the
    treasury. Raises HoldNotFoundError, HoldIsEscrowError, HoldNotActiveError
    (already resolved, or past its expiry: then it is released as expired
    first), AmountExceedsHoldError, SelfPaymentError, ContentionError.
    """
    hold = load(economy, hold_id, "hold")
    ensure_active(economy, hold, hold_conflict, lambda h, now: expire(economy, h, now), idempotency_key)
    held = int(hold["amount"])
    settled = held if amount is None else amount
    if settled > held:
        raise errors.AmountExceedsHoldError(amount=settled, held=held, hold_id=hold_id)
    if to_user_id is not None and to_user_id == hold["user_id"]:
        raise errors.SelfPaymentError(user_id=to_user_id, field="to_user_id")
    share = get_rates(economy).creator_share_bps if to_user_id else 0
    res = Resolution("settle", "settled", settled, to_user_id, share, "settle", request_token(idempotency_key),
                     request_key(idempotency_key))
    return resolve(economy, hold, res, hold_view, hold_conflict)


def release(economy: str, hold_id: str, idempotency_key: Optional[str]) -> Outcome:
    """Return all of an active hold to the payer.

    Raises HoldNotFoundError, HoldIsEscrowError, HoldNotActiveError, ContentionError.
    """
    hold = load(economy, hold_id, "hold")
    ensure_active(economy, hold, hold_conflict, lambda h, now: expire(economy, h, now), idempotency_key)
    res = Resolution("release", "released", 0, None, 0, "release", request_token(idempotency_key),
                     request_key(idempotency_key))
    return resolve(economy, hold, res, hold_view, hold_conflict)


def expire(economy: str, hold: Dict[str, Any], now: str) -> Optional[Outcome]:
    """Release a plain hold whose ``expires_at`` has passed ``now``, as ``expired``.

    Returns None when it is not due or was resolved otherwise. Overlapping
    callers (two job runs, a late settle) share one fingerprint, so they
    replay each other instead of conflicting. Raises ContentionError.
    """
    if hold["kind"] != "hold" or hold["expires_at"] > now:
        return None
    res = Resolution("expire", "expired", 0, None, 0, "release", "due")
    try:
        return resolve(economy, hold, res, hold_view, hold_conflict)
    except errors.HoldNotActiveError:
        return None


# -- the expiry jobs -------------------------------------------------------------


def run_due(
    ctx: Any,
    kind: str,
    handle: Callable[[Dict[str, Any], str], Optional[Outcome]],
    economy: Optional[str] = None,
    now: Optional[str] = None,
    prefix: Optional[str] = None,
) -> Dict[str, Any]:
    """Resolve what is due in the ``due`` index for ``kind`` (or shards ``prefix``), within ``ctx``'s budget.

    Queries each shard for ``expires_at <= now`` (never a scan), a bounded page
    at a time. Safe to overlap and to die half-way: each resolution is one
    ledger operation under the hold's resolve key, and a resolved hold leaves
    the index. A failure of one hold is logged and counted, not fatal.
    """
    now = now or now_iso()

    def resolve_one(item: Dict[str, Any]) -> str:
        outcome = handle(item, now)
        return "resolved" if outcome is not None and not outcome.replayed else "already_resolved"

    return run_due_index(ctx, table="holds", prefix=prefix or ("e" if kind == "escrow" else "h"),
                         shards=DUE_SHARDS, now=now, handle=resolve_one, key="hold_id", economy=economy)


def expire_due_holds(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``expire-holds``: release every active hold past its ``expires_at``."""
    return run_due(ctx, "hold", lambda item, at: expire(item["economy"], item, at), economy, now)
