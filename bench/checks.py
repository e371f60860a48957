"""Checks that close a run: the books of the bench economy still balance."""
from __future__ import annotations

from typing import Any, Dict

from bench.context import Context
from bench.registry import FINAL, register


@register("invariants", phase=FINAL, targets={"invariants_ok": ("==", True)})
def invariants(ctx: Context) -> Dict[str, Any]:
    """``check_economy`` over everything the run wrote (app and raw paths alike)."""
    from chalicelib.ledger.invariants import check_economy

    report = check_economy(ctx.economy)
    ctx.note(f"invariants: {report.accounts_checked} accounts, {report.entries_checked} entries, "
             f"{len(report.discrepancies)} discrepancies in {report.duration_s:.1f}s")
    for problem in report.discrepancies[:5]:
        ctx.note(f"  {problem}")
    return {"invariants_ok": report.ok}
