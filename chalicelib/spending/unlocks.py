"""Unlocking catalog content: charged once per user and item.

An unlock of a priced item is one ledger operation under the derived key
``unlock:<user_id>/<content_id>`` (built by ``keys.join``, which escapes a
``:`` in either id, so no two pairs share a key) whose fingerprint leaves the
price out: a repeat, a retry, or a racing twin finds that operation and gets
the same entitlement back, even after the price changed. The entitlement is a
side write (``attribute_not_exists``) of the same transaction, so it exists
exactly when the charge does.

Money: the buyer's ``available`` pays ``price``; ``revenue.split`` gives the
creator's ``earnings`` their share (rounded down) and the sharded ``treasury``
the rest. Free items and a creator's own content move no coins: only the
entitlement is written (conditionally). A frozen wallet unlocks nothing new,
free or not (it keeps what it already unlocked).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.ledger import Leg, Operation, Posted, revenue
from chalicelib.ledger.wallets import find_wallet
from chalicelib.spending import store
from chalicelib.spending.content import find_content


class _AlreadyUnlocked(errors.ConflictError):
    """The entitlement exists (written by another path); answered with it, never raised to callers."""

    code = "already_unlocked"


def _owner(economy: str, user_id: str) -> str:
    return f"{economy}#{user_id}"


def entitlement_view(item: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "user_id": item["user_id"],
        "content_id": item["content_id"],
        "basis": item["basis"],
        "price": int(item["price"]),
        "creator_id": item["creator_id"],
        "creator_amount": int(item.get("creator_amount", 0)),
        "platform_amount": int(item.get("platform_amount", 0)),
        "transaction_id": item.get("transaction_id"),
        "unlocked_at": item["unlocked_at"],
    }


def find_entitlement(economy: str, user_id: str, content_id: str) -> Optional[Dict[str, Any]]:
    item = store.find_entitlement(_owner(economy, user_id), content_id)
    return entitlement_view(item) if item else None


def _existing(economy: str, user_id: str, content_id: str) -> Dict[str, Any]:
    found = find_entitlement(economy, user_id, content_id)
    if found is None:  # only a conditional put that failed sends us here: it exists
        raise errors.ConflictError("The entitlement changed while being read; retry.")
    return found


def unlock(economy: str, user_id: str, content_id: str) -> Tuple[Dict[str, Any], bool]:
    """Unlock ``content_id`` for ``user_id``; returns (entitlement, newly_unlocked).

    A repeat returns the existing entitlement and charges nothing. Raises
    ContentNotFoundError, InsufficientFundsError, AccountFrozenError,
    UserNotFoundError (a priced item, a user who never held coins), ContentionError.
    """
    content = find_content(economy, content_id)
    if content is None:
        raise errors.ContentNotFoundError(content_id=content_id)
    price, creator_id = int(content["price"]), content["creator_id"]
    base = {
        "owner": _owner(economy, user_id),
        "economy": economy,
        "user_id": user_id,
        "content_id": content_id,
        "creator_id": creator_id,
    }
    if price == 0 or creator_id == user_id:
        wallet = find_wallet(economy, user_id)
        if wallet is not None and wallet.frozen:
            # A frozen wallet unlocks nothing new, free or not; it keeps what it has.
            found = find_entitlement(economy, user_id, content_id)
            if found is None:
                raise errors.AccountFrozenError(user_id=user_id)
            return found, False
        item = {**base, "price": 0, "creator_amount": 0, "platform_amount": 0,
                "basis": "creator" if creator_id == user_id else "free", "unlocked_at": now_iso()}
        if not store.put_entitlement_if_absent(item):
            return _existing(economy, user_id, content_id), False
        return entitlement_view(item), True

    payment = revenue.split(price, int(content["creator_share_bps"]))
    legs = [Leg(ledger.user(user_id), -price)]
    legs += revenue.legs(payment, ledger.user(creator_id), ledger.system("treasury"))

    def record(posted: Posted) -> Dict[str, Any]:
        return {**base, "price": price, "creator_amount": payment.recipient, "platform_amount": payment.platform,
                "transaction_id": posted.op_id, "basis": "paid", "unlocked_at": posted.created_at}

    try:
        outcome = ledger.post(Operation(
            economy=economy,
            # The pair keeps its "/" so keys written before stay the same.
            key=keys.join("unlock", keys.join(user_id, content_id, sep="/")),
            fingerprint=ledger.fingerprint("unlock", economy, user_id, content_id),
            type="unlock", legs=legs, created=True,
            respond=lambda posted: entitlement_view(record(posted)),
            reason=f"unlock {content_id}", ref=content_id, meta={"content_id": content_id, "creator_id": creator_id},
            side_writes=lambda posted: [store.entitlement_put(record(posted), _AlreadyUnlocked())],
        ))
    except _AlreadyUnlocked:
        return _existing(economy, user_id, content_id), False
    return outcome.result, not outcome.replayed


def unlock_status(economy: str, user_id: str, content_id: str) -> Dict[str, Any]:
    """Whether ``user_id`` has unlocked ``content_id``, with the entitlement when so."""
    found = find_entitlement(economy, user_id, content_id)
    return {"user_id": user_id, "content_id": content_id, "unlocked": found is not None, "entitlement": found}


def list_unlocks(
    economy: str, user_id: str, limit: int = 25, cursor: Optional[str] = None
) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """The user's entitlements by content id; ``cursor`` is bound to this user. Raises InvalidCursorError."""
    owner = _owner(economy, user_id)
    page = store.entitlement_page(owner, keys.join("unlocks", owner), limit, cursor)
    return [entitlement_view(i) for i in page.items], page.next_cursor
