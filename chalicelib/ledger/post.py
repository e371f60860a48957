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
  and the response to replay (and, when the caller's Idempotency-Key is not the
  operation's own key, a second record under that key: ``request_key``);
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
import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from chalicelib.core import errors
from chalicelib.core.config import get_settings
from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import new_id, now_iso
from chalicelib.db import codec
from chalicelib.ledger import freezes
from chalicelib.ledger.accounts import (
    MAX_AMOUNT,
    MAX_BALANCE,
    USER_BUCKETS,
    AccountRef,
    entry_partition,
    pick_shard,
    shard_key,
    user,
)
from chalicelib.ledger.operation import (  # noqa: F401 (the values are the ledger's API: re-exported)
    Balances,
    Leg,
    Operation,
    Outcome,
    Posted,
    SideWrite,
    SideWrites,
    Sized,
    WalletChange,
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
        "freeze",  # no coins move: freeze reasons added or lifted (operators)
        "reversal",  # an operator took back (part of) an earlier operation: meta.reverses names it
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


@dataclass
class _Wallet:
    exists: bool
    available: int = 0
    held: int = 0
    earnings: int = 0
    version: int = 0
    seq: int = 0
    reasons: FrozenSet[str] = frozenset()
    debt: int = 0

    @property
    def frozen(self) -> bool:
        return bool(self.reasons)

    def balances(self) -> Balances:
        return Balances(self.available, self.held, self.earnings, self.seq, self.frozen, self.debt,
                        freezes.ordered(self.reasons), self.exists)


@dataclass
class _Plan:
    users: Dict[str, Dict[str, int]] = field(default_factory=dict)  # key -> bucket deltas
    changes: Dict[str, WalletChange] = field(default_factory=dict)  # key -> non-coin changes
    systems: Dict[str, int] = field(default_factory=dict)  # key -> delta
    refs: Dict[str, AccountRef] = field(default_factory=dict)


def fingerprint(*parts: Any) -> str:
    """A stable digest of a request's meaning (canonical JSON, SHA-256)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def post(op: Operation) -> Outcome:
    """Apply ``op`` at most once under its key.

    The key is bound to the operation by its record, written in the same
    transaction as the money; with ``request_key`` the caller's key is bound
    too, by a second record with the same fingerprint: a key belongs to one
    request, whatever the route.

    Raises InsufficientFundsError, AccountFrozenError, UserNotFoundError (a debit
    from, or a freeze of, a wallet that never existed), BalanceLimitError,
    NoDebtError (paying more debt than is left),
    IdempotencyKeyReusedError (``ledger_key`` says which key), the
    ``on_conflict`` error of a failed side write, what ``op.size`` raises,
    ValueError for an operation that breaks the rules of legs (a programming
    error), or ContentionError when the retry budget
    (``COINS_LEDGER_RETRY_SECONDS``) runs out.
    """
    if not isinstance(op, Operation):
        raise TypeError("post() takes one Operation")
    if op.type not in ENTRY_TYPES:
        raise ValueError(f"unknown entry type {op.type!r}")
    fixed = None if op.size else _plan(op.legs, op.wallet_changes)
    user_keys = list(fixed.users) if fixed else []
    user_keys += [k for k in (user(u).key for u in op.reads) if k not in user_keys]
    op_key = f"{op.economy}#{op.key}"
    claim_key = f"{op.economy}#{op.request_key}" if op.request_key and op.request_key != op.key else None
    settings = get_settings()
    deadline = time.monotonic() + settings.ledger_retry_seconds
    # One id per operation, not per attempt: every attempt writes the same ids, and an
    # attempt that writes the same items as the last sends the same ClientRequestToken.
    # (Readers of the journal allow for an id older than its commit: journal.SETTLE_SECONDS.)
    op_id, created_at = new_id("op_"), now_iso()
    attempt = 0
    while True:
        attempt += 1
        wallets, existing, claim = _read(op.economy, user_keys, op_key, claim_key)
        # The caller's key first: used by another request, it is refused as such.
        if claim is not None:
            return _replay(claim, op.fingerprint, op.request_key)
        if existing is not None:
            return _replay(existing, op.fingerprint, op.key)
        sized = op.size({k[2:]: w.balances() for k, w in wallets.items()}) if op.size else None
        plan = _plan(sized.legs, sized.wallet_changes) if sized is not None else fixed
        assert plan is not None
        if any(k not in wallets for k in plan.users):
            raise ValueError("a size rule touched a wallet it was not shown: name it in reads")
        after = _check(plan, wallets, op.allow_frozen)
        posted = Posted(op_id, created_at, after, {k: wallets[k].balances() for k in after}, sized)
        result = op.respond(posted)
        sides = list(op.side_writes(posted) if callable(op.side_writes) else op.side_writes)
        meta = {**(op.meta or {}), **(sized.meta if sized is not None else {})}
        items, op_index, side_start = _items(op, meta, op_key, op_id, created_at, plan, wallets, after, result, sides,
                                             settings.system_shards, claim_key)
        try:
            get_client().transact_write_items(TransactItems=items, ClientRequestToken=_token(op_id, items))
            return Outcome(result, op.created, False, op_id)
        except Exception as exc:  # botocore raises dynamically built classes
            code = _error_code(exc)
            if code == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])  # type: ignore[attr-defined]
                outcome = _resolve_cancel(reasons, op_index, side_start, sides, op.fingerprint,
                                          (op.key, op.request_key))
                if outcome is not None:
                    return outcome
            elif code not in _RETRYABLE_ERRORS:
                raise
        if time.monotonic() >= deadline:
            log.warning("ledger gave up after %d attempts on %s", attempt, op_key)
            raise errors.ContentionError(attempts=attempt)
        # Full jitter keeps a crowd of losers from re-colliding in lockstep.
        time.sleep(random.uniform(0, min(0.25, 0.005 * (2 ** min(attempt, 8)))))


def _token(op_id: str, items: List[dict]) -> str:
    """The same operation writing the same items sends the same token (DynamoDB: at most 36 characters)."""
    blob = json.dumps(items, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{op_id}|{blob}".encode()).hexdigest()[:36]


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
        key = user(user_id).key
        if not isinstance(change.debt, int) or isinstance(change.debt, bool) or abs(change.debt) > MAX_AMOUNT:
            raise ValueError(f"bad debt change {change.debt!r}")
        bad = [r for r in change.freeze | change.unfreeze if not freezes.valid(r)]
        if bad or change.freeze & change.unfreeze:
            raise ValueError(f"bad freeze reasons {sorted(bad) or sorted(change.freeze & change.unfreeze)!r}")
        plan.users.setdefault(key, {b: 0 for b in USER_BUCKETS})
        plan.changes[key] = change
    return plan


def _read(
    economy: str, user_keys: List[str], op_key: str, claim_key: Optional[str]
) -> Tuple[Dict[str, _Wallet], Optional[dict], Optional[dict]]:
    """One consistent BatchGetItem for the wallets, the operation record and the caller's key record."""
    accounts, operations = table_name("accounts"), table_name("operations")
    op_keys = [op_key] + ([claim_key] if claim_key else [])
    request: Dict[str, Any] = {
        operations: {"Keys": [{"op_key": {"S": k}} for k in op_keys], "ConsistentRead": True},
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
            reasons=freezes.stored(item),
            debt=item.get("debt", 0),
        )
    records = {r["op_key"]: r for r in (codec.decode_item(raw) for raw in found[operations])}
    return wallets, records.get(op_key), records.get(claim_key) if claim_key else None


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
        if not wallet.exists and change.touches_freeze:
            raise errors.UserNotFoundError(user_id=user_id)
        debt = wallet.debt + change.debt
        if debt < 0:  # another payment settled it since the caller looked
            raise errors.NoDebtError("The debt was settled meanwhile.", user_id=user_id, debt=wallet.debt)
        unfreeze = change.unfreeze
        if change.debt < 0 < debt:
            # A payment lifts the debt freeze only if it clears the debt as read here, under the
            # version: a clawback that added debt since the caller looked keeps the wallet frozen.
            unfreeze = unfreeze - {freezes.DEBT}
        reasons = freezes.ordered((wallet.reasons - unfreeze) | change.freeze)
        values = {b: getattr(wallet, b) + deltas[b] for b in USER_BUCKETS}
        for bucket, value in values.items():
            if value < 0:
                raise errors.InsufficientFundsError(
                    user_id=user_id, bucket=bucket, balance=getattr(wallet, bucket), required=-deltas[bucket]
                )
            if value > MAX_BALANCE:
                raise errors.BalanceLimitError(user_id=user_id, bucket=bucket, max_balance=MAX_BALANCE)
        after[key] = Balances(values["available"], values["held"], values["earnings"], wallet.seq + 1,
                              bool(reasons), debt, reasons)
    return after


def _items(
    op: Operation,
    meta: Mapping[str, Any],
    op_key: str,
    op_id: str,
    created_at: str,
    plan: _Plan,
    wallets: Dict[str, _Wallet],
    after: Dict[str, Balances],
    result: Dict[str, Any],
    side_writes: Sequence[SideWrite],
    shards: int,
    claim_key: Optional[str] = None,
) -> Tuple[List[dict], int, int]:
    economy = op.economy
    accounts, entries = table_name("accounts"), table_name("entries")
    items: List[dict] = []
    common = {"economy": economy, "op_id": op_id, "type": op.type, "reason": op.reason, "ref": op.ref,
              "created_at": created_at}
    if meta:
        common["meta"] = dict(meta)
    for key, deltas in plan.users.items():
        wallet, state = wallets[key], after[key]
        if wallet.exists:
            condition, cond_values = "#v = :seen", {":seen": {"N": str(wallet.version)}}
        else:
            condition, cond_values = "attribute_not_exists(#v)", {}
        # Reasons are stored only while there are some: an unfrozen wallet's item (and a
        # spend's write) stays as it was before reasons existed.
        reason_values = {":fr": codec.encode(list(state.freeze_reasons))} if state.freeze_reasons else {}
        sets = [", freeze_reasons = :fr"] if state.freeze_reasons else []
        removes = ["freeze_reasons"] if not state.freeze_reasons and wallet.reasons else []
        # The sparse admin-search indexes (models/accounts.py): the attribute lives exactly while the flag does.
        for attr, on in (("frozen_in", state.frozen), ("owing_in", state.debt > 0)):
            if on:
                sets.append(f", {attr} = :eco")
            else:
                removes.append(attr)
        if any(s.endswith(":eco") for s in sets):
            reason_values[":eco"] = {"S": economy}
        reasons_expr = "".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        items.append(
            {
                "Update": {
                    "TableName": accounts,
                    "Key": {"economy": {"S": economy}, "account": {"S": key}},
                    "UpdateExpression": (
                        "SET available = :a, held = :h, earnings = :e, #v = :nv, seq = :seq, debt = :debt, "
                        "frozen = :frozen, updated_at = :t, kind = :kind, created_at = if_not_exists(created_at, :t)"
                        f"{reasons_expr}"
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
                        **reason_values,
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
            **_wallet_change_fields(plan.changes.get(key), state),
            **common,
        }
        items.append(_put_new(entries, entry, "account_key"))
    legs = {k: {b: d for b, d in v.items() if d} for k, v in plan.users.items()}
    legs.update({k: {"available": d} for k, d in plan.systems.items()})
    legs_json = json.dumps(legs, separators=(",", ":"), sort_keys=True)
    for key, delta in plan.systems.items():
        shard = shard_key(plan.refs[key], pick_shard(shards, op_id, key))
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
    record = {
        "op_key": op_key,
        "op_id": op_id,
        "economy": economy,
        "type": op.type,
        "fingerprint": op.fingerprint,
        "created": op.created,
        "result": json.dumps(result, separators=(",", ":")),
        "legs": legs_json,
        "created_at": created_at,
    }
    put_op = _put_new(table_name("operations"), record, "op_key")
    put_op["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    items.append(put_op)
    if claim_key:
        # The caller's key, bound to this operation: no legs (the operation record has them).
        claim = {**record, "op_key": claim_key, "legs": "{}", "alias_of": op_key}
        put_claim = _put_new(table_name("operations"), claim, "op_key")
        put_claim["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        items.append(put_claim)
    side_start = len(items)
    for side in side_writes:
        body = next(iter(side.item.values()))
        if body.get("TableName") == accounts:
            raise ValueError("side writes may not touch accounts: only the ledger moves balances")
        items.append(side.item)
    return items, op_index, side_start


def _wallet_change_fields(change: Optional[WalletChange], state: Balances) -> Dict[str, Any]:
    """Debt and freeze reasons on a user entry: while there are any, and on the entry that changed them."""
    fields: Dict[str, Any] = {}
    if change is not None and change.debt:
        fields["d_debt"] = change.debt
    if state.debt or fields:
        fields["debt_after"] = state.debt
    if state.freeze_reasons or (change is not None and change.touches_freeze):
        fields["frozen_after"] = state.frozen
        fields["freeze_reasons_after"] = list(state.freeze_reasons)
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
    keys: Tuple[str, Optional[str]],
) -> Optional[Outcome]:
    """Turn cancellation reasons into an answer, or None to retry.

    ``keys``: the operation's key and the caller's (its record, when written,
    sits right after the operation record, before the side writes).
    """
    codes = [r.get("Code", "None") for r in reasons]
    for index, key in ((op_index, keys[0]), (op_index + 1, keys[1])):
        if index < side_start and len(codes) > index and codes[index] == "ConditionalCheckFailed":
            old = reasons[index].get("Item")
            if old:
                return _replay(codec.decode_item(old), request_fingerprint, key)
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


def _replay(op: Mapping[str, Any], request_fingerprint: str, key: Optional[str] = None) -> Outcome:
    if op["fingerprint"] != request_fingerprint:
        raise errors.IdempotencyKeyReusedError(ledger_key=key)
    return Outcome.replay(op)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code", "")
    return ""

