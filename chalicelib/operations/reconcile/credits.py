"""Purchases against the ledger: credited at most once, and never without money.

Two directions, both streamed (nothing held in memory per economy):

* from the ledger: every purchase credit (an ``issuance`` shard entry of type
  ``purchase``) must be THE credit of its purchase: the operation record
  ``<economy>#purchase:<id>`` has that op id, and the purchase's
  ``credited_op`` is it. A second credit of one purchase (under any other key)
  fails this (``purchase_credited_twice``), as does a credit whose purchase
  does not know it (``purchase_not_marked_credited``).
* from the purchases (the ``by_economy`` index): a purchase with a
  ``credited_op`` must have that operation record and its issuance entry
  (``credited_purchase_without_entry``); and a purchase waiting for an
  operator (status ``needs_review``: paid, a step refused) is reported too
  (``purchase_needs_review``), from the same read.

Both sides of each pair were written in one transaction, so no live race can
make them disagree: there is nothing to re-verify. Incremental runs look at
credits and purchases from the checkpoint on; full runs at all of them.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from chalicelib.core import keys
from chalicelib.ledger.journal import shard_entries, system_shards
from chalicelib.ledger.accounts import entry_partition
from chalicelib.operations.reconcile.store import batch_get, purchases_page

Problem = Dict[str, Any]
BATCH = 100


Stop = Callable[[], bool]
Count = Callable[[int], None]
Outcome = Tuple[List[Problem], Any, int, bool]  # problems, cursor, items checked, done


def _credits(economy: str, start: Optional[str],
             cursor: Optional[Tuple[str, str]]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(shard, entry) for each purchase credit from ``start``, in (shard, sk) order, after ``cursor``."""
    for shard in system_shards(economy, ["issuance"]):
        if cursor and shard < cursor[0]:
            continue
        after = cursor[1] if cursor and shard == cursor[0] else None
        for entry in shard_entries(economy, shard, start):
            if after is not None and entry["sk"] <= after:
                continue
            if entry.get("type") == "purchase":
                yield shard, entry


def check_credits(economy: str, start: Optional[str], cursor: Optional[List[str]],
                  should_stop: Stop, count: Count) -> Outcome:
    """Check every purchase credit in the ledger from op id ``start`` (None: all), after ``cursor``.

    Returns (problems, cursor to resume from, credits checked, done).
    """
    problems: List[Problem] = []
    checked = 0
    pending: List[Tuple[str, Dict[str, Any]]] = []
    last: Optional[List[str]] = list(cursor) if cursor else None
    stream = _credits(economy, start, tuple(cursor) if cursor else None)
    while True:
        if should_stop():
            return problems, last, checked, False
        pending = []
        for shard, entry in stream:
            pending.append((shard, entry))
            if len(pending) == BATCH:
                break
        if not pending:
            return problems, None, checked, True
        problems.extend(_check_credit_batch(economy, [e for _, e in pending]))
        checked += len(pending)
        count(len(pending))
        last = [pending[-1][0], pending[-1][1]["sk"]]


def _credit_key(economy: str, purchase_id: str) -> str:
    """The operation record key of a purchase's credit, as ``post()`` stores it."""
    return f"{economy}#{keys.join('purchase', purchase_id)}"


def _check_credit_batch(economy: str, entries: List[Dict[str, Any]]) -> List[Problem]:
    refs = sorted({e.get("ref") for e in entries if e.get("ref")})
    ops = {o["op_key"]: o for o in batch_get("operations", [{"op_key": _credit_key(economy, r)} for r in refs])}
    purchases = {p["purchase_id"]: p for p in batch_get("purchases", [{"purchase_id": r} for r in refs])}
    problems: List[Problem] = []
    for entry in entries:
        ref, op_id = entry.get("ref"), entry["op_id"]
        op = ops.get(_credit_key(economy, ref)) if ref else None
        purchase = purchases.get(ref or "")
        if op is None or op["op_id"] != op_id:
            problems.append({"type": "purchase_credited_twice", "purchase_id": ref, "op_id": op_id,
                             "purchase_op_id": op["op_id"] if op else None, "account": entry["account"]})
        elif purchase is None or purchase.get("economy") != economy or purchase.get("credited_op") != op_id:
            problems.append({"type": "purchase_not_marked_credited", "purchase_id": ref, "op_id": op_id,
                             "credited_op": purchase.get("credited_op") if purchase else None})
    return problems


def check_purchases(economy: str, created_from: Optional[str], cursor: Optional[Dict[str, Any]],
                    should_stop: Stop, count: Count) -> Outcome:
    """Check every purchase of ``economy`` created from ``created_from`` (None: all) that says it was credited.

    Returns (problems, cursor to resume from, purchases checked, done).
    """
    problems: List[Problem] = []
    checked = 0
    shards = system_shards(economy, ["issuance"])
    while not should_stop():
        ids, after = purchases_page(economy, created_from, cursor, BATCH)
        found = batch_get("purchases", [{"purchase_id": i} for i in ids])
        problems.extend(_check_purchase_batch(economy, [p for p in found if p.get("credited_op")], shards))
        problems.extend({"type": "purchase_needs_review", "purchase_id": p["purchase_id"],
                         "reason": p.get("review_reason"), "step": p.get("review_step")}
                        for p in found if p.get("status") == "needs_review")
        checked += len(ids)
        count(len(ids))
        if not after:
            return problems, None, checked, True
        cursor = after
    return problems, cursor, checked, False


def _check_purchase_batch(economy: str, purchases: List[Dict[str, Any]], shards: List[str]) -> List[Problem]:
    if not purchases:
        return []
    op_keys = [{"op_key": _credit_key(economy, p["purchase_id"])} for p in purchases]
    ops = {o["op_key"]: o for o in batch_get("operations", op_keys)}
    entry_keys = [{"account_key": entry_partition(economy, s), "sk": p["credited_op"]}
                  for p in purchases for s in shards]
    entries = {e["sk"] for e in batch_get("entries", entry_keys)}
    problems: List[Problem] = []
    for p in purchases:
        op = ops.get(_credit_key(economy, p["purchase_id"]))
        if op is None or op["op_id"] != p["credited_op"] or p["credited_op"] not in entries:
            problems.append({"type": "credited_purchase_without_entry", "purchase_id": p["purchase_id"],
                             "credited_op": p["credited_op"], "operation_found": op is not None,
                             "entry_found": p["credited_op"] in entries})
    return problems
