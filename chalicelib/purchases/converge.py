"""Moving the ledger towards what a purchase's facts imply, one idempotent step at a time.

Money comes in only when Stripe says a session was paid, exactly once per
purchase (ledger key ``purchase:<id>``): the credit step here. The steps that
take money back are in ``debts.py``; the rules that pick the next step are in
``steps.py``. Facts only grow and each step is conditioned on the purchase's
progress, so any order, duplicate or concurrent delivery of the same events
ends in one state.

A step the ledger refuses for a reason that will not pass by itself (the wallet
would exceed MAX_BALANCE, a purchase stored with terms no leg can carry, an
invalid user id) is not retried by Stripe for three days: it is recorded on the
purchase (``review_reason``, ``review_step``; status ``needs_review``), raises an
operator alert (log + metric), and the webhook answers 200. Nothing moves until
an operator retries it (``review.retry_review``); any step that commits clears
it. A transient failure (DynamoDB, contention) is a 503, so Stripe does retry.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.ledger import Leg, Posted, SideWrite, claims
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.purchases import debts, store
from chalicelib.purchases.pack_limits import coin_problems, whole
from chalicelib.purchases.steps import (
    KeyTaken, Raced, Refusal, Retry, Step, alert, desired_status, next_step, post_step, purchase_write,
    step_update,
)
from chalicelib.purchases.store import Payment, Purchase
from chalicelib.purchases.views import purchase_view
from chalicelib.tenancy.audit import audit_write


def _check_creditable(p: Purchase) -> None:
    """Raise Refusal for a purchase whose stored terms no ledger credit can carry (stored before the limits)."""
    problems = coin_problems(p.coins, p.bonus_coins or 0)
    if not whole(p.amount) or p.amount <= 0:
        problems["amount"] = "must be a whole number above 0"
    if problems:
        raise Refusal("purchase_terms_invalid", f"stored terms out of bounds: {problems}")
    if not valid_user_id(p.user_id):
        raise Refusal("invalid_user_id", f"user id {p.user_id!r} is not one a wallet may have")


def credit(p: Purchase, payment: Optional[Payment], retry: Optional[Retry]) -> Purchase:
    """Credit the pack's coins and bonus, once (``purchase:<id>``), recording the payment with it."""
    _check_creditable(p)
    total = p.total
    receipt = {"purchase_id": p.purchase_id, "pack_id": p.pack_id, "pack_name": p.pack_name,
               "coins": int(p.coins), "bonus_coins": int(p.bonus_coins or 0),
               "price_amount": int(p.amount), "currency": p.currency}
    updates: Dict[str, Any] = {}

    def side(posted: Posted) -> List[SideWrite]:
        updates.clear()
        updates.update({"credited_op": posted.op_id, "credited_at": posted.created_at, "status": "credited",
                        "paid": True, "updated_at": posted.created_at})
        if p.payment_intent:
            updates["payment_intent"] = p.payment_intent
        # Credited means no longer pending: out of the expiry job's index.
        return [step_update(p, "credit", updates, retry, remove=("due_shard",))]

    return post_step(
        p, updates, retry, "credit", side, economy=p.economy, key=keys.join("purchase", p.purchase_id),
        fingerprint=ledger.fingerprint("purchase", p.purchase_id, total), type="purchase",
        legs=[Leg(ledger.user(p.user_id), total), Leg(ledger.system("issuance"), -total)],
        respond=lambda posted: {"purchase_id": p.purchase_id, "credited": total},
        reason=f"Bought {p.pack_name}", ref=p.purchase_id, meta=receipt,
    )


STEPS: Dict[str, Step] = {
    "credit": credit,
    "dispute_hold": debts.dispute_hold,
    "clawback": debts.clawback,
    "dispute_release": debts.dispute_release,
    "dispute_lost": debts.dispute_lost,
}


def converge(purchase_id: str, p: Optional[Purchase] = None, payment: Optional[Payment] = None,
             retry: Optional[Retry] = None) -> Dict[str, Any]:
    """Apply whatever ledger steps the purchase's facts call for; idempotent. Returns the purchase's view.

    ``p``/``payment`` may be passed when the caller just read or wrote them.
    After each step the payment's facts are read again: a refund or dispute may
    have been recorded meanwhile by a delivery that saw the purchase unpaid and
    left the step to us. The purchase itself is re-read only after a race.

    The step under review (``review_step``) is not attempted again unless an
    operator asks (``retry``); a step refused for good goes under review
    (``_hold_for_review``). Raises ContentionError when races never settle,
    KeyTaken when a retry's key was claimed meanwhile, and whatever DynamoDB raises.
    """
    fresh = p is None
    for _ in range(20):
        if fresh or p is None:
            p = store.load(purchase_id)
            if p is None:
                raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
            payment = store.load_payment(p.payment_intent)
        step = next_step(p, payment)
        if step is None or (p.review_reason and p.review_step == step and retry is None):
            return purchase_view(_sync_status(p, payment), payment)
        try:
            p = STEPS[step](p, payment, retry)
        except Raced:
            fresh = True  # another delivery took a step: look again
            continue
        except (errors.CoinhallError, ValueError, Refusal) as exc:
            refusal = _refusal(step, exc)
            if refusal is None:
                raise
            if refusal is not _AGAIN:
                _hold_for_review(p, step, refusal, retry)
                retry = None
            fresh = True  # the wallet moved under us, or the review was recorded: look again
            continue
        retry = None  # the step committed (and cleared the review it answered)
        payment = store.load_payment(p.payment_intent)
        fresh = False
    raise errors.ContentionError(purchase_id=purchase_id)


def _sync_status(p: Purchase, payment: Optional[Payment]) -> Purchase:
    """The purchase with the status its facts imply, written if it moved. Raises Raced if it moved meanwhile."""
    wanted = desired_status(p, payment)
    if p.status == wanted:
        return p
    after = store.set_status(p, wanted)
    if after is None:
        raise Raced()
    return after


_AGAIN = Refusal("again", "a race: read again")


def _refusal(step: str, exc: Exception) -> Optional[Refusal]:
    """What a step's error means: ``_AGAIN`` (a race), a refusal to review, or None (raise it)."""
    if isinstance(exc, Refusal):
        return exc
    if isinstance(exc, errors.InsufficientFundsError):
        return _AGAIN  # a step's own guard raced another delivery; the next read sees what it did
    if isinstance(exc, errors.IdempotencyKeyReusedError):
        # Hold, clawback and release records written before they were sized in the
        # ledger's read carry their wallet-dependent amounts in the fingerprint: another
        # delivery's record of the same step. The credit's never.
        return Refusal("credit_key_conflict", exc.message) if step == "credit" else _AGAIN
    if isinstance(exc, errors.BusinessRuleError):
        return Refusal(exc.code, exc.message)  # e.g. balance_limit: the wallet would pass MAX_BALANCE
    if isinstance(exc, ValueError):
        return Refusal("ledger_refused", str(exc))  # one of the ledger's own guards on the legs
    return None  # contention, unavailable: transient, the caller's to retry


def _hold_for_review(p: Purchase, step: str, refusal: Refusal, retry: Optional[Retry]) -> None:
    """Record that ``step`` waits for an operator, alert, and (for a retry) audit it: one transaction.

    Also records ``paid`` (and the PaymentIntent): a refused credit is the only
    path where the credit's own transaction did not. Conditioned on the step's
    progress being what we read: if another delivery took the step meanwhile,
    there is nothing to review (Raced). Raises KeyTaken when a retry's key was
    claimed meanwhile.
    """
    values: Dict[str, Any] = {"paid": True, "review_reason": refusal.reason, "review_step": step,
                              "updated_at": now_iso()}
    if p.payment_intent:
        values["payment_intent"] = p.payment_intent
    items = [purchase_write(p, step, values, retry).item]
    if retry is not None:
        items.append(audit_write(p.economy, retry.actor, "purchase.retry", keys.join("purchase", p.purchase_id),
                                 reason=retry.reason, before=retry.before,
                                 after={"status": "needs_review", "review_step": step,
                                        "review_reason": refusal.reason}))
        items.append(claims.claim_write(p.economy, retry.key, retry.request_fp, "purchase-retry",
                                        {"purchase_id": p.purchase_id}, created=False))
    try:
        store.transact(items)
    except Exception as exc:
        codes = store.cancellation_codes(exc)
        if codes and codes[0] == "ConditionalCheckFailed":
            raise Raced() from None
        if retry is not None and codes and codes[-1] == "ConditionalCheckFailed":
            raise KeyTaken() from None
        raise
    alert("purchase_needs_review",
          f"purchase {p.purchase_id} needs review: step {step} refused ({refusal.reason}): {refusal.detail}",
          purchase_id=p.purchase_id, economy=p.economy, user_id=p.user_id, step=step, reason=refusal.reason)
