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
from typing import Any, Dict, Iterator, List

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


def check_account(economy: str, account: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Discrepancies of one account against its own entries."""
    key = account["account"]
    is_user = account.get("kind", "user") == "user"
    buckets = USER_BUCKETS if is_user else ("available",)
    problems: List[Dict[str, Any]] = []
    sums = {b: 0 for b in buckets}
    expected_seq = 0
    entries = query_all(
        TableName=table_name("entries"),
        KeyConditionExpression="account_key = :p",
        ExpressionAttributeValues={":p": {"S": entry_partition(economy, key)}},
        ConsistentRead=True,
    )
    count = 0
    debt_sum = 0
    last: Dict[str, Any] = {}
    for entry in entries:
        count += 1
        last = entry
        debt_sum += entry.get("d_debt", 0)
        for b in buckets:
            sums[b] += entry.get(f"d_{b}", 0)
        if is_user:
            expected_seq += 1
            if entry.get("seq") != expected_seq:
                problems.append({"type": "seq_gap", "account": key, "expected": expected_seq, "found": entry.get("seq")})
                expected_seq = entry.get("seq") or expected_seq
            for b in buckets:
                if entry.get(f"{b}_after") != sums[b]:
                    problems.append(
                        {"type": "balance_after_mismatch", "account": key, "seq": entry.get("seq"), "bucket": b,
                         "recorded": entry.get(f"{b}_after"), "replayed": sums[b]}
                    )
    for b in buckets:
        balance = account.get(b, 0)
        if balance != sums[b]:
            problems.append({"type": "ledger_mismatch", "account": key, "bucket": b, "balance": balance, "entries_sum": sums[b]})
        if is_user and balance < 0:
            problems.append({"type": "negative_balance", "account": key, "bucket": b, "balance": balance})
    if is_user:
        debt = account.get("debt", 0)
        if debt != debt_sum or debt < 0:
            problems.append({"type": "debt_mismatch", "account": key, "debt": debt, "entries_sum": debt_sum})
    if is_user and account.get("seq", 0) != expected_seq:
        problems.append({"type": "seq_mismatch", "account": key, "wallet_seq": account.get("seq", 0), "entries": expected_seq})
    if is_user:
        problems.extend(freeze_problems(key, account, last))
    account["_entries"] = count
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
