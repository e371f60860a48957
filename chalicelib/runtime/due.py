"""Walking a sparse "due" index: the shape every expiry job shares.

A record that may expire carries ``due_shard`` (a few shard values, so no index
partition takes every write) and ``expires_at`` while it is live, and loses
``due_shard`` in the same write that resolves it. An expiry job then Queries
each shard for ``expires_at <= now`` (never a table scan), a bounded page at a
time, and hands each item to a handler that resolves it with a conditional
write or a ledger operation. So the job:

* stops when the budget says so and resumes next time (what is left is still due);
* is safe to overlap (the handler's write is conditional; the loser sees "already");
* is safe to die half-way (what was resolved left the index; the rest is still there).

Holds, escrows, orders, vouchers, listings and purchases all expire through it.
"""
from __future__ import annotations

import logging
import random
from typing import AbstractSet, Any, Callable, Dict, Optional

from chalicelib.core import errors
from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec

log = logging.getLogger("coinhall.due")

# What a handler reports for one item: a counter in the job's report (None: only ``processed``).
Handler = Callable[[Dict[str, Any]], Optional[str]]


def run_due_index(
    ctx: Any,
    *,
    table: str,
    prefix: str,
    shards: int,
    now: str,
    handle: Handler,
    key: str,
    economy: Optional[str] = None,
    index: str = "due",
    page_size: int = 100,
    shard_attr: str = "due_shard",
    at_attr: str = "expires_at",
    uncounted: AbstractSet[str] = frozenset(),
) -> Dict[str, Any]:
    """Hand every item of ``table``'s ``index`` with ``expires_at <= now`` to ``handle``, within ``ctx``'s budget.

    ``key`` names the item's id attribute (for logs); ``shard_attr`` and
    ``at_attr`` name the index's keys when they are not ``due_shard`` and
    ``expires_at`` (another sparse index: the price rollup's, the guilds'
    ``leaderboard_due``). A ``CoinhallError`` from
    the handler is logged and counted as ``failed``; anything else propagates
    (the run dies; the next one resumes). An outcome in ``uncounted`` is
    counted under its name but not as ``processed`` (the item was someone
    else's). Returns ``{"now": now}``.
    """
    order = list(range(shards))
    random.shuffle(order)  # overlapping runs start on different shards
    client = get_client()
    for shard in order:
        kwargs: Dict[str, Any] = {
            "TableName": table_name(table),
            "IndexName": index,
            "KeyConditionExpression": "#shard = :s AND #at <= :now",
            "ExpressionAttributeNames": {"#shard": shard_attr, "#at": at_attr},
            "ExpressionAttributeValues": {":s": {"S": f"{prefix}{shard}"}, ":now": {"S": now}},
        }
        if economy:
            kwargs["FilterExpression"] = "economy = :e"
            kwargs["ExpressionAttributeValues"][":e"] = {"S": economy}
        while not ctx.should_stop():
            kwargs["Limit"] = max(1, min(page_size, ctx.max_items - ctx.processed))
            page = client.query(**kwargs)
            for raw in page["Items"]:
                if ctx.should_stop():
                    break
                item = codec.decode_item(raw)
                try:
                    outcome = handle(item)
                except errors.CoinhallError as exc:
                    log.warning("could not resolve %s %s: %s", table, item.get(key), exc.code)
                    ctx.note_failure(item.get(key), f"{exc.code}: {exc.message}")
                    outcome = "failed"
                if outcome is not None:
                    ctx.count(outcome)
                if outcome not in uncounted:
                    ctx.count()
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if ctx.should_stop():
            break
    return {"now": now}
