"""The price rollup's tables: ``sales`` (one row per fulfilled order), ``prices`` (a SKU's last stats) and
``price_history`` (every recompute).

A sale row carries a sparse ``rollup_shard`` until the rollup has seen it; a
price item carries ``due_shard``/``due_at`` while it must be recomputed. Both
indexes are walked by ``runtime.due`` (never a scan).
"""
from __future__ import annotations

import random
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional

from chalicelib.db import codec, ops
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import SideWrite

SALE_ROLLUP_SHARDS = 8
PRICE_DUE_SHARDS = 8
SALE_TTL_DAYS = 30
HISTORY_TTL_DAYS = 90
STATS = ("median_7d", "avg_7d", "units_7d", "volume_24h", "coins_24h")


def sku_key(economy: str, sku: str) -> str:
    return f"{economy}#{sku}"


def find_price(economy: str, sku: str) -> Dict[str, Any]:
    """The SKU's price item (empty when it was never computed)."""
    return ops.get("prices", {"sku_key": sku_key(economy, sku)}) or {}


def history(economy: str, sku: str, limit: int) -> List[Dict[str, Any]]:
    """The SKU's last ``limit`` rollups, newest first (one page)."""
    page = get_client().query(TableName=table_name("price_history"), KeyConditionExpression="sku_key = :k",
                              ExpressionAttributeValues={":k": {"S": sku_key(economy, sku)}},
                              ScanIndexForward=False, Limit=limit)
    return [codec.decode_item(raw) for raw in page["Items"]]


def sale_put(economy: str, sku: str, order_id: str, kind: str, qty: int, unit_price: int, sold_at: str) -> SideWrite:
    """Record one fulfilled order as a sale (written with the settle), waiting for the rollup."""
    row = {
        "sku_key": sku_key(economy, sku), "sold_key": f"{sold_at}#{order_id}", "economy": economy, "sku": sku,
        "order_id": order_id, "kind": kind, "qty": qty, "unit_price": unit_price, "sold_at": sold_at,
        "rollup_shard": f"r{random.randrange(SALE_ROLLUP_SHARDS)}",
        "expires_epoch": int(time.time()) + SALE_TTL_DAYS * 86_400,
    }
    return SideWrite({"Put": {"TableName": table_name("sales"), "Item": codec.encode_item(row),
                              "ConditionExpression": "attribute_not_exists(sold_key)"}})


def sale_seen(sale: Mapping[str, Any]) -> None:
    """Take a sale out of the rollup's index (an overlapping run may have taken it first)."""
    try:
        get_client().update_item(TableName=table_name("sales"),
                                 Key={"sku_key": {"S": sale["sku_key"]}, "sold_key": {"S": sale["sold_key"]}},
                                 UpdateExpression="REMOVE rollup_shard",
                                 ConditionExpression="attribute_exists(rollup_shard)")
    except Exception as exc:  # botocore raises dynamically built classes
        if not ops.condition_failed(exc):
            raise


def mark_due(economy: str, sku: str, at: str) -> None:
    """Put the SKU's price item in the recompute index (and bump ``rev``, so a running recompute loses)."""
    expression, names, values = ops.update_expression(
        {"economy": economy, "sku": sku, "due_shard": f"p{random.randrange(PRICE_DUE_SHARDS)}", "due_at": at},
        add={"rev": 1})
    get_client().update_item(TableName=table_name("prices"), Key={"sku_key": {"S": sku_key(economy, sku)}},
                             UpdateExpression=expression, ExpressionAttributeNames=names,
                             ExpressionAttributeValues=values)


def sales_since(economy: str, sku: str, since: str, until: str) -> Iterator[Dict[str, Any]]:
    """The SKU's sales from ``since`` to ``until`` (sold_at, qty, unit_price)."""
    return ops.query_all("sales", KeyConditionExpression="sku_key = :k AND sold_key BETWEEN :a AND :b",
                         ExpressionAttributeValues={":k": {"S": sku_key(economy, sku)}, ":a": {"S": since},
                                                    ":b": {"S": until + "~"}},
                         ProjectionExpression="sold_at, qty, unit_price")


def write_stats(economy: str, sku: str, stats: Mapping[str, Any], now: str, next_due: Optional[str],
                seen_rev: Optional[int]) -> bool:
    """Write the SKU's stats and a history row if ``rev`` is still ``seen_rev`` (None: never set); False if not.

    With no ``next_due`` the item leaves the recompute index.
    """
    key = sku_key(economy, sku)
    sets = {**{name: stats[name] for name in STATS}, "computed_at": now}
    if next_due:
        sets["due_at"] = next_due
    # A stat may be None (no sales): kept as NULL, as the rollup always wrote it.
    expression, names, values = ops.update_expression(sets, remove=() if next_due else ("due_shard", "due_at"))
    condition = "rev = :rev" if seen_rev is not None else "attribute_not_exists(rev) OR rev = :rev"
    row = {"sku_key": key, "computed_at": now, **{name: stats[name] for name in STATS},
           "expires_epoch": int(time.time()) + HISTORY_TTL_DAYS * 86_400}
    return ops.transact([
        {"Update": {"TableName": table_name("prices"), "Key": {"sku_key": {"S": key}}, "UpdateExpression": expression,
                    "ConditionExpression": condition, "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {**values, ":rev": {"N": str(seen_rev or 0)}}}},
        {"Put": {"TableName": table_name("price_history"), "Item": codec.encode_item(row)}},
    ])
