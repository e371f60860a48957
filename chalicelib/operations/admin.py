"""Operator actions on wallets: adjust, freeze, unfreeze. All audited, all through the ledger's one door."""
from __future__ import annotations

from typing import Any, Dict, FrozenSet, Sequence, Tuple

from chalicelib.core import errors, keys
from chalicelib import ledger
from chalicelib.tenancy.audit import audit_write
from chalicelib.core.ids import new_id
from chalicelib.ledger import Leg, Operation, Outcome, Posted, SideWrite, WalletChange, freezes
from chalicelib.ledger.wallets import Wallet, get_wallet
from chalicelib.spending.spend import posting_view


def adjust(economy: str, user_id: str, amount: int, reason: str, actor: str, idempotency_key: str) -> Outcome:
    """Credit (+) or debit (-) a wallet from the adjustments account.

    Works on frozen wallets (operators settle debts there). A debit never takes
    the wallet below zero: InsufficientFundsError. Writes the audit row in the
    same transaction.
    """
    fp = ledger.fingerprint("adjust", economy, user_id, amount, reason)

    def respond(posted: Posted) -> Dict[str, Any]:
        return posting_view(posted, user_id, amount, reason)  # the same shape as a spend's answer

    def audit(posted: Posted) -> list:
        after = posted.user(user_id).as_dict()
        before = {**after, "available": after["available"] - amount}
        row = audit_write(
            economy, actor, "wallet.adjust", keys.tag("user", user_id), reason=reason, before=before, after=after,
            extra={"transaction_id": posted.op_id, "amount": amount},
        )
        return [SideWrite(row)]

    return ledger.post(Operation(
        economy=economy, key=keys.tag("api", idempotency_key), fingerprint=fp, type="adjust",
        legs=(Leg(ledger.user(user_id), amount), Leg(ledger.system("adjustments"), -amount)),
        respond=respond, reason=reason, allow_frozen=True, side_writes=audit,
    ))


def freeze(economy: str, user_id: str, reason: str, actor: str) -> Dict[str, Any]:
    """An operator freezes a wallet: adds the ``operator`` reason (its others stay as they are).

    Idempotent: a wallet the operators already froze is left as it is. Raises UserNotFoundError.
    """
    wallet = get_wallet(economy, user_id)
    return _change_freeze(wallet, economy, "wallet.freeze", reason, actor, add=frozenset({freezes.OPERATOR}))


def unfreeze(economy: str, user_id: str, reason: str, actor: str, lift: Sequence[str] = ()) -> Dict[str, Any]:
    """An operator lifts the ``operator`` freeze, and the other reasons ``lift`` names, nothing else.

    A name is a kind (``dispute_lost``: every lost-dispute review) or one reason
    (``dispute_lost:<purchase_id>``); a debt or an open dispute keeps its freeze
    unless named. The wallet stays frozen while any reason is left. Raises
    UserNotFoundError, ValidationFailedError (a name that is no reason).
    """
    bad = [name for name in lift if not freezes.valid(name)]
    if bad:
        raise errors.ValidationFailedError(
            f"Not a freeze reason: {bad[0]!r} (one of {', '.join(freezes.KINDS)}, or <kind>:<purchase_id>).",
            field="lift")
    wallet = get_wallet(economy, user_id)
    remove = freezes.selected(wallet.freeze_reasons, {freezes.OPERATOR, *lift})
    return _change_freeze(wallet, economy, "wallet.unfreeze", reason, actor, remove=remove, lift=tuple(lift))


def _change_freeze(
    wallet: Wallet,
    economy: str,
    action: str,
    reason: str,
    actor: str,
    *,
    add: FrozenSet[str] = frozenset(),
    remove: FrozenSet[str] = frozenset(),
    lift: Tuple[str, ...] = (),
) -> Dict[str, Any]:
    """One ``freeze`` ledger operation (no coins move) with its audit row; nothing when it changes nothing.

    ``remove`` holds exact reasons read from ``wallet``: a reason added meanwhile is not lifted.
    """
    user_id, reasons = wallet.user_id, set(wallet.freeze_reasons)
    if not (add - reasons) and not (remove & reasons):
        return _freeze_view(user_id, wallet.frozen, wallet.freeze_reasons, False, reason)

    def respond(posted: Posted) -> Dict[str, Any]:
        before, after = posted.user_before(user_id), posted.user(user_id)
        return _freeze_view(user_id, after.frozen, after.freeze_reasons, before.freeze_reasons != after.freeze_reasons,
                            reason)

    def audit(posted: Posted) -> list:
        before, after = posted.user_before(user_id), posted.user(user_id)
        row = audit_write(
            economy, actor, action, keys.tag("user", user_id), reason=reason,
            before={"frozen": before.frozen, "freeze_reasons": list(before.freeze_reasons)},
            after={"frozen": after.frozen, "freeze_reasons": list(after.freeze_reasons)},
            extra={"transaction_id": posted.op_id, **({"lift": list(lift)} if lift else {})},
        )
        return [SideWrite(row)]

    # These routes take no Idempotency-Key: each call is its own operation, and a repeat changes nothing.
    outcome = ledger.post(Operation(
        economy=economy, key=keys.join("freeze", new_id("req_")),
        fingerprint=ledger.fingerprint(action, economy, user_id, sorted(add), sorted(remove)), type="freeze",
        respond=respond, reason=reason, allow_frozen=True,
        wallet_changes={user_id: WalletChange(freeze=add, unfreeze=remove)}, side_writes=audit,
    ))
    return outcome.result


def _freeze_view(user_id: str, frozen: bool, reasons: Sequence[str], changed: bool, reason: str) -> Dict[str, Any]:
    return {"user_id": user_id, "frozen": frozen, "freeze_reasons": list(reasons), "changed": changed,
            "reason": reason}
