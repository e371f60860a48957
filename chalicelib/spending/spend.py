"""Spending coins from a wallet (API ``spend``).

Without a recipient the coins are burned. With ``creator_id`` (a tip, a gift)
they are split by ``revenue.split`` at the economy's default creator share:
the creator's ``earnings`` get their share, the treasury the rest.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.ledger import Leg, Operation, Outcome, Posted, revenue
from chalicelib.ledger.wallets import find_wallet
from chalicelib.spending.rates import get_rates


def posting_response(posted: Posted, user_id: str, **fields: Any) -> Dict[str, Any]:
    """The response of a posting paid by ``user_id``: its id, ``fields`` (what moved), the payer's balances after."""
    after = posted.user(user_id)
    return {"transaction_id": posted.op_id, "user_id": user_id, **fields,
            "balance": after.as_dict(), "seq": after.seq, "created_at": posted.created_at}


def posting_view(posted: Posted, user_id: str, amount: int, reason: str, **extra: Any) -> Dict[str, Any]:
    """The response of a spend: what moved and the payer's balances after it."""
    return posting_response(posted, user_id, amount=amount, reason=reason, **extra)


def spend(
    economy: str, user_id: str, amount: int, reason: str, ref: Optional[str], idempotency_key: str,
    creator_id: Optional[str] = None,
) -> Outcome:
    """Spend ``amount`` of the user's available coins, once per idempotency key.

    Burned, or split with ``creator_id``. Raises InsufficientFundsError,
    AccountFrozenError, UserNotFoundError, IdempotencyKeyReusedError,
    SelfPaymentError (``creator_id`` is the spender).
    """
    if creator_id is not None:
        return _spend_to_creator(economy, user_id, amount, reason, ref, idempotency_key, creator_id)
    fp = ledger.fingerprint("spend", economy, user_id, amount, reason, ref)

    def respond(posted: Posted) -> Dict[str, Any]:
        return posting_view(posted, user_id, amount, reason, ref=ref)

    return ledger.post(Operation(
        economy=economy, key=keys.tag("api", idempotency_key), fingerprint=fp, type="spend",
        legs=(Leg(ledger.user(user_id), -amount), Leg(ledger.system("burn"), amount)),
        respond=respond, reason=reason, ref=ref,
    ))


def _spend_to_creator(
    economy: str, user_id: str, amount: int, reason: str, ref: Optional[str], idempotency_key: str, creator_id: str
) -> Outcome:
    if creator_id == user_id:
        raise errors.SelfPaymentError(user_id=user_id, field="creator_id")
    fp = ledger.fingerprint("spend", economy, user_id, amount, reason, ref, creator_id)
    # A replay answers with the stored split, whatever the rate is by then.
    payment = revenue.split(amount, get_rates(economy).creator_share_bps)

    def respond(posted: Posted) -> Dict[str, Any]:
        return posting_view(posted, user_id, amount, reason, ref=ref, creator_id=creator_id, **payment.as_dict())

    legs = [Leg(ledger.user(user_id), -amount)]
    legs += revenue.legs(payment, ledger.user(creator_id), ledger.system("treasury"))
    return ledger.post(Operation(
        economy=economy, key=keys.tag("api", idempotency_key), fingerprint=fp, type="spend", legs=legs,
        respond=respond, reason=reason, ref=ref, meta={"creator_id": creator_id},
    ))


def check_balance(economy: str, user_id: str, amount: int) -> Dict[str, Any]:
    """Whether a spend of ``amount`` would pass the balance and freeze checks now; changes nothing.

    A user who never held coins has nothing: ``sufficient`` is false. It is a
    snapshot, not a reservation (place a hold to reserve).
    """
    wallet = find_wallet(economy, user_id)
    available = wallet.available if wallet else 0
    held = wallet.held if wallet else 0
    frozen = bool(wallet and wallet.frozen)
    return {
        "user_id": user_id,
        "amount": amount,
        "sufficient": available >= amount and not frozen,
        "available": available,
        "held": held,
        "frozen": frozen,
    }
