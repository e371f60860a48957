"""An operator's retry of the step a purchase waits on (``POST /v1/admin/purchases/{id}/retry-credit``)."""
from __future__ import annotations

from typing import Any, Dict, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.ledger import claims
from chalicelib.purchases import store
from chalicelib.purchases.converge import converge
from chalicelib.purchases.steps import KeyTaken, Retry, desired_status
from chalicelib.purchases.views import purchase_view


def retry_review(economy: str, purchase_id: str, actor: str, idempotency_key: str,
                 reason: str) -> Tuple[Dict[str, Any], bool]:
    """An operator retries the step a purchase waits on (usually its credit), once the cause is fixed.

    Returns (purchase view, replayed). The attempt is audited (``purchase.retry``)
    in the same transaction as its outcome: the step with its money, or the
    review recorded again with the new reason (the view then still says
    ``needs_review``). The same key again replays; with another reason it is
    IdempotencyKeyReusedError. Raises PurchaseNotFoundError,
    PurchaseNotInReviewError, ContentionError.
    """
    p = store.load(purchase_id)
    if p is None or p.economy != economy:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    payment = store.load_payment(p.payment_intent)
    key = keys.tag("api", idempotency_key)
    key_fp = ledger.fingerprint("purchase-retry-key", economy, idempotency_key)
    request_fp = ledger.fingerprint("purchase-retry", purchase_id, reason)
    claim = claims.find(economy, key)  # the economy's one Idempotency-Key rule (ledger/claims.py)
    if claim is not None:
        claims.replayed_ref(claim, request_fp, key)
        return purchase_view(p, payment), True
    status = desired_status(p, payment)
    if status != "needs_review":
        raise errors.PurchaseNotInReviewError(purchase_id=purchase_id, status=status)
    before = {"status": status, "review_step": p.review_step, "review_reason": p.review_reason}
    retry = Retry(key_fp, request_fp, key, actor, reason, before)
    try:
        return converge(purchase_id, p, payment, retry=retry), False
    except KeyTaken:
        claim = claims.find(economy, key)
        if claim is None:
            raise errors.ContentionError(purchase_id=purchase_id) from None
        claims.replayed_ref(claim, request_fp, key)  # a twin of this request committed first
        again = store.load(purchase_id)
        assert again is not None  # a purchase is never deleted
        return purchase_view(again, store.load_payment(p.payment_intent)), True
