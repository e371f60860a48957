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
"""
from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from datetime import timedelta
from typing import Any, Callable, Dict, Optional

from chalicelib import errors, ledger
from chalicelib.config import get_settings
from chalicelib.db.base import condition_failed
from chalicelib.db.engine import table_name
from chalicelib.ids import iso, new_id, now_iso, utc_now
from chalicelib.ledger import Leg, SideWrite, WalletChange, claims, freezes
from chalicelib.ledger.wallets import find_wallet

log = logging.getLogger("coinhall.purchases")

EVENT_RETENTION_DAYS = 35
# Pending purchases sit in the sparse ``due`` index under p0..p7 (sharded so no
# index partition takes every checkout); leaving ``pending`` removes them.
DUE_SHARDS = 8


class _Raced(Exception):
    """Another delivery moved this purchase first; re-read and carry on."""


# --- checkout ---------------------------------------------------------------


def _purchase_id(economy: str, key: Optional[str]) -> str:
    if key is None:
        return new_id("pur_")
    # The same (namespaced) key always names the same purchase, so a retried
    # checkout cannot open a second session (Stripe then dedupes on the purchase id too).
    return "pur_" + hashlib.sha256(f"{economy}|{key}".encode()).hexdigest()[:26].upper()


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
    AccountFrozenError, IdempotencyKeyReusedError, UnavailableError (Stripe did
    not answer; retry with the same key).
    """
    from chalicelib.db.economies import PackModel
    from chalicelib.db.purchases import PurchaseModel

    settings = get_settings()
    fp = ledger.fingerprint("checkout", economy, user_id, pack_id, success_url, cancel_url)
    base = (settings.public_url or base_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    key = f"{key_namespace}:{idempotency_key}" if idempotency_key is not None else None
    claim = claims.find(economy, key) if key is not None else None
    if claim is not None:
        return _replay_checkout(claims.replayed_ref(claim, fp, key)["purchase_id"], base)
    try:
        pack = PackModel.get(economy, pack_id)
    except PackModel.DoesNotExist:
        raise errors.PackNotFoundError(pack_id=pack_id) from None
    if not pack.active:
        raise errors.PackInactiveError(pack_id=pack_id)
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
    from chalicelib.db.purchases import PurchaseModel

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
    from chalicelib.db.purchases import PurchaseModel

    if record.mode == "local":
        session_id, url = "cs_local_" + record.purchase_id[4:], f"{base}/local/checkout/{record.purchase_id}"
    else:
        from chalicelib.stripe_gateway import create_checkout_session

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
    if p.failure_reason:
        view["failure_reason"] = p.failure_reason
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
    from chalicelib.db.purchases import PurchaseModel

    try:
        return PurchaseModel.get(purchase_id, consistent_read=True)
    except PurchaseModel.DoesNotExist:
        return None


def _payment(payment_intent: Optional[str]) -> Any:
    from chalicelib.db.purchases import PaymentModel

    if not payment_intent:
        return None
    try:
        return PaymentModel.get(payment_intent, consistent_read=True)
    except PaymentModel.DoesNotExist:
        return None


# --- Stripe events ------------------------------------------------------------


def handle_event(event: Dict[str, Any]) -> Dict[str, Any]:
    """Apply one verified Stripe event; safe to call any number of times."""
    from chalicelib.db.purchases import StripeEventModel

    event_id, event_type = event["id"], event["type"]
    try:
        StripeEventModel.get(event_id, consistent_read=True)
        return {"received": True, "duplicate": True}
    except StripeEventModel.DoesNotExist:
        pass
    obj = ((event.get("data") or {}).get("object")) or {}
    handler = _HANDLERS.get(event_type)
    purchase_id, outcome = (None, "ignored") if handler is None else handler(obj)
    StripeEventModel(
        event_id, type=event_type, purchase_id=purchase_id, outcome=outcome, received_at=now_iso(),
        expires_epoch=int(time.time()) + EVENT_RETENTION_DAYS * 86400,
    ).save()
    return {"received": True, "outcome": outcome, "purchase_id": purchase_id}


def _session_purchase(obj: Dict[str, Any]) -> Any:
    purchase_id = (obj.get("metadata") or {}).get("purchase_id") or obj.get("client_reference_id")
    if not isinstance(purchase_id, str):
        return None
    return _load(purchase_id)


def _link_payment(p: Any, payment_intent: Optional[str], on_purchase: bool = True) -> Any:
    """Tie the purchase and its PaymentIntent together, from whichever side knows first.

    Returns the payment record as it now stands (None without a PaymentIntent).
    """
    from chalicelib.db.purchases import PaymentModel, PurchaseModel

    if not isinstance(payment_intent, str) or not payment_intent:
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


def _on_paid(obj: Dict[str, Any]) -> tuple:
    from chalicelib.db.purchases import PurchaseModel

    p = _session_purchase(obj)
    if p is None:
        log.warning("paid session %s names no purchase of ours", obj.get("id"))
        return None, "unknown_purchase"
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        _link_payment(p, obj.get("payment_intent"))
        return p.purchase_id, "awaiting_payment"
    problems = {}
    if obj.get("id") != p.session_id:
        problems["session_id"] = obj.get("id")
    if obj.get("amount_total") != int(p.amount):
        problems["amount_total"] = obj.get("amount_total")
    if str(obj.get("currency", "")).lower() != p.currency.lower():
        problems["currency"] = obj.get("currency")
    if problems:
        # Never credit what we did not sell; an operator must look at it.
        log.error("OPERATOR ALERT: paid session does not match purchase %s: %s", p.purchase_id, problems)
        p.update(actions=[PurchaseModel.failure_reason.set("mismatch"), PurchaseModel.updated_at.set(now_iso())])
        return p.purchase_id, "mismatch"
    payment = _link_payment(p, obj.get("payment_intent"), on_purchase=False)
    if payment is not None and p.payment_intent is None:
        p.payment_intent = payment.payment_intent
    if p.credited_op is None:
        # The credit's own transaction records the payment (paid, PaymentIntent):
        # one write fewer on the hot path, and the fact lands with its money.
        p.paid = True
    else:
        p.update(actions=[PurchaseModel.paid.set(True), PurchaseModel.updated_at.set(now_iso())])
    converge(p.purchase_id, p, payment)
    return p.purchase_id, "paid"


def _on_session_fact(fact: str) -> Callable[[Dict[str, Any]], tuple]:
    def handle(obj: Dict[str, Any]) -> tuple:
        from chalicelib.db.purchases import PurchaseModel

        p = _session_purchase(obj)
        if p is None:
            return None, "unknown_purchase"
        _link_payment(p, obj.get("payment_intent"))
        p.update(actions=[getattr(PurchaseModel, fact).set(True), PurchaseModel.updated_at.set(now_iso())])
        converge(p.purchase_id)
        return p.purchase_id, fact

    return handle


def _charge_fact(obj: Dict[str, Any], actions: list, condition: Any) -> tuple:
    """Record a charge-level fact on the payment; converge the purchase if known."""
    from chalicelib.db.purchases import PaymentModel

    payment_intent = obj.get("payment_intent")
    if not isinstance(payment_intent, str) or not payment_intent:
        return None, "no_payment_intent"
    purchase_id = (obj.get("metadata") or {}).get("purchase_id")
    try:
        PaymentModel(payment_intent).update(actions=actions + [PaymentModel.updated_at.set(now_iso())],
                                            condition=condition)
    except Exception as exc:
        if not condition_failed(exc):
            raise  # a stale fact (a smaller refund, an 'open' after 'closed') changes nothing
    payment = _payment(payment_intent)
    purchase_id = purchase_id or (payment.purchase_id if payment else None)
    p = _load(purchase_id) if isinstance(purchase_id, str) else None
    if p is None:
        return None, "parked"  # the completion event will link and converge it
    _link_payment(p, payment_intent)
    converge(p.purchase_id)
    return p.purchase_id, "recorded"


def _on_refunded(obj: Dict[str, Any]) -> tuple:
    from chalicelib.db.purchases import PaymentModel

    refunded = obj.get("amount_refunded")
    if not isinstance(refunded, int) or refunded < 0:
        return None, "ignored"
    return _charge_fact(
        obj,
        [PaymentModel.refunded_amount.set(refunded), PaymentModel.charge_amount.set(obj.get("amount"))],
        PaymentModel.refunded_amount.does_not_exist() | (PaymentModel.refunded_amount < refunded),
    )


def _on_dispute_created(obj: Dict[str, Any]) -> tuple:
    from chalicelib.db.purchases import PaymentModel

    return _charge_fact(
        obj,
        [PaymentModel.dispute_id.set(obj.get("id")), PaymentModel.dispute_status.set("open")],
        PaymentModel.dispute_status.does_not_exist(),
    )


def _on_dispute_closed(obj: Dict[str, Any]) -> tuple:
    from chalicelib.db.purchases import PaymentModel

    # Stripe closes a dispute as won, lost, or warning_closed (an inquiry that
    # never became a chargeback): only "lost" takes money back.
    result = "lost" if obj.get("status") == "lost" else "won"
    return _charge_fact(
        obj,
        [PaymentModel.dispute_id.set(obj.get("id")), PaymentModel.dispute_status.set(result)],
        PaymentModel.dispute_status.does_not_exist() | (PaymentModel.dispute_status == "open"),
    )


_HANDLERS: Dict[str, Callable[[Dict[str, Any]], tuple]] = {
    "checkout.session.completed": _on_paid,
    "checkout.session.async_payment_succeeded": _on_paid,
    "checkout.session.async_payment_failed": _on_session_fact("failed"),
    "checkout.session.expired": _on_session_fact("expired"),
    "charge.refunded": _on_refunded,
    "charge.dispute.created": _on_dispute_created,
    "charge.dispute.closed": _on_dispute_closed,
}


# --- converging the ledger on the facts -------------------------------------


def converge(purchase_id: str, p: Any = None, payment: Any = None) -> Dict[str, Any]:
    """Apply whatever ledger steps the purchase's facts call for; idempotent.

    ``p``/``payment`` may be passed when the caller just read or wrote them.
    After each step the payment's facts are read again: a refund or dispute may
    have been recorded meanwhile by a delivery that saw the purchase unpaid and
    left the step to us. The purchase itself is re-read only after a race.
    """
    fresh = p is None
    for _ in range(20):
        if fresh:
            p = _load(purchase_id)
            payment = _payment(p.payment_intent)
        try:
            if not _step(p, payment):
                _sync_status(p, payment)
                return purchase_view(p, payment)
            payment = _payment(p.payment_intent)
            fresh = False
        except (_Raced, errors.IdempotencyKeyReusedError, errors.InsufficientFundsError):
            fresh = True  # another delivery took a step, or the wallet moved: look again
    raise errors.ContentionError(purchase_id=purchase_id)


def _post_step(p: Any, updates: Dict[str, Any], **post_args: Any) -> None:
    """Post one step; on success mirror the purchase's new progress in memory."""
    outcome = ledger.post(**post_args)
    if outcome.replayed:
        raise _Raced()  # another delivery committed this step: its values, not ours
    for name, value in updates.items():
        setattr(p, name, value)


def desired_status(p: Any, payment: Any) -> str:
    dispute = payment.dispute_status if payment else None
    refunded = int(payment.refunded_amount or 0) if payment else 0
    if p.credited_op:
        if dispute in ("open", "lost"):
            return "disputed"
        if refunded > 0:
            return "refunded"
        return "credited"
    if p.failed:
        return "failed"
    if p.expired:
        return "expired"
    return "pending"


def clawback_target(p: Any, payment: Any) -> int:
    """Coins to take back: all for a lost dispute; ceil(coins x refunded / paid) for refunds.

    Rounded up so that a refund of any amount never leaves the player more coins
    than the money they kept paid for.
    """
    if payment is None:
        return 0
    total = int(p.coins) + int(p.bonus_coins or 0)
    if payment.dispute_status == "lost":
        return total
    refunded = min(int(payment.refunded_amount or 0), int(p.amount))
    return math.ceil(total * refunded / int(p.amount)) if refunded else 0


def _step(p: Any, payment: Any) -> bool:
    """Take the next step the facts call for; False when there is none."""
    if not p.paid:
        return False
    if not p.credited_op:
        _credit(p)
        return True
    dispute = payment.dispute_status if payment else None
    if dispute == "open" and p.dispute_phase is None:
        _dispute_hold(p, payment)
        return True
    if clawback_target(p, payment) > int(p.clawed or 0):
        _clawback(p, payment)
        return True
    if dispute == "won" and p.dispute_phase == "held":
        _dispute_release(p)
        return True
    if dispute == "lost" and p.dispute_phase != "lost":
        _dispute_lost(p)  # nothing left to claw back (e.g. refunded in full first): still a review
        return True
    return False


def _purchase_update(p: Any, set_values: Dict[str, Any], condition: str, values: Dict[str, Any],
                     remove: tuple = ()) -> SideWrite:
    from chalicelib.ledger import codec

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


def _credit(p: Any) -> None:
    total = int(p.coins) + int(p.bonus_coins or 0)
    receipt = {"purchase_id": p.purchase_id, "pack_id": p.pack_id, "pack_name": p.pack_name,
               "coins": int(p.coins), "bonus_coins": int(p.bonus_coins or 0),
               "price_amount": int(p.amount), "currency": p.currency}
    updates: Dict[str, Any] = {}

    def side(posted: Any) -> list:
        updates.clear()
        updates.update({"credited_op": posted.op_id, "credited_at": posted.created_at, "status": "credited",
                        "paid": True, "updated_at": posted.created_at})
        if p.payment_intent:
            updates["payment_intent"] = p.payment_intent
        # Credited means no longer pending: out of the expiry job's index.
        return [_purchase_update(p, updates, "attribute_not_exists(#credited_op)", {}, remove=("due_shard",))]

    _post_step(
        p, updates, economy=p.economy, key=f"purchase:{p.purchase_id}",
        request_fingerprint=ledger.fingerprint("purchase", p.purchase_id, total), type="purchase",
        legs=[Leg(ledger.user(p.user_id), total), Leg(ledger.system("issuance"), -total)],
        respond=lambda posted: {"purchase_id": p.purchase_id, "credited": total},
        reason=f"Bought {p.pack_name}", ref=p.purchase_id, meta=receipt, side_writes=side,
    )


def _dispute_hold(p: Any, payment: Any) -> None:
    wallet = find_wallet(p.economy, p.user_id)
    total = int(p.coins) + int(p.bonus_coins or 0)
    amount = max(0, min(wallet.available if wallet else 0, total - int(p.clawed or 0)))
    legs = [Leg(ledger.user(p.user_id), -amount), Leg(ledger.user(p.user_id), amount, "held")] if amount else []
    updates = {"dispute_phase": "held", "dispute_hold": amount, "status": "disputed", "updated_at": now_iso()}
    _post_step(
        p, updates, economy=p.economy, key=f"dispute-hold:{p.purchase_id}",
        request_fingerprint=ledger.fingerprint("dispute-hold", p.purchase_id, amount), type="dispute", legs=legs,
        respond=lambda posted: {"held": amount},
        reason="Payment disputed: coins held", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id, "dispute_id": payment.dispute_id},
        wallet_changes={p.user_id: WalletChange(freeze=frozenset({freezes.dispute(p.purchase_id)}))},
        side_writes=[_purchase_update(p, updates, "attribute_not_exists(#dispute_phase)", {})],
    )


def _clawback(p: Any, payment: Any) -> None:
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
    _post_step(
        p, updates, economy=p.economy, key=f"clawback:{p.purchase_id}:{target}",
        request_fingerprint=ledger.fingerprint("clawback", p.purchase_id, target, from_held, from_available, debt),
        type="refund", legs=legs, respond=lambda posted: {"clawed": delta, "debt": debt}, reason=reason,
        ref=p.purchase_id,
        meta={"purchase_id": p.purchase_id, "coins_taken": from_held + from_available, "debt_added": debt,
              "refunded_amount": int(payment.refunded_amount or 0)},
        allow_frozen=True, wallet_changes=changes,
        side_writes=[_purchase_update(p, updates, "#clawed = :old", {":old": int(p.clawed or 0)})],
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


def _dispute_lost(p: Any) -> None:
    """A lost dispute with nothing (more) to claw back: its hold becomes a review, whatever the event order."""
    updates = {"dispute_phase": "lost", "updated_at": now_iso()}
    _post_step(
        p, updates, economy=p.economy, key=f"dispute-lost:{p.purchase_id}",
        request_fingerprint=ledger.fingerprint("dispute-lost", p.purchase_id), type="dispute", legs=[],
        respond=lambda posted: {"review": True},
        reason="Dispute lost: wallet kept frozen for review", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id},
        wallet_changes={p.user_id: WalletChange(freeze=frozenset({freezes.dispute_lost(p.purchase_id)}),
                                                unfreeze=frozenset({freezes.dispute(p.purchase_id)}))},
        side_writes=[_purchase_update(p, updates, "attribute_not_exists(#dispute_phase) OR #dispute_phase = :held",
                                      {":held": "held"})],
    )


def _dispute_release(p: Any) -> None:
    wallet = find_wallet(p.economy, p.user_id)
    amount = min(int(p.dispute_hold or 0), wallet.held if wallet else 0)
    legs = [Leg(ledger.user(p.user_id), -amount, "held"), Leg(ledger.user(p.user_id), amount)] if amount else []
    updates = {"dispute_phase": "released", "dispute_hold": 0, "updated_at": now_iso()}
    _post_step(
        p, updates, economy=p.economy, key=f"dispute-release:{p.purchase_id}",
        request_fingerprint=ledger.fingerprint("dispute-release", p.purchase_id, amount), type="dispute", legs=legs,
        respond=lambda posted: {"released": amount},
        reason="Dispute won: coins released", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id},
        # Only this dispute's hold: an operator's freeze, a debt or another open dispute stays.
        wallet_changes={p.user_id: WalletChange(unfreeze=frozenset({freezes.dispute(p.purchase_id)}))},
        side_writes=[_purchase_update(p, updates, "#dispute_phase = :held", {":held": "held"})],
    )


def _sync_status(p: Any, payment: Any) -> None:
    from chalicelib.db.purchases import PurchaseModel

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


# --- debts -------------------------------------------------------------------


def settle_debt(economy: str, user_id: str, actor: str, idempotency_key: str) -> ledger.Outcome:
    """Pay a wallet's debt from its available coins; lift the ``debt`` freeze (only) when it reaches zero.

    Raises UserNotFoundError; a wallet without debt is a 409 ``no_debt``.
    """
    from chalicelib.audit import audit_write
    from chalicelib.ledger.wallets import get_wallet

    fp, key = ledger.fingerprint("settle-debt", economy, user_id), f"api:{idempotency_key}"
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
        return [SideWrite(audit_write(economy, actor, "wallet.settle_debt", f"user:{user_id}",
                                      before={"debt": wallet.debt, "available": wallet.available,
                                              "freeze_reasons": list(posted.user_before(user_id).freeze_reasons)},
                                      after={"debt": after.debt, "available": after.available,
                                             "freeze_reasons": list(after.freeze_reasons)}))]

    return ledger.post(
        economy, key, fp, "refund", legs, respond=respond, reason="Debt settled", allow_frozen=True,
        wallet_changes={user_id: WalletChange(debt=-pay, unfreeze=frozenset({freezes.DEBT} if cleared else ()))},
        side_writes=audit,
    )
