"""One account against its ledger entries: full, or the tail since the checkpoint.

* A user wallet, full: ``invariants.check_account`` (every entry from seq 1:
  sums, gap-free seq, each ``*_after`` the running sum).
* A user wallet, incremental: its entries newest first back to the first one
  made before the checkpoint (the *anchor*, verified by an earlier run), then
  the chain forward from it: seq +1 each time, each ``*_after`` (and
  ``debt_after``) the previous plus the entry's deltas, the last equal to the
  wallet (and its ``freeze_reasons_after`` the wallet's freeze reasons). Reads
  what changed, not the whole history.
* A system shard (no seq, no ``*_after``): the sum of its entries equals its
  balance. Incremental runs add the entries after the shard's checkpoint
  (``{"sk", "sum"}``: the last operation id folded in and the running sum
  through it) to the checkpoint's sum. Only entries older than the settle
  margin are folded into the next checkpoint, so an operation that commits
  late with an older id is never skipped.

A balance read before its entries can be behind them while the ledger is
live. So a check that finds a problem reads the account again: unchanged, the
problem is real (nothing committed to it while its entries were read);
changed, it checks again (a few times, then reports it as unverified, a
warning). Only reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from chalicelib.ledger.journal import shard_entries
from chalicelib.ledger.accounts import USER_BUCKETS
from chalicelib.operations.reconcile import store
from chalicelib.ledger.invariants import check_account, freeze_problems

ATTEMPTS = 4


@dataclass
class AccountResult:
    account: str
    problems: List[Dict[str, Any]] = field(default_factory=list)
    entries: int = 0
    verified: bool = True
    checkpoint: Optional[Dict[str, Any]] = None  # system shards: the next checkpoint


def read_account(economy: str, account: str) -> Optional[Dict[str, Any]]:
    """The account as stored now (consistent), or None."""
    return store.read_account(economy, account)


def is_user(account: Dict[str, Any]) -> bool:
    return account.get("kind", "user") == "user" and account["account"].startswith("u:")


def check(economy: str, account: Dict[str, Any], *, full: bool, anchor_before: Optional[str],
          checkpoint: Optional[Dict[str, Any]], fold_before: str) -> AccountResult:
    """Check ``account`` (as read in the snapshot), confirming any problem against a fresh read.

    ``anchor_before``: an incremental user check starts from the last entry made
    before it (None: check from the start). ``checkpoint`` / ``fold_before``:
    a shard's stored checkpoint and the operation id below which entries fold
    into the next one.
    """
    current = account
    result = AccountResult(account["account"])
    for _ in range(ATTEMPTS):
        result = _check_once(economy, current, full, anchor_before, checkpoint, fold_before)
        if not result.problems:
            return result
        again = read_account(economy, current["account"])
        if again is None or _same(again, current):
            return result  # nothing moved while its entries were read: the problem is real
        current = again
    result.verified = False
    return result


def _same(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    def stored(item: Dict[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in item.items() if not k.startswith("_")}

    return stored(a) == stored(b)


def _check_once(economy: str, account: Dict[str, Any], full: bool, anchor_before: Optional[str],
                checkpoint: Optional[Dict[str, Any]], fold_before: str) -> AccountResult:
    if is_user(account):
        if full or anchor_before is None:
            copy = dict(account)
            problems = [p for p in check_account(economy, copy) if p["type"] != "negative_balance"]
            return AccountResult(account["account"], problems, copy.get("_entries", 0))
        return _user_tail(economy, account, anchor_before)
    return _shard(economy, account, None if full else checkpoint, fold_before)


def _user_tail(economy: str, account: Dict[str, Any], anchor_before: str) -> AccountResult:
    key = account["account"]
    newest_first = store.entries_newest_first(economy, key)
    tail: List[Dict[str, Any]] = []
    anchor: Optional[Dict[str, Any]] = None
    for entry in newest_first:
        if entry.get("created_at", "") < anchor_before:
            anchor = entry
            break
        tail.append(entry)
    tail.reverse()
    problems: List[Dict[str, Any]] = []
    # No anchor: every entry is newer than the checkpoint and we have read them
    # all, so the chain starts from an empty wallet before seq 1.
    prev = anchor if anchor is not None else {"seq": 0}
    for entry in tail:
        if entry.get("seq") != prev.get("seq", 0) + 1:
            problems.append({"type": "seq_gap", "account": key, "expected": prev.get("seq", 0) + 1,
                             "found": entry.get("seq")})
        for b in USER_BUCKETS:
            expected = prev.get(f"{b}_after", 0) + entry.get(f"d_{b}", 0)
            if entry.get(f"{b}_after") != expected:
                problems.append({"type": "balance_after_mismatch", "account": key, "seq": entry.get("seq"),
                                 "bucket": b, "recorded": entry.get(f"{b}_after"), "replayed": expected})
        debt = prev.get("debt_after", 0) + entry.get("d_debt", 0)
        if entry.get("debt_after", 0) != debt:
            problems.append({"type": "debt_mismatch", "account": key, "seq": entry.get("seq"),
                             "debt": entry.get("debt_after", 0), "entries_sum": debt})
        prev = entry
    for b in USER_BUCKETS:
        if account.get(b, 0) != prev.get(f"{b}_after", 0):
            problems.append({"type": "ledger_mismatch", "account": key, "bucket": b, "balance": account.get(b, 0),
                             "entries_sum": prev.get(f"{b}_after", 0)})
    if account.get("debt", 0) != prev.get("debt_after", 0):
        problems.append({"type": "debt_mismatch", "account": key, "debt": account.get("debt", 0),
                         "entries_sum": prev.get("debt_after", 0)})
    if account.get("seq", 0) != prev.get("seq", 0):
        problems.append({"type": "seq_mismatch", "account": key, "wallet_seq": account.get("seq", 0),
                         "entries": prev.get("seq", 0)})
    problems.extend(freeze_problems(key, account, prev))
    return AccountResult(key, problems, len(tail) + (anchor is not None))


def _shard(economy: str, account: Dict[str, Any], checkpoint: Optional[Dict[str, Any]],
           fold_before: str) -> AccountResult:
    key = account["account"]
    start_sk = checkpoint["sk"] if checkpoint else None
    total = int(checkpoint["sum"]) if checkpoint else 0
    folded_sk, folded_sum = start_sk, total
    count = 0
    for entry in shard_entries(economy, key, start_sk):
        if start_sk is not None and entry["sk"] <= start_sk:
            continue  # the checkpoint's own entry is already in its sum
        count += 1
        total += entry.get("d_available", 0)
        if entry["sk"] < fold_before:
            folded_sk, folded_sum = entry["sk"], total
    problems = []
    if account.get("available", 0) != total:
        problems.append({"type": "ledger_mismatch", "account": key, "bucket": "available",
                         "balance": account.get("available", 0), "entries_sum": total})
    next_checkpoint = {"sk": folded_sk, "sum": folded_sum} if folded_sk is not None else None
    return AccountResult(key, problems, count, checkpoint=next_checkpoint)
