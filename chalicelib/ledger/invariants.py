"""The money invariants of one economy, checked from the tables themselves.

* every bucket of every account of the economy sums to zero;
* every account's entries sum to its balance, bucket by bucket;
* a user wallet's entries are numbered 1..seq without gaps, and each entry's
  ``*_after`` equals the running sum of the entries before it;
* no user bucket is negative;
* a wallet is frozen iff it has freeze reasons, and they are the ones its last
  entry recorded (wallets stored before reasons existed are exempt: they read
  as ``operator``).

Used by the tests and by the reconciliation job. It only reads.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec
from chalicelib.ledger.accounts import USER_BUCKETS, entry_partition


@dataclass
class Report:
    economy: str
    accounts_checked: int = 0
    entries_checked: int = 0
    total: int = 0
    discrepancies: List[Dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def as_dict(self) -> Dict[str, Any]:
        return {
            "economy": self.economy,
            "ok": self.ok,
            "accounts_checked": self.accounts_checked,
            "entries_checked": self.entries_checked,
            "total": self.total,
            "discrepancies": self.discrepancies,
            "duration_s": round(self.duration_s, 3),
        }


def query_all(**kwargs: Any) -> Iterator[Dict[str, Any]]:
    """Every item of a paginated Query, decoded."""
    client = get_client()
    while True:
        page = client.query(**kwargs)
        for item in page["Items"]:
            yield codec.decode_item(item)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def economy_accounts(economy: str) -> List[Dict[str, Any]]:
    return list(
        query_all(
            TableName=table_name("accounts"),
            KeyConditionExpression="economy = :e",
            ExpressionAttributeValues={":e": {"S": economy}},
            ConsistentRead=True,
        )
    )


class AccountFold:
    """One account's entries folded in order: running sums, seq and the problems found on the way.

    ``add`` takes the entries oldest first; ``close`` compares the fold with the
    account item. A fold can be kept and fed more entries later (a user wallet's
    entries only ever append, in ``seq`` order): ``BooksWatch`` does that.
    """

    def __init__(self, key: str, is_user: bool) -> None:
        self.key, self.is_user = key, is_user
        self.buckets = USER_BUCKETS if is_user else ("available",)
        self.sums = {b: 0 for b in self.buckets}
        self.seq = 0
        self.debt = 0
        self.count = 0
        self.last: Dict[str, Any] = {}

    def add(self, entry: Dict[str, Any]) -> List[Dict[str, Any]]:
        problems: List[Dict[str, Any]] = []
        self.count += 1
        self.last = entry
        self.debt += entry.get("d_debt", 0)
        for b in self.buckets:
            self.sums[b] += entry.get(f"d_{b}", 0)
        if self.is_user:
            self.seq += 1
            if entry.get("seq") != self.seq:
                problems.append({"type": "seq_gap", "account": self.key, "expected": self.seq, "found": entry.get("seq")})
                self.seq = entry.get("seq") or self.seq
            for b in self.buckets:
                if entry.get(f"{b}_after") != self.sums[b]:
                    problems.append(
                        {"type": "balance_after_mismatch", "account": self.key, "seq": entry.get("seq"), "bucket": b,
                         "recorded": entry.get(f"{b}_after"), "replayed": self.sums[b]}
                    )
        return problems

    def close(self, account: Dict[str, Any]) -> List[Dict[str, Any]]:
        key, is_user = self.key, self.is_user
        problems: List[Dict[str, Any]] = []
        for b in self.buckets:
            balance = account.get(b, 0)
            if balance != self.sums[b]:
                problems.append({"type": "ledger_mismatch", "account": key, "bucket": b, "balance": balance,
                                 "entries_sum": self.sums[b]})
            if is_user and balance < 0:
                problems.append({"type": "negative_balance", "account": key, "bucket": b, "balance": balance})
        if is_user:
            debt = account.get("debt", 0)
            if debt != self.debt or debt < 0:
                problems.append({"type": "debt_mismatch", "account": key, "debt": debt, "entries_sum": self.debt})
            if account.get("seq", 0) != self.seq:
                problems.append({"type": "seq_mismatch", "account": key, "wallet_seq": account.get("seq", 0),
                                 "entries": self.seq})
            problems.extend(freeze_problems(key, account, self.last))
        return problems


def _entries(economy: str, key: str, after: Optional[str] = None) -> Iterator[Dict[str, Any]]:
    kwargs: Dict[str, Any] = {
        "TableName": table_name("entries"),
        "KeyConditionExpression": "account_key = :p",
        "ExpressionAttributeValues": {":p": {"S": entry_partition(economy, key)}},
        "ConsistentRead": True,
    }
    if after is not None:
        kwargs["ExclusiveStartKey"] = {"account_key": {"S": entry_partition(economy, key)}, "sk": {"S": after}}
    return query_all(**kwargs)


def check_account(economy: str, account: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Discrepancies of one account against its own entries."""
    fold = AccountFold(account["account"], account.get("kind", "user") == "user")
    problems: List[Dict[str, Any]] = []
    for entry in _entries(economy, account["account"]):
        problems.extend(fold.add(entry))
    problems.extend(fold.close(account))
    account["_entries"] = fold.count
    return problems


def freeze_problems(key: str, account: Dict[str, Any], last_entry: Dict[str, Any]) -> List[Dict[str, Any]]:
    """A wallet's freeze reasons against its ``frozen`` flag and the reasons its last entry recorded."""
    reasons = sorted(account.get("freeze_reasons") or ())
    if not reasons and account.get("frozen"):
        return []  # stored before reasons existed: reads as ``operator``, journalled by nothing
    recorded = sorted(last_entry.get("freeze_reasons_after") or ())
    if bool(account.get("frozen")) != bool(reasons) or reasons != recorded:
        return [{"type": "freeze_mismatch", "account": key, "frozen": bool(account.get("frozen")),
                 "freeze_reasons": reasons, "entry_seq": last_entry.get("seq"), "entry_reasons": recorded}]
    return []


def check_economy(economy: str, workers: int = 16) -> Report:
    """Check every invariant for ``economy``; never writes."""
    started = time.monotonic()
    report = Report(economy)
    accounts = economy_accounts(economy)
    report.accounts_checked = len(accounts)
    report.total = sum(a.get(b, 0) for a in accounts for b in USER_BUCKETS)
    if report.total != 0:
        report.discrepancies.append({"type": "zero_sum", "total": report.total})
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for problems in pool.map(lambda a: check_account(economy, a), accounts):
            report.discrepancies.extend(problems)
    report.entries_checked = sum(a["_entries"] for a in accounts)
    report.duration_s = time.monotonic() - started
    return report


class BooksWatch:
    """The invariants of one economy, checked again and again while it runs, reading only what changed.

    Each ``check`` reads the economy's accounts (zero-sum and no negative bucket
    from the items themselves). An account whose item is unchanged since the last
    check is not read again; a changed user wallet has only its new entries read
    (they append in ``seq`` order) and folded onto the kept sums; a changed
    system account is read again in full (its entries are keyed by operation id,
    and an operation resumed after a crash lands among older ones). An entry
    written with no change to its account is the one thing this misses: a full
    ``check_economy`` finds it, so callers run one now and then and at the end.
    """

    def __init__(self, economy: str, workers: int = 16) -> None:
        self.economy, self.workers = economy, workers
        self._seen: Dict[str, Tuple[Dict[str, Any], AccountFold]] = {}

    def check(self) -> Report:
        started = time.monotonic()
        report = Report(self.economy)
        accounts = economy_accounts(self.economy)
        report.accounts_checked = len(accounts)
        report.total = sum(a.get(b, 0) for a in accounts for b in USER_BUCKETS)
        if report.total != 0:
            report.discrepancies.append({"type": "zero_sum", "total": report.total})
        changed = [a for a in accounts if self._seen.get(a["account"], ({}, None))[0] != a]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for problems, count in pool.map(self._one, changed):
                report.discrepancies.extend(problems)
                report.entries_checked += count
        report.duration_s = time.monotonic() - started
        return report

    def _one(self, account: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], int]:
        key = account["account"]
        is_user = account.get("kind", "user") == "user"
        kept = self._seen.get(key)
        fold = kept[1] if kept and is_user else AccountFold(key, is_user)
        after = fold.last.get("sk") if fold.count else None
        before = fold.count
        problems: List[Dict[str, Any]] = []
        for entry in _entries(self.economy, key, after):
            problems.extend(fold.add(entry))
        problems.extend(fold.close(account))
        self._seen[key] = (account, fold)
        return problems, fold.count - before
