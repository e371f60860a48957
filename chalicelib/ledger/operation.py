"""The values ``post()`` takes and gives: one ``Operation`` in, one ``Outcome`` out.

An ``Operation`` is everything one balance change means, made once by the
caller and passed whole: its idempotency key, the fingerprint of the request it
answers, why the money moves (``type``), the legs (or, when the amounts depend
on the wallet, a ``size`` rule the ledger applies to the wallets it read), and
the writes that must commit with the money. It is frozen so a retry inside the
ledger cannot change what the caller asked for.

The ledger knows nothing of HTTP: an operation that makes something says so
with ``created`` and the edge answers 201 for it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Sequence, Tuple, Union

from chalicelib.ledger.accounts import AccountRef


@dataclass(frozen=True)
class Leg:
    """One side of a posting: a signed change to one bucket of one account."""

    account: AccountRef
    amount: int
    bucket: str = "available"


@dataclass(frozen=True)
class SideWrite:
    """A write to a non-account table that must commit with the money.

    ``item`` is one TransactWriteItems element (Put/Update/Delete/ConditionCheck).
    When its condition fails the whole operation is refused with ``on_conflict``
    (an error instance, or a callable given the item DynamoDB returned).
    """

    item: Dict[str, Any]
    on_conflict: Any = None


@dataclass(frozen=True)
class WalletChange:
    """Changes to a wallet that are not coins: debt owed, and freeze reasons.

    ``debt`` counts coins a user owes after a refund or lost dispute took back
    more than the wallet held; it sits outside the zero-sum buckets (nothing
    stands behind it) but is journalled like them (``d_debt`` on entries).
    ``freeze`` adds reasons and ``unfreeze`` lifts them (``ledger/freezes.py``):
    a caller lifts only what it names, so no actor lifts another's freeze. A
    change that pays debt (``debt < 0``) lifts ``debt`` only if none is left.
    """

    debt: int = 0
    freeze: FrozenSet[str] = frozenset()
    unfreeze: FrozenSet[str] = frozenset()

    @property
    def touches_freeze(self) -> bool:
        return bool(self.freeze or self.unfreeze)


@dataclass(frozen=True)
class Balances:
    available: int
    held: int
    earnings: int
    seq: int
    frozen: bool
    debt: int = 0
    freeze_reasons: Tuple[str, ...] = ()  # sorted; frozen iff non-empty
    exists: bool = True  # False: the wallet was never written (all zero)

    def as_dict(self) -> Dict[str, int]:
        return {"available": self.available, "held": self.held, "earnings": self.earnings}


@dataclass(frozen=True)
class Sized:
    """What a ``size`` rule decided from the wallets it was shown: the legs, the non-coin changes, and
    what the entries' ``meta`` should say of it (merged over the operation's own)."""

    legs: Sequence[Leg] = ()
    wallet_changes: Mapping[str, WalletChange] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Posted:
    """What an operation did, for the feature to describe in its response."""

    op_id: str
    created_at: str
    balances: Dict[str, Balances]  # user account key -> state after
    before: Dict[str, Balances] = field(default_factory=dict)  # user account key -> state read
    sized: Optional[Sized] = None  # the legs and changes a ``size`` rule chose, when the operation had one

    def user_before(self, user_id: str) -> Balances:
        return self.before[f"u:{user_id}"]

    def user(self, user_id: str) -> Balances:
        return self.balances[f"u:{user_id}"]


SideWrites = Union[Sequence[SideWrite], Callable[[Posted], Sequence[SideWrite]]]


@dataclass(frozen=True)
class Operation:
    """One balance change, as the caller means it; ``post()`` applies it at most once under ``key``.

    ``key``: the idempotency key, namespaced (``api:<k>``, ``hold-resolve:<id>``).
    ``fingerprint``: ``fingerprint(...)`` of the request's meaning; the same key
    with another fingerprint is refused. ``legs`` sum to zero. ``size``, when
    given, replaces ``legs`` and ``wallet_changes``: it is called with the
    wallets ``post()`` read (user id -> ``Balances``, for every id in ``reads``)
    on each attempt, so an amount "up to what the wallet holds" is sized under
    the very version the write is conditioned on. ``respond`` builds the stored
    response from the ``Posted`` facts. ``request_key``: the caller's own
    Idempotency-Key when ``key`` is the operation's (bound to it too).
    ``created``: the operation makes something (the edge answers 201).
    """

    economy: str
    key: str
    fingerprint: str
    type: str
    respond: Callable[[Posted], Dict[str, Any]]
    legs: Sequence[Leg] = ()
    wallet_changes: Mapping[str, WalletChange] = field(default_factory=dict)
    size: Optional[Callable[[Mapping[str, Balances]], Sized]] = None
    reads: Tuple[str, ...] = ()
    side_writes: SideWrites = ()
    reason: Optional[str] = None
    ref: Optional[str] = None
    meta: Optional[Mapping[str, Any]] = None
    allow_frozen: bool = False
    request_key: Optional[str] = None
    created: bool = False


@dataclass(frozen=True)
class Outcome:
    """The answer to an operation: the stored response, and whether this call made it or replayed it."""

    result: Dict[str, Any]
    created: bool
    replayed: bool
    op_id: str

    @classmethod
    def replay(cls, record: Mapping[str, Any]) -> "Outcome":
        """The answer stored in an operations record (records from before ``created`` kept a status code)."""
        if "created" in record:
            created = bool(record["created"])
        else:
            created = int(record.get("status_code", 200)) == 201
        return cls(json.loads(record["result"]), created, True, record["op_id"])
