"""The CSV export of the transactions report: peak memory of 50,000 entries vs 5,000.

Two economies' journals are written directly (``BatchWriteItem``): one
``adjustments`` shard entry per operation, carrying its legs (one wallet
credited), as ``post()`` writes them. Each export runs in a fresh Python
process (a process's peak only grows, so one process cannot measure two exports)
through the CLI's ``export`` (page by page to a file, as ``?format=csv``
clients do). The figure is the ratio of the two peaks: an export that held its
rows would be near 10x the smaller one's growth; a bounded one stays near 1.
A ratio, not a timing: it means the same on a laptop and on CI.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

from bench.context import ROOT, Context
from bench.registry import register

SMALL, LARGE = 5_000, 50_000
PAGE = 500

# Run in the child: warm everything up with a one-row page, note the peak, export, note the peak again.
# ``VmHWM`` (this process image's peak), not ``ru_maxrss``: Linux keeps ru_maxrss across exec, so a child
# forked from the bench (grown by seeding) would start at the bench's own peak.
_CHILD = """
import json, re, sys, time
def hwm():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
from chalicelib.cli.reports import export
from chalicelib.operations import reports
economy, day, path, page = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
query = {"from": day, "to": day}
reports.transactions_page(economy, reports.filters(query), 1)
base = hwm()
started = time.monotonic()
with open("/dev/null", "w") as quiet:
    done = export(economy, query, path, page, err=quiet)
seconds = time.monotonic() - started
peak = hwm()
print(json.dumps({"base_kb": base, "peak_kb": peak, "rows": done["rows"], "pages": done["pages"], "s": seconds}))
"""


def _seed(ctx: Context, economy: str, n: int) -> str:
    """``n`` journal entries of today in ``economy``; returns today (the export's window)."""
    from chalicelib.core.ids import new_id, now_iso, utc_now
    from chalicelib.db import codec
    from chalicelib.db.engine import get_client, table_name
    from chalicelib.tenancy.economies import ensure_economy

    ensure_economy(economy)
    now, entries, accounts = now_iso(), table_name("entries"), table_name("accounts")
    shard = "sys:adjustments#00"
    items: List[Dict[str, Any]] = []
    for i in range(n):
        user = f"bench{i % 1000:04d}"
        legs = json.dumps({f"u:{user}": {"available": 1 + i % 97}, "sys:adjustments": {"available": -(1 + i % 97)}},
                          separators=(",", ":"), sort_keys=True)
        op_id = new_id("op_")
        items.append({"account_key": f"{economy}#{shard}", "sk": op_id, "account": shard, "economy": economy,
                      "d_available": -(1 + i % 97), "legs": legs, "op_id": op_id, "type": "adjust",
                      "reason": "bench, \"seeded\"", "ref": f"ref-{i}", "created_at": now})
    client = get_client()
    client.put_item(TableName=accounts, Item=codec.encode_item(
        {"economy": economy, "account": shard, "kind": "system", "available": 0, "updated_at": now}))

    def write(chunk: List[Dict[str, Any]]) -> None:
        pending: Dict[str, Any] = {entries: [{"PutRequest": {"Item": codec.encode_item(i)}} for i in chunk]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(ctx.options.threads) as pool:
        list(pool.map(write, [items[i:i + 25] for i in range(0, len(items), 25)]))
    return utc_now().date().isoformat()


def _export(economy: str, day: str) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "export.csv")
        done = subprocess.run([sys.executable, "-c", _CHILD, economy, day, path, str(PAGE)], cwd=str(ROOT),
                              env=dict(os.environ), capture_output=True, text=True, timeout=900, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["bytes"] = os.path.getsize(path)
        with open(path, encoding="utf-8", newline="") as written:
            result["lines"] = sum(1 for _ in written)
    return result


@register("csv_export_rss_ratio", targets={"csv_export_rss_ratio": ("<=", 1.25)})
def csv_export_rss_ratio(ctx: Context) -> Dict[str, Any]:
    """Peak RSS of the CSV export of 50,000 journal entries / of 5,000 (fresh processes, pages of 500)."""
    ctx.ensure_engine()
    runs = {}
    for n in (SMALL, LARGE):
        economy = "benchrep" + uuid.uuid4().hex[:8]
        started = time.monotonic()
        day = _seed(ctx, economy, n)
        seeded = time.monotonic() - started
        runs[n] = run = _export(economy, day)
        if run["rows"] != n or run["lines"] != n + 1:
            raise AssertionError(f"the export of {n} entries wrote {run['rows']} rows")
        ctx.note(f"{n:,} entries: seeded in {seeded:.1f}s; exported {run['rows']:,} rows ({run['bytes']:,} bytes,"
                 f" {run['pages']} pages) in {run['s']:.1f}s; peak RSS {run['peak_kb'] / 1024:.1f} MB, "
                 f"{(run['peak_kb'] - run['base_kb']) / 1024:.1f} MB above the warmed-up process")
    small, large = runs[SMALL], runs[LARGE]
    return {"csv_export_rss_ratio": round(large["peak_kb"] / small["peak_kb"], 3),
            "csv_export_growth_mb_50k": round((large["peak_kb"] - large["base_kb"]) / 1024, 1),
            "csv_export_rows_per_s": round(large["rows"] / large["s"]) if large["s"] else 0}
