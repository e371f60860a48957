"""Money going back: dispute holds, clawbacks after refunds and lost disputes, and settling debt.

* dispute open  -> freeze the wallet (``dispute:<id>``), move the purchase's
  coins that are still there to ``held``;
* refunded / dispute lost -> claw back ``clawback_target`` coins: first from the
  dispute hold, then ``available``; what the player already spent becomes
  ``debt`` and the wallet stays frozen (``debt``) until it is settled; a lost
  dispute swaps ``dispute:<id>`` for ``dispute_lost:<id>``, an operator's review;
* dispute won -> release the hold; lift ``dispute:<id>`` only (an operator's
  or a debt's freeze stays).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.ledger import Balances, Leg, Operation, Posted, SideWrite, Sized, WalletChange, freezes
from chalicelib.purchases.steps import Retry, clawback_target, post_sized_step, post_step, step_update
from chalicelib.purchases.store import Payment, Purchase
from chalicelib.tenancy.audit import audit_write

log = logging.getLogger("coinhall.purchases")


def _moved(sized: Sized, user_id: str, bucket: str) -> int:
    """Coins the sized legs put into (positive) or took from (negative) one bucket of the buyer's wallet."""
    return sum(leg.amount for leg in sized.legs if leg.account == ledger.user(user_id) and leg.bucket == bucket)


# The three steps below take "what the wallet holds": each is sized inside the ledger's read
# (``Operation.size``), under the version it writes against, so a wallet that moves meanwhile
# is sized again, never raced. Their fingerprints name no wallet-dependent amount.


def dispute_hold(p: Purchase, payment: Optional[Payment], retry: Optional[Retry]) -> Purchase:
    """Freeze the wallet for the dispute and hold what is left of the purchase's coins."""
    assert payment is not None  # a dispute is a payment's fact
    wanted = p.total - int(p.clawed or 0)
    buyer = ledger.user(p.user_id)

    def size(wallets: Mapping[str, Balances]) -> Sized:
        amount = max(0, min(wallets[p.user_id].available, wanted))
        legs = (Leg(buyer, -amount), Leg(buyer, amount, "held")) if amount else ()
        return Sized(legs, {p.user_id: WalletChange(freeze=frozenset({freezes.dispute(p.purchase_id)}))})

    def updates(sized: Sized) -> Dict[str, Any]:
        return {"dispute_phase": "held", "dispute_hold": _moved(sized, p.user_id, "held"), "status": "disputed",
                "updated_at": now_iso()}

    return post_sized_step(
        p, retry, "dispute_hold", updates, economy=p.economy, key=keys.join("dispute-hold", p.purchase_id),
        fingerprint=ledger.fingerprint("dispute-hold", p.purchase_id), type="dispute",
        size=size, reads=(p.user_id,), respond=lambda posted: {"held": _moved(posted.sized, p.user_id, "held")},
        reason="Payment disputed: coins held", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id, "dispute_id": payment.dispute_id},
    )


def clawback(p: Purchase, payment: Optional[Payment], retry: Optional[Retry]) -> Purchase:
    """Take back what the refund or lost dispute calls for; what is gone becomes debt (and a freeze)."""
    assert payment is not None  # a refund or a lost dispute is a payment's fact
    target = clawback_target(p, payment)
    delta = target - int(p.clawed or 0)
    held_for_dispute = int(p.dispute_hold or 0) if p.dispute_phase == "held" else 0
    lost = payment.dispute_status == "lost"
    buyer = ledger.user(p.user_id)

    def size(wallets: Mapping[str, Balances]) -> Sized:
        wallet = wallets[p.user_id]
        from_held = min(delta, held_for_dispute, wallet.held)
        from_available = min(delta - from_held, wallet.available)
        debt = delta - from_held - from_available
        legs = []
        if from_held:
            legs.append(Leg(buyer, -from_held, "held"))
        if from_available:
            legs.append(Leg(buyer, -from_available))
        if from_held + from_available:
            legs.append(Leg(ledger.system("clawback"), from_held + from_available))
        return Sized(tuple(legs), {p.user_id: _clawback_change(p, debt, lost)},
                     {"coins_taken": from_held + from_available, "debt_added": debt})

    def debt_of(sized: Sized) -> int:
        return sized.wallet_changes[p.user_id].debt

    def updates(sized: Sized) -> Dict[str, Any]:
        chosen: Dict[str, Any] = {"clawed": target, "debt": int(p.debt or 0) + debt_of(sized),
                                  "dispute_hold": held_for_dispute + _moved(sized, p.user_id, "held"),
                                  "updated_at": now_iso()}
        if lost:
            chosen["dispute_phase"] = "lost"
        return chosen

    reason = "Dispute lost: coins taken back" if lost else "Refund: coins taken back"
    after = post_sized_step(
        p, retry, "clawback", updates, economy=p.economy, key=keys.join("clawback", p.purchase_id, str(target)),
        fingerprint=ledger.fingerprint("clawback", p.purchase_id, target), type="refund",
        size=size, reads=(p.user_id,), respond=lambda posted: {"clawed": delta, "debt": debt_of(posted.sized)},
        reason=reason, ref=p.purchase_id,
        meta={"purchase_id": p.purchase_id, "refunded_amount": int(payment.refunded_amount or 0)},
        allow_frozen=True,
    )
    debt = int(after.debt or 0) - int(p.debt or 0)
    if debt:
        log.warning("purchase %s left user %s owing %d coins; wallet frozen", p.purchase_id, p.user_id, debt)
    return after


def _clawback_change(p: Purchase, debt: int, lost: bool) -> WalletChange:
    """Debt freezes the wallet until settled; a lost chargeback is a fraud signal, kept for an operator's review."""
    freeze = {freezes.DEBT} if debt else set()
    if not lost:
        return WalletChange(debt=debt, freeze=frozenset(freeze))
    return WalletChange(debt=debt, freeze=frozenset(freeze | {freezes.dispute_lost(p.purchase_id)}),
                        unfreeze=frozenset({freezes.dispute(p.purchase_id)}))


def dispute_lost(p: Purchase, payment: Optional[Payment], retry: Optional[Retry]) -> Purchase:
    """A lost dispute with nothing (more) to claw back: its hold becomes a review, whatever the event order."""
    updates = {"dispute_phase": "lost", "updated_at": now_iso()}
    write = step_update(p, "dispute_lost", updates, retry)
    return post_step(
        p, updates, retry, "dispute_lost", lambda posted: [write], economy=p.economy,
        key=keys.join("dispute-lost", p.purchase_id),
        fingerprint=ledger.fingerprint("dispute-lost", p.purchase_id), type="dispute", legs=[],
        respond=lambda posted: {"review": True},
        reason="Dispute lost: wallet kept frozen for review", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id},
        wallet_changes={p.user_id: WalletChange(freeze=frozenset({freezes.dispute_lost(p.purchase_id)}),
                                                unfreeze=frozenset({freezes.dispute(p.purchase_id)}))},
    )


def dispute_release(p: Purchase, payment: Optional[Payment], retry: Optional[Retry]) -> Purchase:
    """A won dispute: release the hold and lift this dispute's freeze."""
    buyer = ledger.user(p.user_id)

    def size(wallets: Mapping[str, Balances]) -> Sized:
        amount = min(int(p.dispute_hold or 0), wallets[p.user_id].held)
        legs = (Leg(buyer, -amount, "held"), Leg(buyer, amount)) if amount else ()
        # Only this dispute's hold: an operator's freeze, a debt or another open dispute stays.
        return Sized(legs, {p.user_id: WalletChange(unfreeze=frozenset({freezes.dispute(p.purchase_id)}))})

    return post_sized_step(
        p, retry, "dispute_release",
        lambda sized: {"dispute_phase": "released", "dispute_hold": 0, "updated_at": now_iso()},
        economy=p.economy, key=keys.join("dispute-release", p.purchase_id),
        fingerprint=ledger.fingerprint("dispute-release", p.purchase_id), type="dispute",
        size=size, reads=(p.user_id,), respond=lambda posted: {"released": _moved(posted.sized, p.user_id, "available")},
        reason="Dispute won: coins released", ref=p.purchase_id, allow_frozen=True,
        meta={"purchase_id": p.purchase_id},
    )


def settle_debt(economy: str, user_id: str, actor: str, idempotency_key: str) -> ledger.Outcome:
    """Pay a wallet's debt from its available coins; lift the ``debt`` freeze (only) when it reaches zero.

    Raises UserNotFoundError, NoDebtError (409 ``no_debt``), InsufficientFundsError
    (nothing available to pay with).
    """
    fp, key = ledger.fingerprint("settle-debt", economy, user_id), keys.tag("api", idempotency_key)

    # Sized inside the ledger's read, under the version it writes against: a clawback or
    # another payment that moved the debt meanwhile is seen, not raced. (A replay is
    # answered before ``size`` runs: the debt it paid is gone by then.)
    def size(wallets: Mapping[str, Balances]) -> Sized:
        wallet = wallets[user_id]
        if not wallet.exists:
            raise errors.UserNotFoundError(user_id=user_id)
        if wallet.debt == 0:
            raise errors.NoDebtError(user_id=user_id)
        pay = min(wallet.debt, wallet.available)
        if pay == 0:
            raise errors.InsufficientFundsError(user_id=user_id, bucket="available", balance=0, required=wallet.debt)
        lift = frozenset({freezes.DEBT} if pay == wallet.debt else ())
        return Sized((Leg(ledger.user(user_id), -pay), Leg(ledger.system("clawback"), pay)),
                     {user_id: WalletChange(debt=-pay, unfreeze=lift)})

    def respond(posted: Posted) -> Dict[str, Any]:
        before, after = posted.user_before(user_id), posted.user(user_id)
        return {"transaction_id": posted.op_id, "user_id": user_id, "paid": before.debt - after.debt,
                "debt": after.debt, "frozen": after.frozen, "freeze_reasons": list(after.freeze_reasons),
                "balance": after.as_dict()}

    def audit(posted: Posted) -> List[SideWrite]:
        before, after = posted.user_before(user_id), posted.user(user_id)
        return [SideWrite(audit_write(economy, actor, "wallet.settle_debt", keys.tag("user", user_id),
                                      before={"debt": before.debt, "available": before.available,
                                              "freeze_reasons": list(before.freeze_reasons)},
                                      after={"debt": after.debt, "available": after.available,
                                             "freeze_reasons": list(after.freeze_reasons)}))]

    return ledger.post(Operation(
        economy=economy, key=key, fingerprint=fp, type="refund", size=size, reads=(user_id,),
        respond=respond, reason="Debt settled", allow_frozen=True, side_writes=audit,
    ))
