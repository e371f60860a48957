"""An operator reverses an earlier operation (or a part of it): its opposite legs, posted as a new operation.

The reversal is a ``reversal`` ledger operation whose entries name the original
(``meta.reverses``); the original is never edited, except for its counter of
coins reversed (``ledger/reversals.py``), raised by a conditional side write of
the reversal's own transaction. So a reversal is applied at most once per coin:
partial ones never sum past the original, and racing ones cannot overshoot (the
loser re-reads and is answered against what is left).

Scaling a part: the original *moved* ``total`` coins (what its debit side gave,
= what its credit side got). Reversing ``c`` coins of it in all, each account's
share of the reversal is the one rounding rule of ``ledger/revenue.py`` applied
to the cumulative ``c``: a recipient's part is ``floor(c * its_part / total)``
and the platform (the side's largest system account; else its largest account)
takes the remainder. Each call posts the change of those parts from the counter
it read to the counter it writes, so after a full reversal in any number of
steps every account is back exactly where the original took it from.

Coins that are gone (a creator withdrew, a recipient spent): the rule purchases'
clawbacks use. Take what the wallet holds (first the bucket the original
credited, then available, then earnings; never held, which backs open holds),
record the rest as debt and freeze the wallet (reason ``debt``). The side the
coins go back to is still made whole: the ``clawback`` account advances the
debt, and the debtor's later payments (``settle-debt``) return it there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.ledger import Balances, Leg, Operation, Outcome, Posted, SideWrite, Sized, WalletChange, freezes
from chalicelib.ledger.accounts import AccountRef
from chalicelib.ledger.reversals import Recorded, answered, find_operation, mark, valid_op_id
from chalicelib.spending import store as spending_store
from chalicelib.tenancy.audit import audit_write

# What may be reversed. ``settle`` covers settled holds, escrow releases and completed shop orders.
REVERSIBLE = frozenset({"spend", "unlock", "adjust", "reward", "transfer", "settle"})
_RACE_ATTEMPTS = 20


class TransactionNotFoundError(errors.NotFoundError):
    code, message = "transaction_not_found", "No operation with this id in this economy."


class InvalidTransactionIdError(errors.CoinhallError):
    status, code, message = 400, "invalid_transaction_id", "A transaction id looks like op_<26 characters>."


class AlreadyReversedError(errors.ConflictError):
    code, message = "already_reversed", "This operation was reversed in full already."


class ExceedsUnreversedError(errors.ConflictError):
    code, message = "exceeds_unreversed", "The amount is more than what is left of the operation to reverse."


class NotReversibleError(errors.ConflictError):
    code, message = "not_reversible", "This kind of operation is not reversed here."


class PurchaseNotReversibleError(NotReversibleError):
    code = "purchase_not_reversible"
    message = "A purchase is undone by refunding it through Stripe (the clawback follows from the webhook)."


class ReversalNotReversibleError(NotReversibleError):
    code, message = "reversal_not_reversible", "A reversal is not reversed; post a new operation instead."


class NothingToReverseError(errors.ConflictError):
    code, message = "nothing_to_reverse", "This operation moved no coins between accounts."


class _Raced(Exception):
    """Another reversal of the same original committed between our read and our write."""


@dataclass(frozen=True)
class _Share:
    account: str
    net: int  # the original's net change of this account (all buckets)
    credited: Tuple[str, ...]  # the buckets the original credited it, first taken back


def reverse(economy: str, transaction_id: str, reason: str, actor: str, idempotency_key: str,
            amount: Optional[int] = None, keep_entitlement: bool = False,
            authorize: Callable[[int], None] = lambda _coins: None) -> Outcome:
    """Reverse ``amount`` coins (all that is left when None) of operation ``transaction_id``.

    ``authorize(coins)`` is called with the coins this call would take back,
    before anything is written (the edge checks the role limit there). Raises
    InvalidTransactionIdError, TransactionNotFoundError, PurchaseNotReversibleError,
    ReversalNotReversibleError, NotReversibleError, NothingToReverseError,
    AlreadyReversedError, ExceedsUnreversedError, IdempotencyKeyReusedError,
    what ``authorize`` raises, ContentionError.
    """
    if not valid_op_id(transaction_id):
        raise InvalidTransactionIdError(transaction_id=transaction_id[:40] if isinstance(transaction_id, str) else None)
    key = keys.tag("api", idempotency_key)
    fp = ledger.fingerprint("reverse", economy, transaction_id, amount, bool(keep_entitlement), reason)
    earlier = answered(economy, key, fp)
    if earlier is not None:
        return earlier
    for _ in range(_RACE_ATTEMPTS):
        original = find_operation(economy, transaction_id)
        if original is None:
            raise TransactionNotFoundError(transaction_id=transaction_id)
        shares, total = _shares(original)
        rest = total - original.reversed
        if rest <= 0:
            raise AlreadyReversedError(transaction_id=transaction_id, reversed_by=list(original.reversed_by))
        coins = rest if amount is None else amount
        if coins > rest:
            raise ExceedsUnreversedError(transaction_id=transaction_id, amount=coins, unreversed=rest,
                                         reversed=original.reversed, total=total)
        authorize(coins)
        try:
            return ledger.post(_operation(economy, key, fp, original, shares, total, coins, reason, actor,
                                          keep_entitlement))
        except _Raced:
            continue
    raise errors.ContentionError("Other reversals of this operation kept committing first; retry.")


def _shares(original: Recorded) -> Tuple[List[_Share], int]:
    """Refuse what is not reversed here; else each account's net part and the coins the original moved."""
    if original.type == "purchase":
        raise PurchaseNotReversibleError(transaction_id=original.op_id)
    if original.type == "reversal":
        raise ReversalNotReversibleError(transaction_id=original.op_id)
    shares = []
    for account, buckets in sorted(original.legs.items()):
        net = sum(buckets.values())
        if net:
            shares.append(_Share(account, net, tuple(b for b, d in sorted(buckets.items()) if d > 0)))
    total = sum(s.net for s in shares if s.net > 0)
    if total == 0:
        raise NothingToReverseError(transaction_id=original.op_id, type=original.type)
    if original.type not in REVERSIBLE:
        raise NotReversibleError(transaction_id=original.op_id, type=original.type,
                                 reversible=sorted(REVERSIBLE))
    return shares, total


def parts(shares: List[_Share], total: int, coins: int) -> Dict[str, int]:
    """Each account's part of ``coins`` reversed in all (signed as in the original), by the one rounding rule."""
    out: Dict[str, int] = {}
    for side in ([s for s in shares if s.net > 0], [s for s in shares if s.net < 0]):
        if not side:
            continue
        # The platform takes the remainder: the largest system account of the side, else its largest account.
        platform = max(side, key=lambda s: (s.account.startswith("sys:"), abs(s.net), s.account))
        given = 0
        for share in side:
            if share is not platform:
                part = coins * abs(share.net) // total
                out[share.account] = part if share.net > 0 else -part
                given += part
        out[platform.account] = (coins - given) if platform.net > 0 else -(coins - given)
    return out


def _operation(economy: str, key: str, fp: str, original: Recorded, shares: List[_Share], total: int, coins: int,
               reason: str, actor: str, keep_entitlement: bool) -> Operation:
    before, after = parts(shares, total, original.reversed), parts(shares, total, original.reversed + coins)
    # The reversal's change of each account: the opposite of what its part grew by.
    change = {s.account: -(after[s.account] - before[s.account]) for s in shares}
    credited = {s.account: s.credited for s in shares}
    users = tuple(sorted(a[2:] for a in change if a.startswith("u:")))
    full = original.reversed + coins == total
    unlock = _unlock_of(original) if original.type == "unlock" else None
    revoke = unlock is not None and full and not keep_entitlement

    def size(wallets: Mapping[str, Balances]) -> Sized:
        legs: List[Leg] = []
        changes: Dict[str, WalletChange] = {}
        debts: Dict[str, int] = {}
        for account, delta in sorted(change.items()):
            if not delta:
                continue
            ref = _ref(account)
            if delta > 0 or not ref.is_user:
                legs.append(Leg(ref, delta))
                continue
            taken, owed = _take(wallets[account[2:]], -delta, credited[account])
            legs += [Leg(ref, -n, bucket) for bucket, n in taken]
            if owed:
                debts[account[2:]] = owed
                changes[account[2:]] = WalletChange(debt=owed, freeze=frozenset({freezes.DEBT}))
                legs.append(Leg(ledger.system("clawback"), -owed))  # advances what the debtor cannot pay yet
        return Sized(tuple(legs), changes, {"debt_added": sum(debts.values())} if debts else {})

    def respond(posted: Posted) -> Dict[str, Any]:
        debts = {u: c.debt for u, c in posted.sized.wallet_changes.items()} if posted.sized else {}
        return {
            "transaction_id": posted.op_id, "reverses": original.op_id, "type": original.type, "amount": coins,
            "reversed": original.reversed + coins, "original_amount": total,
            "unreversed": total - original.reversed - coins, "fully_reversed": full,
            "changes": {a: d for a, d in sorted(change.items()) if d},
            "debt": debts, "frozen": sorted(debts), "entitlement_revoked": revoke,
            "balances": {u: posted.user(u).as_dict() for u in users},
            "reason": reason, "created_at": posted.created_at,
        }

    def writes(posted: Posted) -> List[SideWrite]:
        out = [mark(original, original.reversed + coins, posted.op_id, _raced)]
        if revoke:
            assert unlock is not None
            out.append(spending_store.entitlement_delete(spending_store.owner(economy, unlock[0]), unlock[1]))
        debts = {u: c.debt for u, c in posted.sized.wallet_changes.items()} if posted.sized else {}
        out.append(SideWrite(audit_write(
            economy, actor, "operations.reverse", original.op_id, reason=reason,
            before={"reversed": original.reversed}, after={"reversed": original.reversed + coins},
            extra={"transaction_id": posted.op_id, "reverses": original.op_id, "type": original.type,
                   "amount": coins, **({"debt": debts} if debts else {}),
                   **({"entitlement_revoked": True} if revoke else {})},
        )))
        return out

    return Operation(
        economy=economy, key=key, fingerprint=fp, type="reversal", size=size, reads=users, respond=respond,
        side_writes=writes, reason=reason, ref=original.op_id, allow_frozen=True,
        meta={"reverses": original.op_id, "reversed_type": original.type, "amount": coins,
              **({"entitlement_revoked": True} if revoke else {})},
    )


def _take(wallet: Balances, coins: int, credited: Tuple[str, ...]) -> Tuple[List[Tuple[str, int]], int]:
    """What to take back from a wallet, bucket by bucket, and what it owes beyond that."""
    order = [b for b in credited if b != "held"] + ["available", "earnings"]
    taken: List[Tuple[str, int]] = []
    left = coins
    for bucket in dict.fromkeys(order):
        n = min(left, getattr(wallet, bucket))
        if n > 0:
            taken.append((bucket, n))
            left -= n
    return taken, left


def _ref(account: str) -> AccountRef:
    name, value = keys.untag(account.split("#", 1)[0])
    return ledger.user(value) if name == "u" else ledger.system(value)


def _unlock_of(original: Recorded) -> Optional[Tuple[str, str]]:
    """(user, content) of an unlock, from its key ``unlock:<user>/<content>`` (unlocks.py spells it so)."""
    try:
        tag, pair = keys.split(original.key)
        user_id, content_id = keys.split(pair, sep="/")
    except ValueError:
        return None
    return (user_id, content_id) if tag == "unlock" else None


def _raced(_now: Optional[Dict[str, Any]]) -> BaseException:
    return _Raced()
