"""An operator refunds a purchase (``POST /v1/admin/purchases/{id}/refund``), in full or in part.

The refund asks the provider to give the money back; it moves no coins
itself. Stripe then sends ``charge.refunded`` (the charge's cumulative
``amount_refunded``) and the webhook claws the coins back exactly as for a
refund made in Stripe's dashboard (``webhooks._on_refunded`` -> ``converge``).
In local mode the local provider sends that event itself, signed, to our
webhook (``local_checkout.deliver``).

Three steps, each safe to repeat:

1. reserve: one transaction writes the purchase's ``refund_requested`` (what
   was refunded or reserved so far, plus this refund: two refunds never both
   take what is left), the refund's entry (``requested``), the claim of the
   caller's Idempotency-Key and the audit row;
2. ask the provider, under an idempotency key derived from the caller's
   (``coinhall-refund-<ref>``): a retry after a 503 or a crash makes the
   same Stripe refund, never a second;
3. settle the entry: the provider's refund id and status, or ``refused``
   with the reservation given back (and audited).

The same Idempotency-Key again answers the first refund (finishing it if
step 2 never answered); with another amount or reason it is
IdempotencyKeyReusedError.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.ids import keyed_id, now_iso
from chalicelib.ledger import claims
from chalicelib.purchases import store
from chalicelib.purchases.steps import desired_status
from chalicelib.purchases.store import Payment, Purchase
from chalicelib.purchases.views import admin_purchase_view
from chalicelib.tenancy.audit import audit_write

log = logging.getLogger("coinhall.purchases")

# Statuses a refund may start from: paid and credited (perhaps refunded in part already), or paid and
# waiting for review (a refused credit: the money goes back, no coins were given).
REFUNDABLE = ("credited", "refunded", "needs_review")
# Refunds per purchase through this API: each is an entry on the purchase item (400 KB at most).
MAX_REFUNDS = 50
# Stripe's limit on a metadata value.
_METADATA_VALUE = 500


def stripe_key(ref: str) -> str:
    """Stripe's Idempotency-Key for one refund: derived from the caller's key, the same on every retry."""
    return f"coinhall-refund-{ref}"


def refund_purchase(economy: str, purchase_id: str, amount: Optional[int], reason: str, actor: str,
                    idempotency_key: str) -> Tuple[Dict[str, Any], bool]:
    """Refund ``amount`` minor units (None: all that is left) of a purchase; (answer, replayed).

    Raises PurchaseNotFoundError (404, also another economy's),
    PurchaseNotRefundableError (409: unpaid, or disputed), PurchaseFullyRefundedError
    (409), RefundAmountTooLargeError (422, ``details.remaining``),
    RefundRefusedError (409: the provider said no; nothing is reserved),
    IdempotencyKeyReusedError (409), UnavailableError (503: the provider did not
    answer; the same key finishes it), ContentionError.
    """
    key = keys.tag("api", idempotency_key)
    request_fp = ledger.fingerprint("purchase-refund", purchase_id, "all" if amount is None else str(amount), reason)
    ref = keyed_id("rfd_", keys.join(economy, key, sep="|"))
    for _ in range(8):
        claim = claims.find(economy, key)  # the economy's one Idempotency-Key rule (ledger/claims.py)
        if claim is not None:
            claimed = claims.replayed_ref(claim, request_fp, key)
            if claimed.get("purchase_id") != purchase_id or claimed.get("refund_ref") != ref:
                raise errors.IdempotencyKeyReusedError(ledger_key=key)
            return _finish(economy, purchase_id, ref), True
        p, payment = _refundable(economy, purchase_id)
        base = max(int(payment.refunded_amount or 0) if payment else 0, int(p.refund_requested or 0))
        left = int(p.amount) - base
        if left <= 0:
            raise errors.PurchaseFullyRefundedError(purchase_id=purchase_id, refunded=base)
        wanted = left if amount is None else amount
        if wanted > left:
            raise errors.RefundAmountTooLargeError(
                f"At most {left} (minor units of {p.currency}) is left to refund.", purchase_id=purchase_id,
                remaining=left, requested=wanted)
        if len(p.refunds or {}) >= MAX_REFUNDS:
            raise errors.PurchaseNotRefundableError(f"A purchase takes at most {MAX_REFUNDS} refunds here.",
                                                    purchase_id=purchase_id, status=p.status)
        entry = {"amount": wanted, "status": "requested", "reason": reason, "actor": actor,
                 "requested_at": now_iso()}
        if _reserve(p, payment, ref, entry, base + wanted, key, request_fp):
            return _finish(economy, purchase_id, ref), False
    raise errors.ContentionError(purchase_id=purchase_id)


def _refundable(economy: str, purchase_id: str) -> Tuple[Purchase, Optional[Payment]]:
    p = store.load(purchase_id)
    if p is None or p.economy != economy:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    payment = store.load_payment(p.payment_intent)
    status = desired_status(p, payment)
    if not p.paid or status not in REFUNDABLE:
        raise errors.PurchaseNotRefundableError(purchase_id=purchase_id, status=status)
    if p.mode != "local" and not p.payment_intent:
        raise errors.PurchaseNotRefundableError("The purchase's PaymentIntent is not known yet; retry shortly.",
                                                purchase_id=purchase_id, status=status)
    return p, payment


def _reserve(p: Purchase, payment: Optional[Payment], ref: str, entry: Dict[str, Any], requested: int,
             key: str, request_fp: str) -> bool:
    """Write the reservation, the key's claim and the audit row together; False when either raced."""
    refunded = int(payment.refunded_amount or 0) if payment else 0
    audit = audit_write(
        p.economy, entry["actor"], "purchase.refund", keys.join("purchase", p.purchase_id), reason=entry["reason"],
        before={"status": p.status, "refunded_amount": refunded, "refund_requested": int(p.refund_requested or 0)},
        after={"refund_requested": requested, "refund": ref, "amount": entry["amount"]},
        extra={"user_id": p.user_id, "currency": p.currency, "stripe_idempotency_key": stripe_key(ref)})
    items = [store.refund_reserve_write(p, ref, entry, requested),
             claims.claim_write(p.economy, key, request_fp, "purchase-refund",
                                {"refund_ref": ref, "purchase_id": p.purchase_id}), audit]
    try:
        store.transact(items)
    except Exception as exc:
        if set(store.cancellation_codes(exc)) & {"ConditionalCheckFailed", "TransactionConflict"}:
            return False  # another refund reserved first, or a twin took the key: look again
        raise
    return True


def _finish(economy: str, purchase_id: str, ref: str) -> Dict[str, Any]:
    """Ask the provider for a reserved refund (if not settled yet) and settle it; the answer."""
    p = store.load(purchase_id)
    assert p is not None and p.refunds and ref in p.refunds  # reserved with the claim, never deleted
    entry = dict(p.refunds[ref])
    if entry["status"] == "requested":
        entry = _ask_provider(p, ref, entry)
        p = store.load(purchase_id) or p
    if entry["status"] == "refused":
        raise errors.RefundRefusedError(f"The provider refused this refund ({entry.get('stripe_code')}); "
                                        "nothing was refunded.", purchase_id=purchase_id,
                                        stripe_code=entry.get("stripe_code"))
    return {"refund": refund_view(p, ref, entry), "purchase": admin_purchase_view(p, store.load_payment(p.payment_intent))}


def _ask_provider(p: Purchase, ref: str, entry: Dict[str, Any]) -> Dict[str, Any]:
    """The provider's refund, recorded on the entry; a refusal gives the reservation back."""
    amount = int(entry["amount"])
    try:
        if p.mode == "local":
            done = _local_refund(p, ref)
        else:
            from chalicelib.purchases.stripe_gateway import create_refund

            metadata = {"purchase_id": p.purchase_id, "economy": p.economy, "refund_ref": ref,
                        "reason": str(entry["reason"])[:_METADATA_VALUE], "actor": str(entry["actor"])[:_METADATA_VALUE]}
            done = create_refund(p.payment_intent or "", amount, stripe_key(ref), metadata)
    except errors.RefundRefusedError as exc:
        refused = {**entry, "status": "refused", "stripe_code": exc.details.get("stripe_code"),
                   "settled_at": now_iso()}
        audit = audit_write(p.economy, entry["actor"], "purchase.refund_refused", keys.join("purchase", p.purchase_id),
                            reason=entry["reason"], before={"refund_requested": int(p.refund_requested or 0)},
                            after={"refund_requested": int(p.refund_requested or 0) - amount, "refund": ref},
                            extra={"stripe_code": refused["stripe_code"]})
        return _settle(p, ref, refused, amount, audit)
    settled = {**entry, "status": done.get("status") or "succeeded", "refund_id": done["id"], "settled_at": now_iso()}
    return _settle(p, ref, settled, 0, None)


def _settle(p: Purchase, ref: str, entry: Dict[str, Any], release: int, audit: Optional[Dict[str, Any]]
            ) -> Dict[str, Any]:
    items = [store.refund_settle_write(p.purchase_id, ref, entry, release)] + ([audit] if audit else [])
    try:
        store.transact(items)
    except Exception as exc:
        if "ConditionalCheckFailed" not in store.cancellation_codes(exc):
            raise
        # A twin attempt settled it first (the same provider refund, by the same key): its record stands.
        again = store.load(p.purchase_id)
        assert again is not None and again.refunds
        return dict(again.refunds[ref])
    return entry


def _local_refund(p: Purchase, ref: str) -> Dict[str, Any]:
    """Local mode: the local provider sends ``charge.refunded`` (cumulative, as Stripe) to our webhook."""
    from chalicelib.purchases import local_checkout

    current = store.load(p.purchase_id) or p
    local_checkout.deliver(local_checkout.refund_event(current, refunded=int(current.refund_requested or 0)))
    return {"id": "re_local_" + ref[4:], "status": "succeeded"}


def refund_view(p: Purchase, ref: str, entry: Dict[str, Any]) -> Dict[str, Any]:
    return {"refund_ref": ref, "purchase_id": p.purchase_id, "amount": int(entry["amount"]), "currency": p.currency,
            "status": entry["status"], "refund_id": entry.get("refund_id"), "reason": entry.get("reason"),
            "requested_at": entry.get("requested_at")}
