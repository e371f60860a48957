"""Giving coins between players: one ledger operation from the sender's available to the recipient's.

The Discord ``/give`` flow (``discord/giving.py``) is the adapter that asks for
a confirmation and calls ``transfer`` on the Confirm click; the money rules
live here: no gifts to yourself, once per key, a frozen sender refused by the
ledger. The response is the same posting view a spend answers with.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from chalicelib import ledger
from chalicelib.core import errors
from chalicelib.ledger import Leg, Operation, Outcome, Posted, SideWrite
from chalicelib.spending.spend import posting_response


def transfer(economy: str, sender: str, recipient: str, amount: int, note: Optional[str], key: str,
             side_writes: Sequence[SideWrite] = (), via: str = "discord") -> Outcome:
    """Move ``amount`` from ``sender`` to ``recipient`` once per ``key`` (with the caller's ``side_writes``).

    ``key`` is the operation's namespaced idempotency key; ``via`` names the
    adapter in the entry's metadata. Raises SelfPaymentError,
    InsufficientFundsError, AccountFrozenError, UserNotFoundError (a sender who
    never held coins), IdempotencyKeyReusedError, the ``on_conflict`` error of a
    failed side write.
    """
    if sender == recipient:
        raise errors.SelfPaymentError(user_id=sender)
    fp = ledger.fingerprint("transfer", economy, sender, recipient, amount, note)

    def respond(posted: Posted) -> Dict[str, Any]:
        return posting_response(posted, sender, to_user_id=recipient, amount=amount, note=note)

    return ledger.post(Operation(
        economy=economy, key=key, fingerprint=fp, type="transfer",
        legs=(Leg(ledger.user(sender), -amount), Leg(ledger.user(recipient), amount)),
        respond=respond, reason=note or "gift", meta={"from": sender, "to": recipient, "via": via},
        side_writes=side_writes,
    ))
