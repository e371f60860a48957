"""``post()``: the one door every balance change goes through.

One call is one operation. It reads the user wallets it touches and the
operation record in one consistent ``BatchGetItem``, checks the rules against
what it read, and writes in one ``TransactWriteItems``:

* each user wallet, conditioned on the ``version`` it read (optimistic
  concurrency: a lost race is retried, never answered);
* one system shard per system account, by ``ADD`` (no condition: shards may go
  negative and must not serialise the economy);
* one immutable entry per account touched (``seq`` and ``*_after`` for users);
* the operation record, ``attribute_not_exists``, with the request fingerprint
  and the response to replay;
* any side writes the feature needs to commit atomically with the money (a
  purchase's status, a hold's state, an audit row), each with its own condition.

Either all of it happens or none. A replay of the same key and fingerprint
returns the stored response; another fingerprint is ``IdempotencyKeyReusedError``.
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from chalicelib import errors
from chalicelib.config import get_settings
from chalicelib.db.engine import get_client, table_name
from chalicelib.ids import new_id, now_iso
from chalicelib.ledger import codec
from chalicelib.ledger.accounts import (
    MAX_AMOUNT,
    MAX_BALANCE,
    USER_BUCKETS,
    AccountRef,
    entry_partition,
    pick_shard,
    shard_key,
)

log = logging.getLogger(__name__)

# Why money moved: a closed list, stored on every entry.
ENTRY_TYPES = frozenset(
    {
        "adjust",
        "spend",
        "purchase",
        "refund",
        "dispute",
        "reward",
        "unlock",
        "hold",
        "settle",
        "release",
        "escrow",
        "transfer",
        "order",
        "payout",
    }
)

_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "None"}
_RETRYABLE_ERRORS = {
    "TransactionConflictException",
    "TransactionInProgressException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


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
    """Changes to a wallet that are not coins: debt owed, and the freeze flag.

    ``debt`` counts coins a user owes after a refund or lost dispute took back
    more than the wallet held; it sits outside the zero-sum buckets (nothing
    stands behind it) but is journalled like them (``d_debt`` on entries).
    """

    debt: int = 0
    frozen: Optional[bool] = None


@dataclass(frozen=True)
class Balances:
    available: int
    held: int
    earnings: int
    seq: int
    frozen: bool
    debt: int = 0

    def as_dict(self) -> Dict[str, int]:
        return {"available": self.available, "held": self.held, "earnings": self.earnings}


@dataclass(frozen=True)
class Posted:
    """What an operation did, for the feature to describe in its response."""

    op_id: str
    created_at: str
    balances: Dict[str, Balances]  # user account key -> state after

    def user(self, user_id: str) -> Balances:
        return self.balances[f"u:{user_id}"]


@dataclass(frozen=True)
class Outcome:
    result: Dict[str, Any]
    status_code: int
    replayed: bool
    op_id: str


@dataclass
class _Wallet:
    exists: bool
    available: int = 0
    held: int = 0
    earnings: int = 0
    version: int = 0
    seq: int = 0
    frozen: bool = False
    debt: int = 0


@dataclass
class _Plan:
    users: Dict[str, Dict[str, int]] = field(default_factory=dict)  # key -> bucket deltas
    changes: Dict[str, WalletChange] = field(default_factory=dict)  # key -> non-coin changes
    systems: Dict[str, int] = field(default_factory=dict)  # key -> delta
    refs: Dict[str, AccountRef] = field(default_factory=dict)


def fingerprint(*parts: Any) -> str:
    """A stable digest of a request's meaning (canonical JSON, SHA-256)."""
    import hashlib

    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def post(
    economy: str,
    key: str,
    request_fingerprint: str,
    type: str,
    legs: Sequence[Leg],
    *,
    respond: Callable[[Posted], Dict[str, Any]],
    status_code: int = 200,
    reason: Optional[str] = None,
    ref: Optional[str] = None,
    meta: Optional[Mapping[str, Any]] = None,
    allow_frozen: bool = False,
    wallet_changes: Optional[Mapping[str, WalletChange]] = None,
    side_writes: Union[Sequence[SideWrite], Callable[[Posted], Sequence[SideWrite]]] = (),
) -> Outcome:
    """Apply ``legs`` once under idempotency ``key`` (namespaced, e.g. ``api:<k>``).

    Raises InsufficientFundsError, AccountFrozenError, UserNotFoundError (a debit
    from a wallet that never existed), BalanceLimitError, IdempotencyKeyReusedError,
    the ``on_conflict`` error of a failed side write, or ContentionError when the
    retry budget (``COINS_LEDGER_RETRY_SECONDS``) runs out.
    """
    if type not in ENTRY_TYPES:
        raise ValueError(f"unknown entry type {type!r}")
    plan = _plan(legs, wallet_changes or {})
    op_key = f"{economy}#{key}"
    settings = get_settings()
    deadline = time.monotonic() + settings.ledger_retry_seconds
    attempt = 0
    while True:
        attempt += 1
        wallets, existing = _read(economy, list(plan.users), op_key)
        if existing is not None:
            return _replay(existing, request_fingerprint)
        op_id = new_id("op_")
        created_at = now_iso()
        after = _check(plan, wallets, allow_frozen)
        posted = Posted(op_id, created_at, after)
        result = respond(posted)
        sides = list(side_writes(posted) if callable(side_writes) else side_writes)
        items, op_index, side_start = _items(
            economy, op_key, op_id, created_at, request_fingerprint, type, plan, wallets, after,
            reason, ref, meta, result, status_code, sides, settings.system_shards,
        )
        try:
            get_client().transact_write_items(
                TransactItems=items, ClientRequestToken=f"{op_id[3:]}{attempt:02d}"[:36]
            )
            return Outcome(result, status_code, False, op_id)
        except Exception as exc:  # botocore raises dynamically built classes
            code = _error_code(exc)
            if code == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])  # type: ignore[attr-defined]
                outcome = _resolve_cancel(reasons, op_index, side_start, sides, request_fingerprint)
                if outcome is not None:
                    return outcome
            elif code not in _RETRYABLE_ERRORS:
                raise
        if time.monotonic() >= deadline:
            log.warning("ledger gave up after %d attempts on %s", attempt, op_key)
            raise errors.ContentionError(attempts=attempt)
        # Full jitter keeps a crowd of losers from re-colliding in lockstep.
        time.sleep(random.uniform(0, min(0.25, 0.005 * (2 ** min(attempt, 8)))))


def _plan(legs: Sequence[Leg], wallet_changes: Mapping[str, WalletChange]) -> _Plan:
    if not legs and not wallet_changes:
        raise ValueError("a posting needs legs")
    total = 0
    plan = _Plan()
    for leg in legs:
        amount = leg.amount
        if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0 or abs(amount) > MAX_AMOUNT:
            raise ValueError(f"bad leg amount {amount!r}")
        total += amount
        key = leg.account.key
        plan.refs[key] = leg.account
        if leg.account.is_user:
            if leg.bucket not in USER_BUCKETS:
                raise ValueError(f"unknown bucket {leg.bucket!r}")
            deltas = plan.users.setdefault(key, {b: 0 for b in USER_BUCKETS})
            deltas[leg.bucket] += amount
        else:
            if leg.bucket != "available":
                raise ValueError("system accounts have one bucket")
            plan.systems[key] = plan.systems.get(key, 0) + amount
    if total != 0:
        raise ValueError(f"legs must sum to zero, got {total}")
    for user_id, change in wallet_changes.items():
        key = f"u:{user_id}"
        if not isinstance(change.debt, int) or isinstance(change.debt, bool) or abs(change.debt) > MAX_AMOUNT:
            raise ValueError(f"bad debt change {change.debt!r}")
        plan.users.setdefault(key, {b: 0 for b in USER_BUCKETS})
        plan.changes[key] = change
    return plan


def _read(economy: str, user_keys: List[str], op_key: str) -> Tuple[Dict[str, _Wallet], Optional[dict]]:
    """One consistent BatchGetItem for the wallets and the operation record."""
    accounts, operations = table_name("accounts"), table_name("operations")
    request: Dict[str, Any] = {
        operations: {"Keys": [{"op_key": {"S": op_key}}], "ConsistentRead": True},
    }
    if user_keys:
        request[accounts] = {
            "Keys": [{"economy": {"S": economy}, "account": {"S": k}} for k in user_keys],
            "ConsistentRead": True,
        }
    found: Dict[str, List[dict]] = {accounts: [], operations: []}
    client = get_client()
    for attempt in range(10):
        try:
            response = client.batch_get_item(RequestItems=request)
        except Exception as exc:
            if _error_code(exc) in _RETRYABLE_ERRORS and attempt < 9:
                time.sleep(random.uniform(0, 0.05 * (attempt + 1)))
                continue
            raise
        for table, items in response.get("Responses", {}).items():
            found[table].extend(items)
        request = response.get("UnprocessedKeys") or {}
        if not request:
            break
        time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    else:
        raise errors.UnavailableError("DynamoDB kept leaving keys unprocessed")
    wallets = {k: _Wallet(exists=False) for k in user_keys}
    for raw in found[accounts]:
        item = codec.decode_item(raw)
        wallets[item["account"]] = _Wallet(
            exists=True,
            available=item.get("available", 0),
            held=item.get("held", 0),
            earnings=item.get("earnings", 0),
            version=item.get("version", 0),
            seq=item.get("seq", 0),
            frozen=bool(item.get("frozen", False)),
            debt=item.get("debt", 0),
        )
    existing = codec.decode_item(found[operations][0]) if found[operations] else None
    return wallets, existing


def _check(plan: _Plan, wallets: Dict[str, _Wallet], allow_frozen: bool) -> Dict[str, Balances]:
    after: Dict[str, Balances] = {}
    for key, deltas in plan.users.items():
        wallet = wallets[key]
        user_id = key[2:]
        if not wallet.exists and any(d < 0 for d in deltas.values()):
            raise errors.UserNotFoundError(user_id=user_id)
        if wallet.frozen and not allow_frozen and deltas["available"] < 0:
            raise errors.AccountFrozenError(user_id=user_id)
        change = plan.changes.get(key, WalletChange())
        debt = wallet.debt + change.debt
        if debt < 0:
            raise ValueError(f"debt of {user_id} would go negative")
        frozen = wallet.frozen if change.frozen is None else change.frozen
        values = {b: getattr(wallet, b) + deltas[b] for b in USER_BUCKETS}
        for bucket, value in values.items():
            if value < 0:
                raise errors.InsufficientFundsError(
                    user_id=user_id, bucket=bucket, balance=getattr(wallet, bucket), required=-deltas[bucket]
                )
            if value > MAX_BALANCE:
                raise errors.BalanceLimitError(user_id=user_id, bucket=bucket, max_balance=MAX_BALANCE)
        after[key] = Balances(values["available"], values["held"], values["earnings"], wallet.seq + 1, frozen, debt)
    return after


def _items(
    economy: str,
    op_key: str,
    op_id: str,
    created_at: str,
    request_fingerprint: str,
    type: str,
    plan: _Plan,
    wallets: Dict[str, _Wallet],
    after: Dict[str, Balances],
    reason: Optional[str],
    ref: Optional[str],
    meta: Optional[Mapping[str, Any]],
    result: Dict[str, Any],
    status_code: int,
    side_writes: Sequence[SideWrite],
    shards: int,
) -> Tuple[List[dict], int, int]:
    accounts, entries = table_name("accounts"), table_name("entries")
    items: List[dict] = []
    common = {"economy": economy, "op_id": op_id, "type": type, "reason": reason, "ref": ref, "created_at": created_at}
    if meta:
        common["meta"] = dict(meta)
    for key, deltas in plan.users.items():
        wallet, state = wallets[key], after[key]
        if wallet.exists:
            condition, cond_values = "#v = :seen", {":seen": {"N": str(wallet.version)}}
        else:
            condition, cond_values = "attribute_not_exists(#v)", {}
        items.append(
            {
                "Update": {
                    "TableName": accounts,
                    "Key": {"economy": {"S": economy}, "account": {"S": key}},
                    "UpdateExpression": (
                        "SET available = :a, held = :h, earnings = :e, #v = :nv, seq = :seq, debt = :debt, "
                        "frozen = :frozen, updated_at = :t, kind = :kind, created_at = if_not_exists(created_at, :t)"
                    ),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": {
                        ":a": {"N": str(state.available)},
                        ":h": {"N": str(state.held)},
                        ":e": {"N": str(state.earnings)},
                        ":nv": {"N": str(wallet.version + 1)},
                        ":seq": {"N": str(state.seq)},
                        ":debt": {"N": str(state.debt)},
                        ":frozen": {"BOOL": state.frozen},
                        ":t": {"S": created_at},
                        ":kind": {"S": "user"},
                        **cond_values,
                    },
                }
            }
        )
        entry = {
            "account_key": entry_partition(economy, key),
            "sk": f"{state.seq:012d}",
            "account": key,
            "seq": state.seq,
            "available_after": state.available,
            "held_after": state.held,
            "earnings_after": state.earnings,
            **{f"d_{b}": d for b, d in deltas.items() if d},
            **_debt_fields(plan.changes.get(key), state),
            **common,
        }
        items.append(_put_new(entries, entry, "account_key"))
    legs = {k: {b: d for b, d in v.items() if d} for k, v in plan.users.items()}
    legs.update({k: {"available": d} for k, d in plan.systems.items()})
    legs_json = json.dumps(legs, separators=(",", ":"), sort_keys=True)
    for key, delta in plan.systems.items():
        shard = shard_key(plan.refs[key], pick_shard(shards))
        items.append(
            {
                "Update": {
                    "TableName": accounts,
                    "Key": {"economy": {"S": economy}, "account": {"S": shard}},
                    "UpdateExpression": "ADD available :d SET updated_at = :t, kind = :kind",
                    "ExpressionAttributeValues": {
                        ":d": {"N": str(delta)},
                        ":t": {"S": created_at},
                        ":kind": {"S": "system"},
                    },
                }
            }
        )
        # A system entry also carries the operation's legs: the day's entries of
        # the system accounts are then a complete, time-ordered (ULID) journal of
        # the economy that digests and audits read without a scan.
        entry = {"account_key": entry_partition(economy, shard), "sk": op_id, "account": shard, "d_available": delta,
                 "legs": legs_json, **common}
        items.append(_put_new(entries, entry, "account_key"))
    op_index = len(items)
    op = {
        "op_key": op_key,
        "op_id": op_id,
        "economy": economy,
        "type": type,
        "fingerprint": request_fingerprint,
        "status_code": status_code,
        "result": json.dumps(result, separators=(",", ":")),
        "legs": legs_json,
        "created_at": created_at,
    }
    put_op = _put_new(table_name("operations"), op, "op_key")
    put_op["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    items.append(put_op)
    side_start = len(items)
    for side in side_writes:
        body = next(iter(side.item.values()))
        if body.get("TableName") == accounts:
            raise ValueError("side writes may not touch accounts: only the ledger moves balances")
        items.append(side.item)
    return items, op_index, side_start


def _debt_fields(change: Optional[WalletChange], state: Balances) -> Dict[str, Any]:
    fields: Dict[str, Any] = {}
    if change is not None and change.debt:
        fields["d_debt"] = change.debt
    if state.debt or fields:
        fields["debt_after"] = state.debt
    if change is not None and change.frozen is not None:
        fields["frozen_after"] = change.frozen
    return fields


def _put_new(table: str, values: Mapping[str, Any], key_attr: str) -> dict:
    return {
        "Put": {
            "TableName": table,
            "Item": codec.encode_item(values),
            "ConditionExpression": "attribute_not_exists(#k)",
            "ExpressionAttributeNames": {"#k": key_attr},
        }
    }


def _resolve_cancel(
    reasons: List[dict],
    op_index: int,
    side_start: int,
    side_writes: Sequence[SideWrite],
    request_fingerprint: str,
) -> Optional[Outcome]:
    """Turn cancellation reasons into an answer, or None to retry."""
    codes = [r.get("Code", "None") for r in reasons]
    if len(codes) > op_index and codes[op_index] == "ConditionalCheckFailed":
        old = reasons[op_index].get("Item")
        if old:
            return _replay(codec.decode_item(old), request_fingerprint)
        return None  # re-read finds the record and replays it
    for offset, side in enumerate(side_writes):
        index = side_start + offset
        if len(codes) > index and codes[index] == "ConditionalCheckFailed":
            conflict = side.on_conflict
            item = reasons[index].get("Item")
            if callable(conflict) and not isinstance(conflict, BaseException):
                conflict = conflict(codec.decode_item(item) if item else None)
            raise conflict or errors.ConflictError()
    unexpected = [c for c in codes if c not in _RETRYABLE_REASONS and c != "ConditionalCheckFailed"]
    if unexpected:
        raise RuntimeError(f"transaction cancelled for {unexpected}")
    return None  # a wallet moved under us, or DynamoDB saw a conflict: retry


def _replay(op: Mapping[str, Any], request_fingerprint: str) -> Outcome:
    if op["fingerprint"] != request_fingerprint:
        raise errors.IdempotencyKeyReusedError()
    return Outcome(json.loads(op["result"]), int(op.get("status_code", 200)), True, op["op_id"])


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code", "")
    return ""

