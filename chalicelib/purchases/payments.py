"""Buying coin packs: checkout, Stripe's events, and the money they move.

Money comes in only when Stripe says a session was paid, exactly once per
purchase (ledger key ``purchase:<id>``). Every event only records *facts*
(paid, failed, expired on the purchase; refunded amount and dispute state on the
payment, by PaymentIntent), and then ``converge()`` moves the ledger towards
what the facts imply, one idempotent step at a time:

1. paid and not credited          -> credit coins + bonus (``purchase:<id>``)
2. dispute open                   -> freeze the wallet (``dispute:<id>``), move the
                                     purchase's coins that are still there to ``held``
3. refunded / dispute lost        -> claw back ceil(coins x refunded / paid), or
                                     all of it for a lost dispute: first from the
                                     dispute hold, then ``available``; what the
                                     player already spent becomes ``debt`` and the
                                     wallet stays frozen (``debt``) until it is
                                     settled; a lost dispute swaps ``dispute:<id>``
                                     for ``dispute_lost:<id>``, an operator's review
4. dispute won                    -> release the hold; lift ``dispute:<id>`` only
                                     (an operator's or a debt's freeze stays)

Facts only grow and each step is conditioned on the purchase's progress, so any
order, duplicate or concurrent delivery of the same events ends in one state.

A step the ledger refuses for a reason that will not pass by itself (the wallet
would exceed MAX_BALANCE, a purchase stored with terms no leg can carry, an
invalid user id) is not retried by Stripe for three days: it is recorded on the
purchase (``review_reason``, ``review_step``; status ``needs_review``), raises an
operator alert (log + metric), and the webhook answers 200. Nothing moves until
an operator retries it (``retry_review``); any step that commits clears it. A
transient failure (DynamoDB, contention) is a 503, so Stripe does retry.
"""
from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib import ledger
from chalicelib.core.config import get_settings
from chalicelib.db.base import condition_failed, transient
from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import iso, new_id, now_iso, utc_now
from chalicelib.ledger import Leg, Posted, SideWrite, WalletChange, claims, freezes
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.ledger.wallets import find_wallet
from chalicelib.core.observability import emit_metrics
from chalicelib.purchases.pack_limits import coin_problems, pack_problems, whole
from chalicelib.purchases.stripe_events import Charge, Dispute, PaidSession, Session, StripeEvent, our_purchase_id

log = logging.getLogger("coinhall.purchases")

EVENT_RETENTION_DAYS = 35
# Pending purchases sit in the sparse ``due`` index under p0..p7 (sharded so no
# index partition takes every checkout); leaving ``pending`` removes them.
DUE_SHARDS = 8


class _Raced(Exception):
    """Another delivery moved this purchase first; re-read and carry on."""


class _KeyTaken(Exception):
    """The retry's Idempotency-Key was claimed by another request while we worked: look at who took it."""


class _Refusal(Exception):
    """A step that cannot be taken until an operator fixes something: ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class _Retry:
    """An operator's retry of a blocked step: stamped on the purchase and audited with the step's outcome."""

    key_fp: str
    request_fp: str
    key: str  # the namespaced Idempotency-Key (``api:<k>``), claimed in the retry's own transaction
    actor: str
    reason: str
    before: Dict[str, Any]


def _alert(kind: str, message: str, **fields: Any) -> None:
    """An ``OPERATOR ALERT`` log line (ERROR) and the ``OperatorAlerts`` metric, dimension ``Alert``."""
    log.error("OPERATOR ALERT: %s", message, extra={"alert": kind, **fields})
    emit_metrics({"OperatorAlerts": (1, "Count")}, {"Alert": kind}, properties=fields)


# --- checkout ---------------------------------------------------------------


def _purchase_id(economy: str, key: Optional[str]) -> str:
    if key is None:
        return new_id("pur_")
    # The same (namespaced) key always names the same purchase, so a retried
    # checkout cannot open a second session (Stripe then dedupes on the purchase id too).
    return "pur_" + hashlib.sha256(keys.join(economy, key, sep="|").encode()).hexdigest()[:26].upper()


def create_checkout(
    economy: str,
    user_id: str,
    pack_id: str,
    success_url: Optional[str] = None,
    cancel_url: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    base_url: Optional[str] = None,
    *,
    key_namespace: str = "api",
) -> Dict[str, Any]:
    """A pending purchase and its Checkout Session (or local payment page).

    With a key (``key_namespace``: ``api`` for an Idempotency-Key, ``discord``
    for an interaction) the purchase claims it (``ledger/claims.py``) in the
    same transaction: a replay returns the same purchase, and a key another
    request took, on any route, is refused. Returns the purchase view plus
    ``replayed``. Raises PackNotFoundError, PackInactiveError,
    PackTermsInvalidError, AccountFrozenError, IdempotencyKeyReusedError,
    UnavailableError (Stripe did not answer; retry with the same key).
    """
    from chalicelib.db.models.economies import PackModel
    from chalicelib.db.models.purchases import PurchaseModel

    settings = get_settings()
    fp = ledger.fingerprint("checkout", economy, user_id, pack_id, success_url, cancel_url)
    base = (settings.public_url or base_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    key = keys.tag(key_namespace, idempotency_key) if idempotency_key is not None else None
    claim = claims.find(economy, key) if key is not None else None
    if claim is not None:
        return _replay_checkout(claims.replayed_ref(claim, fp, key)["purchase_id"], base)
    try:
        pack = PackModel.get(economy, pack_id)
    except PackModel.DoesNotExist:
        raise errors.PackNotFoundError(pack_id=pack_id) from None
    if not pack.active:
        raise errors.PackInactiveError(pack_id=pack_id)
    # A pack stored before PUT /v1/admin/packs enforced these: nobody may pay for what cannot be credited.
    problems = pack_problems(pack.coins, pack.bonus_coins or 0, pack.price_amount, pack.currency)
    if problems:
        raise errors.PackTermsInvalidError(pack_id=pack_id, problems=problems)
    wallet = find_wallet(economy, user_id)
    if wallet is not None and wallet.frozen:
        raise errors.AccountFrozenError(user_id=user_id)

    purchase_id = _purchase_id(economy, key)
    now = utc_now()
    record = PurchaseModel(
        purchase_id,
        economy=economy,
        user_id=user_id,
        pack_id=pack_id,
        pack_name=pack.name,
        coins=int(pack.coins),
        bonus_coins=int(pack.bonus_coins or 0),
        amount=int(pack.price_amount),
        currency=pack.currency,
        mode="local" if settings.local_payments else "stripe",
        status="pending",
        fingerprint=fp,
        success_url=success_url or f"{base}/checkout/success?purchase_id={purchase_id}",
        cancel_url=cancel_url or f"{base}/checkout/cancel?purchase_id={purchase_id}",
        expires_at=iso(now + timedelta(minutes=settings.checkout_expires_min)),
        created_at=iso(now),
        due_shard=f"p{random.randrange(DUE_SHARDS)}",
    )
    if key is None:
        record.save(condition=PurchaseModel.purchase_id.does_not_exist())
    else:
        put = {"Put": {"TableName": table_name("purchases"), "Item": record.serialize(),
                       "ConditionExpression": "attribute_not_exists(purchase_id)"}}
        if not claims.commit([put, claims.claim_write(economy, key, fp, "checkout", {"purchase_id": purchase_id})]):
            return _replay_taken(economy, key, fp, purchase_id, base)
    if record.session_id is None:
        _open_session(record, base)
    return {**purchase_view(record), "replayed": False}


def _replay_checkout(purchase_id: str, base: str) -> Dict[str, Any]:
    """The purchase a key made, as it stands; its session opened if the first request died before."""
    from chalicelib.db.models.purchases import PurchaseModel

    record = PurchaseModel.get(purchase_id, consistent_read=True)
    if record.session_id is None:
        _open_session(record, base)
    return {**purchase_view(record), "replayed": True}


def _replay_taken(economy: str, key: str, fp: str, purchase_id: str, base: str) -> Dict[str, Any]:
    """The checkout's transaction found its key, or its purchase id, taken: a twin's replay or a refusal."""
    claim = claims.find(economy, key)
    if claim is not None:
        return _replay_checkout(claims.replayed_ref(claim, fp, key)["purchase_id"], base)
    # The purchase exists without a claim: made before keys were claimed.
    record = _load(purchase_id)
    if record is None or record.fingerprint != fp or record.economy != economy:
        raise errors.IdempotencyKeyReusedError(ledger_key=key)
    return _replay_checkout(purchase_id, base)


def _open_session(record: Any, base: str) -> None:
    from chalicelib.db.models.purchases import PurchaseModel

    if record.mode == "local":
        session_id, url = "cs_local_" + record.purchase_id[4:], f"{base}/local/checkout/{record.purchase_id}"
    else:
        from chalicelib.purchases.stripe_gateway import create_checkout_session

        meta = {"economy": record.economy, "user_id": record.user_id, "pack_id": record.pack_id,
                "purchase_id": record.purchase_id}
        expires = int(time.time()) + 60 * get_settings().checkout_expires_min
        params = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": record.currency,
                    "unit_amount": int(record.amount),
                    "product_data": {
                        "name": record.pack_name,
                        "description": f"{int(record.coins)} coins + {int(record.bonus_coins)} bonus",
                    },
                },
            }],
            "client_reference_id": record.purchase_id,
            "metadata": meta,
            "payment_intent_data": {"metadata": meta},
            "success_url": record.success_url,
            "cancel_url": record.cancel_url,
            "expires_at": expires,
        }
        session = create_checkout_session(params, idempotency_key=record.purchase_id)
        session_id, url = session["id"], session["url"]
    record.update(
        actions=[PurchaseModel.session_id.set(session_id), PurchaseModel.checkout_url.set(url),
                 PurchaseModel.updated_at.set(now_iso())]
    )


def purchase_view(p: Any, payment: Any = None) -> Dict[str, Any]:
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
    p = _load(purchase_id)
    if p is None or p.economy != economy:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    return purchase_view(p, _payment(p.payment_intent))


def _load(purchase_id: str) -> Any:
    from chalicelib.db.models.purchases import PurchaseModel

    try:
        return PurchaseModel.get(purchase_id, consistent_read=True)
    except PurchaseModel.DoesNotExist:
        return None


def _payment(payment_intent: Optional[str]) -> Any:
    from chalicelib.db.models.purchases import PaymentModel

    if not payment_intent:
        return None
    try:
        return PaymentModel.get(payment_intent, consistent_read=True)
    except PaymentModel.DoesNotExist:
        return None


# --- Stripe events ------------------------------------------------------------


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
        if not transient(exc):
            raise
        log.warning("stripe event %s hit a transient DynamoDB error: %s", event.id, exc.__class__.__name__)
        raise errors.UnavailableError("DynamoDB did not answer; Stripe will deliver the event again.",
                                      cause="dynamodb") from None


def _apply(event: StripeEvent) -> Dict[str, Any]:
    from chalicelib.db.models.purchases import StripeEventModel

    try:
        StripeEventModel.get(event.id, consistent_read=True)
        return {"received": True, "duplicate": True}
    except StripeEventModel.DoesNotExist:
        pass
    handler = _HANDLERS.get(event.type)
    purchase_id, outcome = (None, "ignored") if handler is None or event.obj is None else handler(event.obj)
    StripeEventModel(
        event.id, type=event.type, purchase_id=purchase_id, outcome=outcome, received_at=now_iso(),
        expires_epoch=int(time.time()) + EVENT_RETENTION_DAYS * 86400,
    ).save()
    return {"received": True, "outcome": outcome, "purchase_id": purchase_id}


def _session_purchase(obj: Session) -> Any:
    purchase_id = obj.purchase_ref()
    return _load(purchase_id) if purchase_id is not None else None


def _link_payment(p: Any, payment_intent: Optional[str], on_purchase: bool = True) -> Any:
    """Tie the purchase and its PaymentIntent together, from whichever side knows first.

    Returns the payment record as it now stands (None without a PaymentIntent).
    """
    from chalicelib.db.models.purchases import PaymentModel, PurchaseModel

    if not payment_intent:
        return None
    if p.payment_intent is None and on_purchase:
        try:
            p.update(actions=[PurchaseModel.payment_intent.set(payment_intent)],
                     condition=PurchaseModel.payment_intent.does_not_exist())
        except Exception as exc:
            if not condition_failed(exc):
                raise
    payment = PaymentModel(payment_intent)
    # update() returns ALL_NEW into the instance: the link costs no extra read.
    payment.update(actions=[PaymentModel.purchase_id.set(PaymentModel.purchase_id | p.purchase_id),
                            PaymentModel.updated_at.set(now_iso())])
    return payment


def _on_paid(obj: Any) -> tuple:
    from chalicelib.db.models.purchases import PurchaseModel

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
        _alert("purchase_mismatch", f"paid session does not match purchase {p.purchase_id}: {problems}",
               purchase_id=p.purchase_id, economy=p.economy, problems=problems)
        p.update(actions=[PurchaseModel.failure_reason.set("mismatch"), PurchaseModel.updated_at.set(now_iso())])
        return p.purchase_id, "mismatch"
    payment = _link_payment(p, session.payment_intent, on_purchase=False)
    if payment is not None and p.payment_intent is None:
        p.payment_intent = payment.payment_intent
    if p.credited_op is None:
        # The credit's own transaction records the payment (paid, PaymentIntent):
        # one write fewer on the hot path, and the fact lands with its money.
        # (A refused credit records them with the review instead.)
        p.paid = True
    else:
        p.update(actions=[PurchaseModel.paid.set(True), PurchaseModel.updated_at.set(now_iso())])
    view = converge(p.purchase_id, p, payment)
    return p.purchase_id, "needs_review" if view["status"] == "needs_review" else "paid"


def _on_session_fact(fact: str) -> Callable[[Any], tuple]:
    def handle(obj: Any) -> tuple:
        from chalicelib.db.models.purchases import PurchaseModel

        session: Session = obj
        p = _session_purchase(session)
        if p is None:
            return None, "unknown_purchase"
        _link_payment(p, session.payment_intent)
        p.update(actions=[getattr(PurchaseModel, fact).set(True), PurchaseModel.updated_at.set(now_iso())])
        converge(p.purchase_id)
        return p.purchase_id, fact

    return handle


def _charge_fact(payment_intent: Optional[str], metadata_ref: Optional[str], actions: list, condition: Any) -> tuple:
    """Record a charge-level fact on the payment; converge the purchase if known."""
    from chalicelib.db.models.purchases import PaymentModel

    if not payment_intent:
        return None, "no_payment_intent"
    try:
        PaymentModel(payment_intent).update(actions=actions + [PaymentModel.updated_at.set(now_iso())],
                                            condition=condition)
    except Exception as exc:
        if not condition_failed(exc):
            raise  # a stale fact (a smaller refund, an 'open' after 'closed') changes nothing
    payment = _payment(payment_intent)
    purchase_id = our_purchase_id(metadata_ref) or (payment.purchase_id if payment else None)
    p = _load(purchase_id) if purchase_id else None
    if p is None:
        return None, "parked"  # the completion event will link and converge it
    _link_payment(p, payment_intent)
    converge(p.purchase_id)
    return p.purchase_id, "recorded"


def _metadata_ref(obj: Any) -> Optional[str]:
    return obj.metadata.purchase_id if obj.metadata else None


def _on_refunded(obj: Any) -> tuple:
    from chalicelib.db.models.purchases import PaymentModel

    charge: Charge = obj
    refunded = charge.amount_refunded
    return _charge_fact(
        charge.payment_intent, _metadata_ref(charge),
        [PaymentModel.refunded_amount.set(refunded), PaymentModel.charge_amount.set(charge.amount)],
        PaymentModel.refunded_amount.does_not_exist() | (PaymentModel.refunded_amount < refunded),
    )


def _on_dispute_created(obj: Any) -> tuple:
    from chalicelib.db.models.purchases import PaymentModel

    dispute: Dispute = obj
    return _charge_fact(
        dispute.payment_intent, _metadata_ref(dispute),
        [PaymentModel.dispute_id.set(dispute.id), PaymentModel.dispute_status.set("open")],
        PaymentModel.dispute_status.does_not_exist(),
    )


def _on_dispute_closed(obj: Any) -> tuple:
    from chalicelib.db.models.purchases import PaymentModel

    dispute: Dispute = obj
    # Stripe closes a dispute as won, lost, or warning_closed (an inquiry that
    # never became a chargeback): only "lost" takes money back.
    result = "lost" if dispute.status == "lost" else "won"
    return _charge_fact(
        dispute.payment_intent, _metadata_ref(dispute),
        [PaymentModel.dispute_id.set(dispute.id), PaymentModel.dispute_status.set(result)],
        PaymentModel.dispute_status.does_not_exist() | (PaymentModel.dispute_status == "open"),
    )


# Keys are stripe_events.EVENTS's: each handler gets the data.object parsed for its type.
_HANDLERS: Dict[str, Callable[[Any], tuple]] = {
    "checkout.session.completed": _on_paid,
    "checkout.session.async_payment_succeeded": _on_paid,
    "checkout.session.async_payment_failed": _on_session_fact("failed"),
    "checkout.session.expired": _on_session_fact("expired"),
    "charge.refunded": _on_refunded,
    "charge.dispute.created": _on_dispute_created,
    "charge.dispute.closed": _on_dispute_closed,
}


# --- converging the ledger on the facts -------------------------------------


def converge(purchase_id: str, p: Any = None, payment: Any = None, retry: Optional[_Retry] = None) -> Dict[str, Any]:
    """Apply whatever ledger steps the purchase's facts call for; idempotent.

    ``p``/``payment`` may be passed when the caller just read or wrote them.
    After each step the payment's facts are read again: a refund or dispute may
    have been recorded meanwhile by a delivery that saw the purchase unpaid and
    left the step to us. The purchase itself is re-read only after a race.

    The step under review (``review_step``) is not attempted again unless an
    operator asks (``retry``); a step refused for good goes under review
    (``_hold_for_review``). Raises ContentionError when races never settle, and
    whatever DynamoDB raises.
    """
    fresh = p is None
    for _ in range(20):
        if fresh:
            p = _load(purchase_id)
            payment = _payment(p.payment_intent)
        step = next_step(p, payment)
        if step is None or (p.review_reason and p.review_step == step and retry is None):
            _sync_status(p, payment)
            return purchase_view(p, payment)
        try:
            _STEPS[step](p, payment, retry)
        except _Raced:
            fresh = True  # another delivery took a step: look again
            continue
        except (errors.CoinhallError, ValueError, _Refusal) as exc:
            refusal = _refusal(step, exc)
            if refusal is None:
                raise
            if refusal is not _AGAIN:
                _hold_for_review(p, step, refusal, retry)
                retry = None
            fresh = True  # the wallet moved under us, or the review was recorded: look again
            continue
        retry = None  # the step committed (and cleared the review it answered)
        payment = _payment(p.payment_intent)
        fresh = False
    raise errors.ContentionError(purchase_id=purchase_id)


_AGAIN = _Refusal("again", "a race: read again")


def _refusal(step: str, exc: Exception) -> Optional[_Refusal]:
    """What a step's error means: ``_AGAIN`` (a race), a refusal to review, or None (raise it)."""
    if isinstance(exc, _Refusal):
        return exc
    if isinstance(exc, errors.InsufficientFundsError):
        return _AGAIN  # a hold or clawback sized on a wallet that has moved since
    if isinstance(exc, errors.IdempotencyKeyReusedError):
        # Hold, clawback and release keys carry wallet-dependent amounts, so a
        # concurrent delivery may have sized them differently; the credit's never.
        return _Refusal("credit_key_conflict", exc.message) if step == "credit" else _AGAIN
    if isinstance(exc, errors.BusinessRuleError):
        return _Refusal(exc.code, exc.message)  # e.g. balance_limit: the wallet would pass MAX_BALANCE
    if isinstance(exc, ValueError):
        return _Refusal("ledger_refused", str(exc))  # one of the ledger's own guards on the legs
    return None  # contention, unavailable: transient, the caller's to retry


def _hold_for_review(p: Any, step: str, refusal: _Refusal, retry: Optional[_Retry]) -> None:
    """Record that ``step`` waits for an operator, alert, and (for a retry) audit it: one transaction.

    Also records ``paid`` (and the PaymentIntent): a refused credit is the only
    path where the credit's own transaction did not. Conditioned on the step's
    progress being what we read: if another delivery took the step meanwhile,
    there is nothing to review (``_Raced``).
    """
    from chalicelib.tenancy.audit import audit_write

    values: Dict[str, Any] = {"paid": True, "review_reason": refusal.reason, "review_step": step,
                              "updated_at": now_iso()}
    if p.payment_intent:
        values["payment_intent"] = p.payment_intent
    condition, cond_values = _STEP_GUARDS[step](p)
    items = [_purchase_update(p, values, condition, cond_values, retry=retry).item]
    if retry is not None:
        items.append(audit_write(p.economy, retry.actor, "purchase.retry", keys.join("purchase", p.purchase_id),
                                 reason=retry.reason, before=retry.before,
                                 after={"status": "needs_review", "review_step": step,
                                        "review_reason": refusal.reason}))
        items.append(claims.claim_write(p.economy, retry.key, retry.request_fp, "purchase-retry",
                                        {"purchase_id": p.purchase_id}, status_code=200))
    try:
        get_client().transact_write_items(TransactItems=items)
    except Exception as exc:
        reasons = (getattr(exc, "response", None) or {}).get("CancellationReasons") or []
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise _Raced() from None
        if retry is not None and reasons and reasons[-1].get("Code") == "ConditionalCheckFailed":
            raise _KeyTaken() from None
        raise
    _alert("purchase_needs_review",
           f"purchase {p.purchase_id} needs review: step {step} refused ({refusal.reason}): {refusal.detail}",
           purchase_id=p.purchase_id, economy=p.economy, user_id=p.user_id, step=step, reason=refusal.reason)


def _post_step(p: Any, updates: Dict[str, Any], retry: Optional[_Retry], step: str,
               sides: Callable[[Posted], List[SideWrite]], **post_args: Any) -> None:
    """Post one step; on success mirror the purchase's new progress in memory.

    ``sides`` builds the step's purchase update; an operator's retry adds its
    audit row to the same transaction.
    """
    from chalicelib.tenancy.audit import audit_write

    def side_writes(posted: Posted) -> List[SideWrite]:
        writes = list(sides(posted))
        if retry is not None:
            writes.append(SideWrite(audit_write(
                p.economy, retry.actor, "purchase.retry", keys.join("purchase", p.purchase_id), reason=retry.reason,
                before=retry.before, after={"step": step, "transaction_id": posted.op_id})))
            writes.append(SideWrite(claims.claim_write(p.economy, retry.key, retry.request_fp, "purchase-retry",
                                                       {"purchase_id": p.purchase_id}, status_code=200),
                                    _KeyTaken()))
        return writes

    outcome = ledger.post(**post_args, side_writes=side_writes)
    if outcome.replayed:
        raise _Raced()  # another delivery committed this step: its values, not ours
    for name, value in updates.items():
        setattr(p, name, value)
    p.review_reason = p.review_step = None  # the step's purchase update removed them


def _total(p: Any) -> int:
    return int(p.coins) + int(p.bonus_coins or 0)


def desired_status(p: Any, payment: Any) -> str:
    dispute = payment.dispute_status if payment else None
    refunded = int(payment.refunded_amount or 0) if payment else 0
    if p.review_reason and next_step(p, payment) is not None:
        return "needs_review"
    if p.credited_op:
        if dispute in ("open", "lost"):
            return "disputed"
        if refunded > 0:
            return "refunded"
        return "credited"
    if p.paid and p.review_reason:
        # The credit was refused and then all the money went back: nothing owed, nothing moved.
        return "disputed" if dispute == "lost" else "refunded"
    if p.failed:
        return "failed"
    if p.expired:
        return "expired"
    return "pending"


def clawback_target(p: Any, payment: Any) -> int:
    """Coins to take back: all for a lost dispute; ceil(coins x refunded / paid) for refunds.

    Rounded up so that a refund of any amount never leaves the player more coins
    than the money they kept paid for. Integer arithmetic, so exact at any size.
    """
    if payment is None:
        return 0
    total = _total(p)
    if payment.dispute_status == "lost":
        return total
    paid = int(p.amount)
    refunded = min(int(payment.refunded_amount or 0), paid)
    return -(-total * refunded // paid) if refunded > 0 else 0


def next_step(p: Any, payment: Any) -> Optional[str]:
    """The ledger step the facts call for next (a key of ``_STEPS``), or None."""
    if not p.paid:
        return None
    if not p.credited_op:
        if p.review_reason and clawback_target(p, payment) >= _total(p):
            return None  # a refused credit, then all the money went back: nothing is owed
        return "credit"
    dispute = payment.dispute_status if payment else None
    if dispute == "open" and p.dispute_phase is None:
        return "dispute_hold"
    if clawback_target(p, payment) > int(p.clawed or 0):
        return "clawback"
    if dispute == "won" and p.dispute_phase == "held":
        return "dispute_release"
    if dispute == "lost" and p.dispute_phase != "lost":
        return "dispute_lost"  # nothing (more) to claw back, e.g. refunded in full first: still a review
    return None


# What each step's purchase update is conditioned on: the progress it moves from.
_STEP_GUARDS: Dict[str, Callable[[Any], Tuple[str, Dict[str, Any]]]] = {
    "credit": lambda p: ("attribute_not_exists(#credited_op)", {}),
    "dispute_hold": lambda p: ("attribute_not_exists(#dispute_phase)", {}),
    "clawback": lambda p: ("#clawed = :old", {":old": int(p.clawed or 0)}),
    "dispute_release": lambda p: ("#dispute_phase = :held", {":held": "held"}),
    "dispute_lost": lambda p: ("attribute_not_exists(#dispute_phase) OR #dispute_phase = :held", {":held": "held"}),
}
# Removed by every step that commits: the review it may have answered is over.
_REVIEW = ("review_reason", "review_step")


def _purchase_update(p: Any, set_values: Dict[str, Any], condition: str, values: Dict[str, Any],
                     remove: tuple = (), retry: Optional[_Retry] = None) -> SideWrite:
    from chalicelib.db import codec

    if retry is not None:
        set_values = {**set_values, "retry_key": retry.key_fp, "retry_fp": retry.request_fp}
    names = {f"#{k}": k for k in set_values}
    expr = "SET " + ", ".join(f"#{k} = :{k}" for k in set_values)
    if remove:
        names.update({f"#{k}": k for k in remove})
        expr += " REMOVE " + ", ".join(f"#{k}" for k in remove)
    attr_values = {f":{k}": codec.encode(v) for k, v in set_values.items()}
    attr_values.update({k: codec.encode(v) for k, v in values.items()})
    for token in ("clawed", "dispute_phase", "credited_op"):  # attributes the conditions name
        if token in condition and f"#{token}" not in names:
            names[f"#{token}"] = token
    return SideWrite(
        {"Update": {"TableName": table_name("purchases"), "Key": {"purchase_id": {"S": p.purchase_id}},
                    "UpdateExpression": expr, "ConditionExpression": condition,
                    "ExpressionAttributeNames": names, "ExpressionAttributeValues": attr_values}},
        _Raced(),
    )


def _step_update(p: Any, step: str, updates: Dict[str, Any], retry: Optional[_Retry],
                 remove: tuple = ()) -> SideWrite:
    """The purchase update a step commits with its money: its progress, guarded, review removed."""
    condition, values = _STEP_GUARDS[step](p)
    return _purchase_update(p, updates, condition, values, remove=remove + _REVIEW, retry=retry)


def _check_creditable(p: Any) -> None:
    """Raise _Refusal for a purchase whose stored terms no ledger credit can carry (stored before the limits)."""
    problems = coin_problems(p.coins, p.bonus_coins or 0)
    if not whole(p.amount) or p.amount <= 0:
        problems["amount"] = "must be a whole number above 0"
    if problems:
        raise _Refusal("purchase_terms_invalid", f"stored terms out of bounds: {problems}")
    if not valid_user_id(p.user_id):
        raise _Refusal("invalid_user_id", f"user id {p.user_id!r} is not one a wallet may have")


def _credit(p: Any, payment: Any, retry: Optional[_Retry]) -> None:
    _check_creditable(p)
    total = _total(p)
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
        return [_step_update(p, "credit", updates, retry, remove=("due_shard",))]

    _post_step(
        p, updates, retry, "credit", side, economy=p.economy, key=keys.join("purchase", p.purchase_id),
        request_fingerprint=ledger.fingerprint("purchase", p.purchase_id, total), type="purchase",
        legs=[Leg(ledger.user(p.user_id), total), Leg(ledger.system("issuance"), -total)],
        respond=lambda posted: {"purchase_id": p.purchase_id, "credited": total},
        reason=f"Bought {p.pack_name}", ref=p.purchase_id, meta=receipt,
    )


def _dispute_hold(p: Any, payment: Any, retry: Optional[_Retry]) -> None:
    wallet = find_wallet(p.economy, p.user_id)
    amount = max(0, min(wallet.available if wallet else 0, _total(p) - int(p.clawed or 0)))
    legs = [Leg(ledger.user(p.user_id), -amount), Leg(ledger.user(p.user_id), amount, "held")] if amount else []
    updates = {"dispute_phase": "held", "dispute_hold": amount, "status": "disputed", "updated_at": now_iso()}
    write = _step_update(p, "dispute_hold", updates, retry)
    _post_step(
        p, updates, retry, "dispute_hold", lambda posted: [write], economy=p.economy,
        key=keys.join("dispute-hold", p.purchase_id),
        request_fingerprint=ledger.fingerprint("dispute-hold", p.purchase_id, amount), type="dispute", legs=legs,
        respond=lambda posted: {"held": amount},
        reason="Payment disputed: coins held", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id, "dispute_id": payment.dispute_id},
        wallet_changes={p.user_id: WalletChange(freeze=frozenset({freezes.dispute(p.purchase_id)}))},
    )


def _clawback(p: Any, payment: Any, retry: Optional[_Retry]) -> None:
    target = clawback_target(p, payment)
    delta = target - int(p.clawed or 0)
    wallet = find_wallet(p.economy, p.user_id)
    held_for_dispute = int(p.dispute_hold or 0) if p.dispute_phase == "held" else 0
    from_held = min(delta, held_for_dispute, wallet.held if wallet else 0)
    from_available = min(delta - from_held, wallet.available if wallet else 0)
    debt = delta - from_held - from_available
    legs = []
    if from_held:
        legs.append(Leg(ledger.user(p.user_id), -from_held, "held"))
    if from_available:
        legs.append(Leg(ledger.user(p.user_id), -from_available))
    if from_held + from_available:
        legs.append(Leg(ledger.system("clawback"), from_held + from_available))
    lost = payment.dispute_status == "lost"
    changes = {p.user_id: _clawback_change(p, debt, lost)}
    reason = "Dispute lost: coins taken back" if lost else "Refund: coins taken back"
    updates = {"clawed": target, "debt": int(p.debt or 0) + debt, "dispute_hold": held_for_dispute - from_held,
               "updated_at": now_iso()}
    if lost:
        updates["dispute_phase"] = "lost"
    write = _step_update(p, "clawback", updates, retry)
    _post_step(
        p, updates, retry, "clawback", lambda posted: [write], economy=p.economy,
        key=keys.join("clawback", p.purchase_id, str(target)),
        request_fingerprint=ledger.fingerprint("clawback", p.purchase_id, target, from_held, from_available, debt),
        type="refund", legs=legs, respond=lambda posted: {"clawed": delta, "debt": debt}, reason=reason,
        ref=p.purchase_id,
        meta={"purchase_id": p.purchase_id, "coins_taken": from_held + from_available, "debt_added": debt,
              "refunded_amount": int(payment.refunded_amount or 0)},
        allow_frozen=True, wallet_changes=changes,
    )
    if debt:
        log.warning("purchase %s left user %s owing %d coins; wallet frozen", p.purchase_id, p.user_id, debt)


def _clawback_change(p: Any, debt: int, lost: bool) -> WalletChange:
    """Debt freezes the wallet until settled; a lost chargeback is a fraud signal, kept for an operator's review."""
    freeze = {freezes.DEBT} if debt else set()
    if not lost:
        return WalletChange(debt=debt, freeze=frozenset(freeze))
    return WalletChange(debt=debt, freeze=frozenset(freeze | {freezes.dispute_lost(p.purchase_id)}),
                        unfreeze=frozenset({freezes.dispute(p.purchase_id)}))


def _dispute_lost(p: Any, payment: Any, retry: Optional[_Retry]) -> None:
    """A lost dispute with nothing (more) to claw back: its hold becomes a review, whatever the event order."""
    updates = {"dispute_phase": "lost", "updated_at": now_iso()}
    write = _step_update(p, "dispute_lost", updates, retry)
    _post_step(
        p, updates, retry, "dispute_lost", lambda posted: [write], economy=p.economy,
        key=keys.join("dispute-lost", p.purchase_id),
        request_fingerprint=ledger.fingerprint("dispute-lost", p.purchase_id), type="dispute", legs=[],
        respond=lambda posted: {"review": True},
        reason="Dispute lost: wallet kept frozen for review", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id},
        wallet_changes={p.user_id: WalletChange(freeze=frozenset({freezes.dispute_lost(p.purchase_id)}),
                                                unfreeze=frozenset({freezes.dispute(p.purchase_id)}))},
    )


def _dispute_release(p: Any, payment: Any, retry: Optional[_Retry]) -> None:
    wallet = find_wallet(p.economy, p.user_id)
    amount = min(int(p.dispute_hold or 0), wallet.held if wallet else 0)
    legs = [Leg(ledger.user(p.user_id), -amount, "held"), Leg(ledger.user(p.user_id), amount)] if amount else []
    updates = {"dispute_phase": "released", "dispute_hold": 0, "updated_at": now_iso()}
    write = _step_update(p, "dispute_release", updates, retry)
    _post_step(
        p, updates, retry, "dispute_release", lambda posted: [write], economy=p.economy,
        key=keys.join("dispute-release", p.purchase_id),
        request_fingerprint=ledger.fingerprint("dispute-release", p.purchase_id, amount), type="dispute", legs=legs,
        respond=lambda posted: {"released": amount},
        reason="Dispute won: coins released", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id},
        # Only this dispute's hold: an operator's freeze, a debt or another open dispute stays.
        wallet_changes={p.user_id: WalletChange(unfreeze=frozenset({freezes.dispute(p.purchase_id)}))},
    )


_STEPS: Dict[str, Callable[[Any, Any, Optional[_Retry]], None]] = {
    "credit": _credit,
    "dispute_hold": _dispute_hold,
    "clawback": _clawback,
    "dispute_release": _dispute_release,
    "dispute_lost": _dispute_lost,
}


def _sync_status(p: Any, payment: Any) -> None:
    from chalicelib.db.models.purchases import PurchaseModel

    wanted = desired_status(p, payment)
    if p.status != wanted:
        actions = [PurchaseModel.status.set(wanted), PurchaseModel.updated_at.set(now_iso())]
        if wanted != "pending":
            actions.append(PurchaseModel.due_shard.remove())  # out of the expiry job's index
        try:
            p.update(actions=actions, condition=PurchaseModel.status == p.status)
        except Exception as exc:
            if not condition_failed(exc):
                raise
            raise _Raced() from None


# --- operator review ------------------------------------------------------------


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
    p = _load(purchase_id)
    if p is None or p.economy != economy:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    payment = _payment(p.payment_intent)
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
    retry = _Retry(key_fp, request_fp, key, actor, reason, before)
    try:
        return converge(purchase_id, p, payment, retry=retry), False
    except _KeyTaken:
        claim = claims.find(economy, key)
        if claim is None:
            raise errors.ContentionError(purchase_id=purchase_id) from None
        claims.replayed_ref(claim, request_fp, key)  # a twin of this request committed first
        return purchase_view(_load(purchase_id), _payment(p.payment_intent)), True


# --- debts -------------------------------------------------------------------


def settle_debt(economy: str, user_id: str, actor: str, idempotency_key: str) -> ledger.Outcome:
    """Pay a wallet's debt from its available coins; lift the ``debt`` freeze (only) when it reaches zero.

    Raises UserNotFoundError; a wallet without debt is a 409 ``no_debt``.
    """
    from chalicelib.tenancy.audit import audit_write
    from chalicelib.ledger.wallets import get_wallet

    fp, key = ledger.fingerprint("settle-debt", economy, user_id), keys.tag("api", idempotency_key)
    done = claims.find(economy, key)
    if done is not None:  # a retry: the debt it paid is gone, so answer before looking at it
        return claims.replay(done, fp, key)
    wallet = get_wallet(economy, user_id)
    if wallet.debt == 0:
        raise errors.NoDebtError(user_id=user_id)
    pay = min(wallet.debt, wallet.available)
    if pay == 0:
        raise errors.InsufficientFundsError(user_id=user_id, bucket="available", balance=0, required=wallet.debt)
    cleared = pay == wallet.debt
    legs = [Leg(ledger.user(user_id), -pay), Leg(ledger.system("clawback"), pay)]

    def respond(posted: Any) -> Dict[str, Any]:
        after = posted.user(user_id)
        return {"transaction_id": posted.op_id, "user_id": user_id, "paid": pay, "debt": after.debt,
                "frozen": after.frozen, "freeze_reasons": list(after.freeze_reasons), "balance": after.as_dict()}

    def audit(posted: Any) -> list:
        after = posted.user(user_id)
        return [SideWrite(audit_write(economy, actor, "wallet.settle_debt", keys.tag("user", user_id),
                                      before={"debt": wallet.debt, "available": wallet.available,
                                              "freeze_reasons": list(posted.user_before(user_id).freeze_reasons)},
                                      after={"debt": after.debt, "available": after.available,
                                             "freeze_reasons": list(after.freeze_reasons)}))]

    return ledger.post(
        economy, key, fp, "refund", legs, respond=respond, reason="Debt settled", allow_frozen=True,
        wallet_changes={user_id: WalletChange(debt=-pay, unfreeze=frozenset({freezes.DEBT} if cleared else ()))},
        side_writes=audit,
    )
