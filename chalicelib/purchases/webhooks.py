"""Stripe's events: each records a fact, then ``converge`` moves the ledger towards what the facts imply.

Every event only records *facts* (paid, failed, expired on the purchase;
refunded amount and dispute state on the payment, by PaymentIntent). Each
event id is handled once (``stripe_events`` table); a duplicate is
acknowledged without effect.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Dict, Optional, Tuple

from chalicelib.core import errors
from chalicelib.purchases import store
from chalicelib.purchases.converge import converge
from chalicelib.purchases.steps import alert
from chalicelib.purchases.store import Payment, Purchase
from chalicelib.purchases.stripe_events import Charge, Dispute, PaidSession, Session, StripeEvent, our_purchase_id

log = logging.getLogger("coinhall.purchases")

Handled = Tuple[Optional[str], str]  # (purchase id or None, outcome)


def handle_event(event: StripeEvent) -> Dict[str, Any]:
    """Apply one verified, parsed Stripe event; safe to call any number of times.

    Raises UnavailableError (503, so Stripe retries) when DynamoDB or the
    wallet's contention says "not now"; nothing a retry cannot finish was done.
    A step the ledger refuses for good is not an error here: the purchase waits
    for review and the event is acknowledged.
    """
    try:
        return _apply(event)
    except errors.ContentionError:
        raise errors.UnavailableError("This purchase is busy; Stripe will deliver the event again.",
                                      cause="contention") from None
    except Exception as exc:
        if not store.transient(exc):
            raise
        log.warning("stripe event %s hit a transient DynamoDB error: %s", event.id, exc.__class__.__name__)
        raise errors.UnavailableError("DynamoDB did not answer; Stripe will deliver the event again.",
                                      cause="dynamodb") from None


def _apply(event: StripeEvent) -> Dict[str, Any]:
    if store.event_seen(event.id):
        return {"received": True, "duplicate": True}
    handler = _HANDLERS.get(event.type)
    purchase_id, outcome = (None, "ignored") if handler is None or event.obj is None else handler(event.obj)
    store.record_event(event.id, event.type, purchase_id, outcome)
    return {"received": True, "outcome": outcome, "purchase_id": purchase_id}


def _session_purchase(obj: Session) -> Optional[Purchase]:
    purchase_id = obj.purchase_ref()
    return store.load(purchase_id) if purchase_id is not None else None


def _link_payment(p: Purchase, payment_intent: Optional[str], on_purchase: bool = True) -> Optional[Payment]:
    """Tie the purchase and its PaymentIntent together, from whichever side knows first.

    Returns the payment record as it now stands (None without a PaymentIntent).
    """
    if not payment_intent:
        return None
    if p.payment_intent is None and on_purchase:
        store.link_payment_intent(p.purchase_id, payment_intent)
    # The update returns the payment as it now stands: the link costs no extra read.
    return store.link_payment(payment_intent, p.purchase_id)


def _on_paid(obj: Any) -> Handled:
    session: PaidSession = obj
    p = _session_purchase(session)
    if p is None:
        log.warning("paid session %s names no purchase of ours", session.id)
        return None, "unknown_purchase"
    if session.payment_status not in ("paid", "no_payment_required"):
        _link_payment(p, session.payment_intent)
        return p.purchase_id, "awaiting_payment"
    problems: Dict[str, Any] = {}
    if session.id != p.session_id:
        problems["session_id"] = session.id
    if session.amount_total != p.amount:
        problems["amount_total"] = session.amount_total
    if session.currency.lower() != str(p.currency).lower():
        problems["currency"] = session.currency
    if problems:
        # Never credit what we did not sell; an operator must look at it.
        alert("purchase_mismatch", f"paid session does not match purchase {p.purchase_id}: {problems}",
              purchase_id=p.purchase_id, economy=p.economy, problems=problems)
        store.update(p.purchase_id, {"failure_reason": "mismatch"})
        return p.purchase_id, "mismatch"
    payment = _link_payment(p, session.payment_intent, on_purchase=False)
    if payment is not None and p.payment_intent is None:
        p = dataclasses.replace(p, payment_intent=payment.payment_intent)
    if p.credited_op is None:
        # The credit's own transaction records the payment (paid, PaymentIntent):
        # one write fewer on the hot path, and the fact lands with its money.
        # (A refused credit records them with the review instead.)
        p = dataclasses.replace(p, paid=True)
    else:
        p = store.update(p.purchase_id, {"paid": True}) or p
    view = converge(p.purchase_id, p, payment)
    return p.purchase_id, "needs_review" if view["status"] == "needs_review" else "paid"


def _on_session_fact(fact: str) -> Callable[[Any], Handled]:
    def handle(obj: Any) -> Handled:
        session: Session = obj
        p = _session_purchase(session)
        if p is None:
            return None, "unknown_purchase"
        _link_payment(p, session.payment_intent)
        store.update(p.purchase_id, {fact: True})
        converge(p.purchase_id)
        return p.purchase_id, fact

    return handle


def _converge_charge(payment_intent: str, metadata_ref: Optional[str]) -> Handled:
    """After a charge-level fact was recorded on the payment: converge the purchase if known."""
    payment = store.load_payment(payment_intent)
    purchase_id = our_purchase_id(metadata_ref) or (payment.purchase_id if payment else None)
    p = store.load(purchase_id) if purchase_id else None
    if p is None:
        return None, "parked"  # the completion event will link and converge it
    _link_payment(p, payment_intent)
    converge(p.purchase_id)
    return p.purchase_id, "recorded"


def _metadata_ref(obj: Any) -> Optional[str]:
    return obj.metadata.purchase_id if obj.metadata else None


def _on_refunded(obj: Any) -> Handled:
    charge: Charge = obj
    if not charge.payment_intent:
        return None, "no_payment_intent"
    store.record_refund(charge.payment_intent, charge.amount_refunded, charge.amount)
    return _converge_charge(charge.payment_intent, _metadata_ref(charge))


def _on_dispute_created(obj: Any) -> Handled:
    dispute: Dispute = obj
    if not dispute.payment_intent:
        return None, "no_payment_intent"
    store.record_dispute_opened(dispute.payment_intent, dispute.id)
    return _converge_charge(dispute.payment_intent, _metadata_ref(dispute))


def _on_dispute_closed(obj: Any) -> Handled:
    dispute: Dispute = obj
    if not dispute.payment_intent:
        return None, "no_payment_intent"
    # Stripe closes a dispute as won, lost, or warning_closed (an inquiry that
    # never became a chargeback): only "lost" takes money back.
    result = "lost" if dispute.status == "lost" else "won"
    store.record_dispute_closed(dispute.payment_intent, dispute.id, result)
    return _converge_charge(dispute.payment_intent, _metadata_ref(dispute))


# Keys are stripe_events.EVENTS's: each handler gets the data.object parsed for its type.
_HANDLERS: Dict[str, Callable[[Any], Handled]] = {
    "checkout.session.completed": _on_paid,
    "checkout.session.async_payment_succeeded": _on_paid,
    "checkout.session.async_payment_failed": _on_session_fact("failed"),
    "checkout.session.expired": _on_session_fact("expired"),
    "charge.refunded": _on_refunded,
    "charge.dispute.created": _on_dispute_created,
    "charge.dispute.closed": _on_dispute_closed,
}
