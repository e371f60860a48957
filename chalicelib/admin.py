"""Operator actions on wallets: adjust, freeze, unfreeze. All audited."""
from __future__ import annotations

from typing import Any, Dict

from chalicelib import keys, ledger
from chalicelib.audit import audit_write
from chalicelib.ledger import Leg, Outcome, Posted, SideWrite
from chalicelib.ledger.wallets import set_frozen


def adjust(economy: str, user_id: str, amount: int, reason: str, actor: str, idempotency_key: str) -> Outcome:
    """Credit (+) or debit (-) a wallet from the adjustments account.

    Works on frozen wallets (operators settle debts there). A debit never takes
    the wallet below zero: InsufficientFundsError. Writes the audit row in the
    same transaction.
    """
    fp = ledger.fingerprint("adjust", economy, user_id, amount, reason)

    def respond(posted: Posted) -> Dict[str, Any]:
        after = posted.user(user_id)
        return {
            "transaction_id": posted.op_id,
            "user_id": user_id,
            "amount": amount,
            "reason": reason,
            "balance": after.as_dict(),
            "seq": after.seq,
            "created_at": posted.created_at,
        }

    def audit(posted: Posted) -> list:
        after = posted.user(user_id).as_dict()
        before = {**after, "available": after["available"] - amount}
        row = audit_write(
            economy, actor, "wallet.adjust", keys.tag("user", user_id), reason=reason, before=before, after=after,
            extra={"transaction_id": posted.op_id, "amount": amount},
        )
        return [SideWrite(row)]

    return ledger.post(
        economy,
        keys.tag("api", idempotency_key),
        fp,
        "adjust",
        [Leg(ledger.user(user_id), amount), Leg(ledger.system("adjustments"), -amount)],
        respond=respond,
        reason=reason,
        allow_frozen=True,
        side_writes=audit,
    )


def freeze(economy: str, user_id: str, frozen: bool, reason: str, actor: str) -> Dict[str, Any]:
    """Freeze or unfreeze a wallet; idempotent (freezing a frozen wallet is a no-op).

    Raises UserNotFoundError.
    """
    action = "wallet.freeze" if frozen else "wallet.unfreeze"

    def audit(before: Any, after: Any) -> Dict[str, Any]:
        return audit_write(
            economy, actor, action, keys.tag("user", user_id), reason=reason,
            before={"frozen": before.frozen}, after={"frozen": after.frozen},
        )

    before, after = set_frozen(economy, user_id, frozen, audit=audit)
    return {"user_id": user_id, "frozen": after.frozen, "changed": before.frozen != after.frozen, "reason": reason}
