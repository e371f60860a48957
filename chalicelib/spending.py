"""Spending coins from a wallet (API ``spend``)."""
from __future__ import annotations

from typing import Any, Dict, Optional

from chalicelib import ledger
from chalicelib.ledger import Leg, Outcome, Posted


def spend(
    economy: str, user_id: str, amount: int, reason: str, ref: Optional[str], idempotency_key: str
) -> Outcome:
    """Burn ``amount`` from the user's available coins, once per idempotency key.

    Raises InsufficientFundsError, AccountFrozenError, UserNotFoundError,
    IdempotencyKeyReusedError.
    """
    fp = ledger.fingerprint("spend", economy, user_id, amount, reason, ref)

    def respond(posted: Posted) -> Dict[str, Any]:
        after = posted.user(user_id)
        return {
            "transaction_id": posted.op_id,
            "user_id": user_id,
            "amount": amount,
            "reason": reason,
            "ref": ref,
            "balance": after.as_dict(),
            "seq": after.seq,
            "created_at": posted.created_at,
        }

    return ledger.post(
        economy,
        f"api:{idempotency_key}",
        fp,
        "spend",
        [Leg(ledger.user(user_id), -amount), Leg(ledger.system("burn"), amount)],
        respond=respond,
        reason=reason,
        ref=ref,
    )
