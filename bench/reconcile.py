"""Reconciliation: accounts checked per second, full run, over an economy of 10,000 wallets.

The economy is written directly (``BatchWriteItem``), as consistent books: each
wallet one account item and its first entry (an operator credit), and one
``adjustments`` shard holding the other side of all of them. Then the
``reconcile`` job runs in full over it, as the nightly schedule would, and the
figure is wallets (and shards) checked per second of the job. It must find
nothing: a discrepancy here is a bug in the seeding or in the job.
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

from bench.context import Context
from bench.registry import register

ACCOUNTS = 10_000


def _seed(ctx: Context, economy: str, n: int) -> None:
    from chalicelib.db.engine import get_client, table_name
    from chalicelib.tenancy.economies import ensure_economy
    from chalicelib.core.ids import new_id, now_iso
    from chalicelib.db import codec

    ensure_economy(economy)
    now = now_iso()
    accounts, entries = table_name("accounts"), table_name("entries")
    requests: List[Dict[str, Any]] = []
    total = 0
    for i in range(n):
        user, amount, op_id = f"u:bench{i:05d}", 1 + i % 100, new_id("op_")
        total += amount
        requests.append({accounts: {"economy": economy, "account": user, "kind": "user", "available": amount,
                                    "held": 0, "earnings": 0, "version": 1, "seq": 1, "debt": 0, "frozen": False,
                                    "created_at": now, "updated_at": now}})
        requests.append({entries: {"account_key": f"{economy}#{user}", "sk": f"{1:012d}", "account": user,
                                   "seq": 1, "available_after": amount, "held_after": 0, "earnings_after": 0,
                                   "d_available": amount, "economy": economy, "op_id": op_id, "type": "adjust",
                                   "reason": "bench seed", "created_at": now}})
    shard, op_id = "sys:adjustments#00", new_id("op_")
    requests.append({accounts: {"economy": economy, "account": shard, "kind": "system", "available": -total,
                                "updated_at": now}})
    requests.append({entries: {"account_key": f"{economy}#{shard}", "sk": op_id, "account": shard,
                               "d_available": -total, "economy": economy, "op_id": op_id, "type": "adjust",
                               "reason": "bench seed", "created_at": now}})
    client = get_client()

    def write(chunk: List[Dict[str, Any]]) -> None:
        pending: Dict[str, List[Dict[str, Any]]] = {}
        for request in chunk:
            (table, item), = request.items()
            pending.setdefault(table, []).append({"PutRequest": {"Item": codec.encode_item(item)}})
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    chunks = [requests[i:i + 25] for i in range(0, len(requests), 25)]
    with ThreadPoolExecutor(ctx.options.threads) as pool:
        list(pool.map(write, chunks))


@register("reconcile_accounts_per_s")
def reconcile_accounts_per_s(ctx: Context) -> Dict[str, Any]:
    """Accounts a full ``reconcile`` run checks per second (10,000 wallets, one entry each)."""
    import time

    import chalicelib.wiring  # noqa: F401 (registers the jobs)
    from chalicelib.runtime.jobs import run_job
    from chalicelib.core.observability import set_metrics_sink

    ctx.ensure_engine()
    set_metrics_sink(lambda doc: None)  # the jobs' EMF lines would only clutter the figures
    try:
        return _measure(ctx, run_job, time)
    finally:
        set_metrics_sink(None)


def _measure(ctx: Context, run_job: Any, time: Any) -> Dict[str, Any]:
    economy = "benchrec" + uuid.uuid4().hex[:8]
    started = time.monotonic()
    _seed(ctx, economy, ACCOUNTS)
    ctx.note(f"seeded {ACCOUNTS} wallets in {time.monotonic() - started:.1f}s")
    report = run_job("reconcile", economy=economy, full=True, max_items=10 * ACCOUNTS, max_seconds=3600)
    seconds = report["economies"][0]["duration_s"]
    checked = report["accounts_checked"]
    ctx.note(f"full reconcile: {checked} accounts, {report['entries_checked']} entries, "
             f"{len(report['discrepancies'])} discrepancies in {seconds:.2f}s")
    for problem in report["discrepancies"][:3]:
        ctx.note(f"  {problem}")
    quiet = run_job("reconcile", economy=economy, max_items=10 * ACCOUNTS, max_seconds=3600)
    ctx.note(f"incremental reconcile right after (nothing changed since): {quiet['accounts_checked']} accounts "
             f"re-read within the settle margin in {quiet['economies'][0]['duration_s']:.2f}s")
    return {"reconcile_accounts_per_s": round(checked / seconds) if seconds else 0}
