"""The only things reconciliation repairs: what the expiry jobs should have done.

Holds and escrows past their expiry, and pending purchases past their
checkout's expiry, by more than ``GRACE`` (the minute jobs had their chance).
Each is resolved by the same code path as its expiry job, so the money moves
only through the ledger, under the record's own idempotency key, with the
ledger reason of that path (``expire <purpose>``, ``escrow-auto escrow``,
``Bought <pack>``): a repair racing the job (or another repair) replays
instead of moving coins twice. Each repair is reported with its ids.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from chalicelib.core.ids import iso
from chalicelib.purchases.expiry import expire_purchase
from chalicelib.purchases.store import DUE_SHARDS
from chalicelib.runtime.due import run_due_index
from chalicelib.spending import escrows, holds

GRACE = timedelta(minutes=5)


def repair_overdue(ctx: Any, economy: Optional[str], moment: datetime) -> List[Dict[str, Any]]:
    """Resolve holds, escrows and pending purchases overdue at ``moment - GRACE``; returns the repairs."""
    cutoff = iso(moment - GRACE)
    repairs: List[Dict[str, Any]] = []

    def record(kind: str, item: Dict[str, Any], outcome: Any, reason: str) -> None:
        if outcome is not None and not outcome.replayed:
            repairs.append({"type": kind, "economy": item["economy"], "id": item["hold_id"],
                            "expires_at": item["expires_at"], "op_id": outcome.op_id, "reason": reason})

    def hold(item: Dict[str, Any], at: str) -> Any:
        outcome = holds.expire(item["economy"], item, at)
        record("hold_expired", item, outcome, "hold past its expiry; released to the payer (expire-holds lagging)")
        return outcome

    def escrow(item: Dict[str, Any], at: str) -> Any:
        outcome = escrows.auto_release(item["economy"], item, at)
        record("escrow_auto_released", item, outcome,
               "escrow past its auto-release deadline; paid to the freelancer (release-escrows lagging)")
        return outcome

    def purchase(item: Dict[str, Any]) -> str:
        outcome = expire_purchase(item["purchase_id"], cutoff)
        if outcome in ("expired", "credited"):
            reason = ("pending purchase past its checkout expiry; marked expired" if outcome == "expired"
                      else "paid purchase never credited; credited through the ledger")
            repairs.append({"type": f"purchase_{outcome}", "economy": item.get("economy"), "id": item["purchase_id"],
                            "expires_at": item["expires_at"], "reason": reason})
        return outcome

    holds.run_due(ctx, "hold", hold, economy, cutoff)
    escrows.run_due(ctx, "escrow", escrow, economy, cutoff)
    run_due_index(ctx, table="purchases", prefix="p", shards=DUE_SHARDS, now=cutoff, handle=purchase,
                  key="purchase_id", economy=economy)
    return repairs
