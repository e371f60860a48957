"""Spending: DynamoDB requests per unlock and per hold settle, through the handler.

Counted with the same ``before-call`` hook as the spend benchmark, key cache
and rates cache warm. An unlock is one read of the catalog item, then the
ledger's two requests (``BatchGetItem`` of wallet + operation record, one
``TransactWriteItems`` with the entitlement as a side write). A settle is one
read of the hold, then the ledger's two.
"""
from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any, Dict, List

from bench.context import Context
from bench.registry import register

FUNDING = 100_000


def _describe(calls: Counter, n: int) -> str:
    return " ".join(f"{op}={count / n:g}" for op, count in sorted(calls.items())) or "none"


def _put_content(ctx: Context, content_id: str, price: int) -> None:
    body = json.dumps({"title": content_id, "price": price, "creator_id": "bench-creator"})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ctx.admin_token}",
               "X-Audit-Reason": "bench"}
    response = ctx.client.http.request("PUT", f"/v1/admin/content/{content_id}", headers=headers, body=body)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"content {content_id}: {response.status_code} {response.body!r}")


@register("ddb_requests_per_unlock", targets={"ddb_requests_per_unlock": ("<=", 3)})
def requests_per_unlock(ctx: Context) -> Dict[str, Any]:
    """DynamoDB API calls per first unlock of a priced item (and per repeat, in a note)."""
    user_id, n = "count-unlock", ctx.options.samples
    ctx.fund([user_id], FUNDING)
    items = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(n + 1)]
    for content_id in items:
        _put_content(ctx, content_id, 7)
    ctx.post(f"/v1/users/{user_id}/unlocks", {"content_id": items[0]})  # warm the key and rates caches
    statuses: Counter = Counter()
    with ctx.counter.counting() as calls:
        for content_id in items[1:]:
            statuses[ctx.post(f"/v1/users/{user_id}/unlocks", {"content_id": content_id}).status] += 1
    first = Counter(calls)
    with ctx.counter.counting() as calls:
        for content_id in items[1:]:
            statuses[ctx.post(f"/v1/users/{user_id}/unlocks", {"content_id": content_id}).status] += 1
    repeat = Counter(calls)
    if statuses != Counter({201: n, 200: n}):
        ctx.note(f"unlock statuses: {dict(statuses)}")
    ctx.note(f"per unlock: {_describe(first, n)}; per repeat (no charge): {_describe(repeat, n)}")
    return {"ddb_requests_per_unlock": sum(first.values()) / n}


@register("ddb_requests_per_settle", targets={"ddb_requests_per_settle": ("<=", 3)})
def requests_per_settle(ctx: Context) -> Dict[str, Any]:
    """DynamoDB API calls per partial settle of a hold to a recipient (creator split, rest returned)."""
    user_id, n = "count-settle", ctx.options.samples
    ctx.fund([user_id], FUNDING)
    hold_ids: List[str] = []
    for _ in range(n + 1):
        reply = ctx.post("/v1/holds", {"user_id": user_id, "amount": 10, "purpose": "bench", "expires_in": 3600},
                         key=uuid.uuid4().hex)
        if reply.status != 201:
            raise RuntimeError(f"hold: {reply.status} {reply.body}")
        hold_ids.append(reply.body["hold_id"])
    body = {"amount": 6, "to_user_id": "bench-host"}
    ctx.post(f"/v1/holds/{hold_ids[0]}/settle", body)  # warm the caches
    statuses: Counter = Counter()
    with ctx.counter.counting() as calls:
        for hold_id in hold_ids[1:]:
            statuses[ctx.post(f"/v1/holds/{hold_id}/settle", body).status] += 1
    if statuses != Counter({200: n}):
        ctx.note(f"settle statuses: {dict(statuses)}")
    ctx.note(f"per settle: {_describe(Counter(calls), n)}")
    return {"ddb_requests_per_settle": sum(calls.values()) / n}
