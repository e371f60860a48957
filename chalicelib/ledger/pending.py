"""Pending transfers: two-phase postings (TigerBeetle's pending -> post | void).

A pending transfer reserves coins now and decides later where they go::

    reserve   payer available -A, held +A          (one operation, with an expiry)
    post      payer held -A, available +(A - p),   p = the sum of the payees' parts
              each payee +part                     (a user's earnings, or a system account)
    void      payer held -A, available +A

Every resolution of one pending transfer (post or void, whoever calls) goes
through ``post()`` under the ONE key ``resolve_key(id)``. Whichever commits first
wins; a different resolution racing it finds that operation with another
fingerprint and gets ``PendingResolvedError`` (never a second move), while the
same resolution retried replays its first answer.

The ledger owns the money legs, the resolve-once key and the rules (a payee
part is positive, the parts never exceed what is held, the payer is never a
payee). The feature owns its record (a hold row, an order row): it passes
``SideWrite`` factories that commit with the money, and re-checks the record's
own state with their conditions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.ids import iso
from chalicelib.ledger import revenue
from chalicelib.ledger.accounts import AccountRef, system, user
from chalicelib.ledger.operation import Leg, Operation, Outcome, Posted, SideWrite
from chalicelib.ledger.post import fingerprint, post as post_operation

__all__ = [
    "Payee", "Pending", "PendingResolvedError", "Reserve", "Reserved", "Resolve", "due", "post", "reserve",
    "resolve_key", "split", "void",
]


class PendingResolvedError(errors.ConflictError):
    """Another resolution of this pending transfer committed first; ``details.pending_id`` names it."""

    code, message = "pending_resolved", "This pending transfer is already resolved."


@dataclass(frozen=True)
class Reserve:
    """What to reserve: ``amount`` of ``payer``'s available coins, held for ``expires_in`` seconds.

    ``key`` is the operation's idempotency key (namespaced, e.g. ``api:<k>``);
    ``request`` is what the caller asked for, hashed with ``action`` into the
    fingerprint (so values derived from today's settings never turn a retry
    into a conflict).
    """

    id: str
    payer: str  # user id
    amount: int
    expires_in: int
    key: str
    request: Tuple[Any, ...]
    action: str = "place-hold"
    type: str = "hold"
    reason: Optional[str] = None
    ref: Optional[str] = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reserved:
    """A reservation as it commits: what the feature's record and response are built from."""

    id: str
    payer: str
    amount: int
    created_at: str
    expires_at: str
    posted: Posted

    @property
    def op_id(self) -> str:
        return self.posted.op_id


@dataclass(frozen=True)
class Pending:
    """A pending transfer as its record says: what is held, for whom, until when."""

    id: str
    payer: str
    amount: int
    expires_at: str


@dataclass(frozen=True)
class Payee:
    """One part of a post: ``amount`` coins to ``account`` (a user's ``earnings``, a system account)."""

    account: AccountRef
    amount: int
    bucket: str = "available"


@dataclass(frozen=True)
class Resolve:
    """How a pending transfer resolves: to whom (``payees``; none voids it), and as which request.

    ``action`` names the resolution (``settle``, ``release``, ``expire``...);
    ``request`` tells two requests apart (an Idempotency-Key, a nonce, "due"):
    the same action and request replay, anything else loses to the first.
    ``request_key``: the caller's own Idempotency-Key record (``api:<k>``),
    bound to this resolution too (``post(request_key=...)``).
    """

    action: str
    type: str
    request: Tuple[Any, ...]
    payees: Tuple[Payee, ...] = ()
    request_key: Optional[str] = None
    reason: Optional[str] = None
    ref: Optional[str] = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(p.amount for p in self.payees)


Respond = Callable[[Posted], Dict[str, Any]]
Writes = Callable[[Posted], Sequence[SideWrite]]


def resolve_key(pending_id: str) -> str:
    """The one ledger key every resolution of ``pending_id`` posts under."""
    return keys.join("hold-resolve", pending_id)


def due(pending: Pending, now: str) -> bool:
    """Whether ``pending`` is past its expiry at ``now`` (ISO-8601 UTC strings compare in time order)."""
    return pending.expires_at <= now


def split(amount: int, share_bps: int, recipient: Optional[AccountRef],
          platform: AccountRef = system("treasury")) -> Tuple[Payee, ...]:
    """``amount`` paid by ``revenue.split``: ``share_bps`` to the recipient's earnings, the rest to ``platform``.

    Without a recipient all of it goes to ``platform``. Zero parts are left out
    (the ledger refuses zero legs). Raises ValueError (``revenue.split``).
    """
    payment = revenue.split(amount, share_bps if recipient is not None else 0)
    parts = []
    if recipient is not None and payment.recipient:
        parts.append(Payee(recipient, payment.recipient, "earnings"))
    if payment.platform:
        parts.append(Payee(platform, payment.platform))
    return tuple(parts)


def reserve(economy: str, r: Reserve, *, respond: Callable[[Reserved], Dict[str, Any]],
            record: Callable[[Reserved], Sequence[SideWrite]] = lambda _r: ()) -> Outcome:
    """Move ``r.amount`` from the payer's ``available`` to ``held``, once per ``r.key``.

    ``record(reserved)`` are the feature's side writes (its pending record),
    committed in the same transaction. Raises ValueError (a bad amount or
    expiry), InsufficientFundsError, AccountFrozenError, UserNotFoundError,
    IdempotencyKeyReusedError, the ``on_conflict`` error of a failed side write.
    """
    _check_amount(r.amount)
    if not isinstance(r.expires_in, int) or isinstance(r.expires_in, bool) or r.expires_in < 1:
        raise ValueError(f"expires_in must be a positive number of seconds, got {r.expires_in!r}")
    payer = user(r.payer)

    def reserved(posted: Posted) -> Reserved:
        expires_at = iso(_parse(posted.created_at) + timedelta(seconds=r.expires_in))
        return Reserved(r.id, r.payer, r.amount, posted.created_at, expires_at, posted)

    return post_operation(Operation(
        economy=economy, key=r.key, fingerprint=fingerprint(r.action, economy, *r.request), type=r.type,
        legs=(Leg(payer, -r.amount), Leg(payer, r.amount, "held")), created=True,
        respond=lambda posted: respond(reserved(posted)),
        reason=r.reason, ref=r.ref, meta=dict(r.meta) or None,
        side_writes=lambda posted: list(record(reserved(posted))),
    ))


def post(economy: str, pending: Pending, r: Resolve, *, respond: Respond, record: Writes = lambda _p: ()) -> Outcome:
    """Pay ``r.payees`` out of ``pending``; what they do not take returns to the payer's available.

    Raises ValueError (a payee part not positive, parts above what is held, the
    payer as a payee), PendingResolvedError (another resolution won),
    IdempotencyKeyReusedError (``r.request_key`` belongs to another request),
    the ``on_conflict`` error of a failed side write, ContentionError.
    """
    for payee in r.payees:
        _check_amount(payee.amount)
        if payee.account == user(pending.payer):
            raise ValueError("the payer cannot be a payee of its own pending transfer")
    if r.total > pending.amount:
        raise ValueError(f"the payees take {r.total}, more than the {pending.amount} held")
    return _resolve(economy, pending, r, respond, record)


def void(economy: str, pending: Pending, r: Resolve, *, respond: Respond, record: Writes = lambda _p: ()) -> Outcome:
    """Return all of ``pending`` to the payer's available. Raises as ``post`` (ValueError if ``r`` has payees)."""
    if r.payees:
        raise ValueError("a void pays nobody")
    return _resolve(economy, pending, r, respond, record)


def _resolve(economy: str, pending: Pending, r: Resolve, respond: Respond, record: Writes) -> Outcome:
    payer = user(pending.payer)
    legs: List[Leg] = [Leg(payer, -pending.amount, "held")]
    if pending.amount - r.total:
        legs.append(Leg(payer, pending.amount - r.total))
    legs += [Leg(p.account, p.amount, p.bucket) for p in r.payees]
    try:
        return post_operation(Operation(
            economy=economy, key=resolve_key(pending.id),
            fingerprint=fingerprint(r.action, economy, pending.id, *r.request), type=r.type, legs=legs,
            respond=respond, reason=r.reason, ref=r.ref, meta=dict(r.meta) or None,
            side_writes=lambda posted: list(record(posted)), request_key=r.request_key,
        ))
    except errors.IdempotencyKeyReusedError as exc:
        if r.request_key is not None and exc.ledger_key == r.request_key:
            raise  # the caller's key belongs to another request
        raise PendingResolvedError(pending_id=pending.id) from None


def _check_amount(amount: Any) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        raise ValueError(f"amount must be a positive integer, got {amount!r}")


def _parse(moment: str) -> datetime:
    return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
