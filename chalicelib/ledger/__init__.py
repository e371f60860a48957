"""The money core. Read this package first.

Design overview
---------------
Coins are integers. Every balance change is an *operation* (one frozen
``Operation`` value, ``ledger/operation.py``) posted through ``post()``
(``ledger/post.py``): a list of legs, each a signed change to one
bucket of one account, that sum to zero (double entry). An operation writes, in
one DynamoDB transaction, the conditional updates of every account it touches,
one immutable entry per account, and an operation record keyed by its
idempotency key that stores the request fingerprint and the response to replay.

User wallets (``u:<id>``) have ``available``, ``held`` and ``earnings`` buckets
that never go negative; they use optimistic concurrency (``version``), so each
of their entries carries a gap-free ``seq`` and the balances after it. System
accounts (``sys:<name>``) may go negative and are split into shards updated
with ``ADD``, so no single item caps the economy's write rate.

Pending transfers (holds, escrow) are ``available -> held`` postings settled or
released by later postings. ``invariants.check_economy`` proves the books.
Nothing outside this package writes the accounts table.

A wallet's freeze is a set of reasons (``freezes.py``), changed only by
``post()`` (``WalletChange.freeze`` / ``.unfreeze``), so each actor lifts only
its own. An API caller's ``Idempotency-Key`` is one request of the economy on
every route: its record ``api:<key>`` is the operation record, or a second
record next to it (``post(request_key=...)``), or a claim written with a
non-ledger first write (``claims.py``).
"""
from chalicelib.ledger.accounts import MAX_AMOUNT, MAX_BALANCE, AccountRef, system, user
from chalicelib.ledger.operation import Balances, Leg, Operation, Outcome, Posted, SideWrite, Sized, WalletChange
from chalicelib.ledger.post import fingerprint, post
from chalicelib.ledger import pending  # noqa: E402  two-phase transfers: reserve, post, void

__all__ = [
    "MAX_AMOUNT",
    "MAX_BALANCE",
    "AccountRef",
    "Balances",
    "Leg",
    "Operation",
    "Outcome",
    "Posted",
    "SideWrite",
    "Sized",
    "WalletChange",
    "fingerprint",
    "post",
    "system",
    "user",
]
