"""A purchase as the API shows it."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from chalicelib.core import errors
from chalicelib.purchases import store
from chalicelib.purchases.store import Payment, Purchase


def purchase_view(p: Purchase, payment: Optional[Payment] = None) -> Dict[str, Any]:
    """The purchase's JSON view (with its payment's refund and dispute when given)."""
    view = {
        "purchase_id": p.purchase_id,
        "user_id": p.user_id,
        "pack_id": p.pack_id,
        "pack_name": p.pack_name,
        "coins": int(p.coins),
        "bonus_coins": int(p.bonus_coins or 0),
        "total_coins": int(p.coins) + int(p.bonus_coins or 0),
        "price": {"amount": int(p.amount), "currency": p.currency},
        "status": p.status,
        "session_id": p.session_id,
        "checkout_url": p.checkout_url,
        "created_at": p.created_at,
        "expires_at": p.expires_at,
        "credited_at": p.credited_at,
        "clawed_back_coins": int(p.clawed or 0),
        "debt_coins": int(p.debt or 0),
    }
    reason = p.review_reason or p.failure_reason
    if reason:
        view["failure_reason"] = reason
    if p.status == "needs_review":
        view["review_step"] = p.review_step
    if payment is not None:
        view["refunded_amount"] = int(payment.refunded_amount or 0)
        view["dispute_status"] = payment.dispute_status
    return view


def get_purchase(economy: str, purchase_id: str) -> Dict[str, Any]:
    """Raises PurchaseNotFoundError (also for another economy's purchase)."""
    p = store.load(purchase_id)
    if p is None or p.economy != economy:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    return purchase_view(p, store.load_payment(p.payment_intent))


def admin_purchase_view(p: Purchase, payment: Optional[Payment]) -> Dict[str, Any]:
    """The purchase as an operator sees it: the buyer's view, plus its payment and the admin API's refunds."""
    view = purchase_view(p, payment)
    view.update({
        "mode": p.mode,
        "payment_intent": p.payment_intent,
        "refunded_amount": int(payment.refunded_amount or 0) if payment else 0,
        "dispute_status": payment.dispute_status if payment else None,
        "refund_requested": int(p.refund_requested or 0),
        "refunds": sorted(({"refund_ref": ref, "amount": int(e["amount"]), "status": e["status"],
                            "refund_id": e.get("refund_id"), "reason": e.get("reason"), "actor": e.get("actor"),
                            "requested_at": e.get("requested_at"), "stripe_code": e.get("stripe_code")}
                           for ref, e in (p.refunds or {}).items()), key=lambda r: (r["requested_at"] or "", r["refund_ref"])),
    })
    return view


def admin_get_purchase(economy: str, purchase_id: str) -> Dict[str, Any]:
    """Raises PurchaseNotFoundError (also for another economy's purchase)."""
    p = store.load(purchase_id)
    if p is None or p.economy != economy:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    return admin_purchase_view(p, store.load_payment(p.payment_intent))


# The widest created_at range: every ISO timestamp this app writes sorts inside it.
EARLIEST, LATEST = "0000", "9999"


def list_purchases(economy: str, *, user_id: Optional[str], status: Optional[str], since: Optional[str],
                   until: Optional[str], limit: int, cursor: Optional[str]) -> Dict[str, Any]:
    """A page of the economy's purchases, newest first: by the user index with ``user_id``, else the economy's.

    Never a scan. Filters can leave a page short; ``next_cursor`` then still
    says where to go on. Raises InvalidCursorError.
    """
    from chalicelib.core import keys

    low, high = since or EARLIEST, until or LATEST
    if low > high:
        return {"items": [], "next_cursor": None}  # an empty range (DynamoDB refuses BETWEEN a high and a low)
    scope = keys.join("admin-purchases", economy, user_id or "*", status or "*", low, high)
    if user_id is not None:
        page = store.page_by_user(economy, user_id, status, low, high, limit, cursor, scope)
        found: List[Purchase] = [store.from_decoded(item) for item in page.items]
        next_cursor = page.next_cursor
    else:
        found, next_cursor = store.page_by_economy(economy, status, low, high, limit, cursor, scope)
    payments = store.load_payments([p.payment_intent for p in found if p.payment_intent])
    return {"items": [admin_purchase_view(p, payments.get(p.payment_intent or "")) for p in found],
            "next_cursor": next_cursor}
