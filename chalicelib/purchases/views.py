"""A purchase as the API shows it."""
from __future__ import annotations

from typing import Any, Dict, Optional

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
