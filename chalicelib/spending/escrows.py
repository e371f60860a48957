"""Job escrow: a client pays a freelancer through a hold.

An escrow IS a hold (``holds.py``, so a ``ledger.pending`` transfer) with ``kind = "escrow"``, the freelancer as
payee and the platform fee fixed when it opens (the economy's
``escrow_fee_bps``, 1,000 = 10% by default). Its states::

    active --release (client approves)-------> released  (freelancer paid, minus the fee)
    active --auto_release_at passed (job)----> released  (the same payment, resolution "escrow-auto")
    active --refund--------------------------> refunded  (everything back to the client)

Money, for ``amount`` A and fee ``f`` bps:
* open: client ``available -> held`` (A);
* release: client ``held -A``; freelancer ``earnings +floor(A * (10,000 - f) / 10,000)``;
  treasury the rest (the fee, so it rounds up by at most a coin);
* refund: client ``held -A``, ``available +A``.

Resolutions share the hold's one resolve key, so an escrow is released,
auto-released or refunded exactly once; a late release or refund after the
deadline first performs the auto-release, then answers 409 with the state.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from chalicelib.core import errors
from chalicelib.core.config import get_settings
from chalicelib.ledger import Outcome, revenue
from chalicelib.spending.names import MAX_ESCROW_SECONDS  # noqa: F401 (this module's name)
from chalicelib.spending.holds import Resolution, ensure_active, load, place, request_key, request_token, resolve, run_due
from chalicelib.spending.rates import get_rates



def escrow_view(item: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "escrow_id": item["hold_id"],
        "client_id": item["user_id"],
        "freelancer_id": item["payee_id"],
        "amount": int(item["amount"]),
        "job_ref": item.get("ref"),
        "fee_bps": int(item["fee_bps"]),
        "status": item["status"],
        "created_at": item["created_at"],
        "auto_release_at": item["expires_at"],
        "resolved_at": item.get("resolved_at"),
        "resolution": item.get("resolution"),
        "freelancer_amount": item.get("creator_amount"),
        "fee_amount": item.get("platform_amount"),
        "refunded_amount": item.get("returned_amount"),
    }


def _conflict(item: Dict[str, Any]) -> errors.CoinhallError:
    return errors.EscrowNotActiveError(f"This escrow is already {item['status']}.", escrow=escrow_view(item))


def _pay_freelancer(hold: Dict[str, Any], action: str, token: str, key: Optional[str] = None) -> Resolution:
    share = revenue.payee_share_bps(int(hold["fee_bps"]))
    return Resolution(action, "released", int(hold["amount"]), hold["payee_id"], share, "settle", token, key)


def open_escrow(
    economy: str,
    client_id: str,
    freelancer_id: str,
    amount: int,
    job_ref: str,
    auto_release_after: Optional[int],
    idempotency_key: str,
) -> Outcome:
    """Hold ``amount`` of the client's coins for the job, once per key.

    ``auto_release_after`` seconds (default ``ESCROW_TIMEOUT_MIN``) until it pays
    the freelancer by itself. Raises SelfPaymentError, InsufficientFundsError,
    AccountFrozenError, UserNotFoundError, IdempotencyKeyReusedError.
    """
    if client_id == freelancer_id:
        raise errors.SelfPaymentError(user_id=client_id, field="freelancer_id")
    seconds = auto_release_after if auto_release_after is not None else get_settings().escrow_timeout_min * 60
    return place(
        economy, client_id, amount, "escrow", job_ref, seconds, idempotency_key,
        request=("escrow", client_id, freelancer_id, amount, job_ref, auto_release_after),
        kind="escrow", payee_id=freelancer_id, fee_bps=get_rates(economy).escrow_fee_bps, view=escrow_view,
    )


def get_escrow(economy: str, escrow_id: str) -> Dict[str, Any]:
    """Raises EscrowNotFoundError."""
    return escrow_view(load(economy, escrow_id, "escrow"))


def release(economy: str, escrow_id: str, idempotency_key: Optional[str]) -> Outcome:
    """Pay the freelancer (minus the fee). Raises EscrowNotFoundError, EscrowNotActiveError, ContentionError."""
    hold = load(economy, escrow_id, "escrow")
    ensure_active(economy, hold, _conflict, lambda h, now: auto_release(economy, h, now), idempotency_key)
    res = _pay_freelancer(hold, "escrow-release", request_token(idempotency_key), request_key(idempotency_key))
    return resolve(economy, hold, res, escrow_view, _conflict)


def refund(economy: str, escrow_id: str, idempotency_key: Optional[str]) -> Outcome:
    """Return everything to the client. Raises EscrowNotFoundError, EscrowNotActiveError, ContentionError."""
    hold = load(economy, escrow_id, "escrow")
    ensure_active(economy, hold, _conflict, lambda h, now: auto_release(economy, h, now), idempotency_key)
    res = Resolution("escrow-refund", "refunded", 0, None, 0, "release", request_token(idempotency_key),
                     request_key(idempotency_key))
    return resolve(economy, hold, res, escrow_view, _conflict)


def auto_release(economy: str, hold: Dict[str, Any], now: str) -> Optional[Outcome]:
    """Pay the freelancer of an escrow past its deadline; None when not due or resolved otherwise."""
    if hold["kind"] != "escrow" or hold["expires_at"] > now:
        return None
    try:
        return resolve(economy, hold, _pay_freelancer(hold, "escrow-auto", "due"), escrow_view, _conflict)
    except errors.EscrowNotActiveError:
        return None


def release_due_escrows(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``release-escrows``: pay the freelancer of every escrow past its deadline."""
    return run_due(ctx, "escrow", lambda item, at: auto_release(item["economy"], item, at), economy, now)
