"""Market: DynamoDB requests per shop order and per voucher redeem, through the handlers.

Counted on the request's own thread only: an order queues work (the
``#coin-transactions`` line) that the local queue worker runs on its thread
meanwhile, and that work is not the order's cost. A shop order is one read of
the catalog item, then the ledger's two requests (``BatchGetItem``, one
``TransactWriteItems`` carrying the order, the hold, the stock decrement and
the voucher hash). A redeem reads the voucher, the order and the hold, then
the ledger's two (its game server's record is cached, as API keys are).
"""
from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from typing import Any, Dict, Iterator, Optional

from bench.context import Context
from bench.registry import register

FUNDING = 1_000_000


class _ThreadCounter:
    """A ``before-call`` hook counting the calls made by one thread while active."""

    def __init__(self) -> None:
        self.owner: Optional[int] = None
        self.calls: Counter = Counter()

    def __call__(self, model: Any = None, **_: Any) -> None:
        if self.owner is not None and threading.get_ident() == self.owner:
            self.calls[getattr(model, "name", "?")] += 1

    def counting(self) -> "_ThreadCounter":
        self.calls = Counter()
        self.owner = threading.get_ident()
        return self

    def __enter__(self) -> Counter:
        return self.calls

    def __exit__(self, *exc: Any) -> None:
        self.owner = None


_counters: Dict[int, _ThreadCounter] = {}


def _counter(ctx: Context) -> _ThreadCounter:
    if id(ctx) not in _counters:
        from chalicelib.db.engine import on_every_request

        ctx.counter  # noqa: B018 - makes sure the engine and the app's clients exist first
        _counters[id(ctx)] = _ThreadCounter()
        on_every_request(_counters[id(ctx)])
    return _counters[id(ctx)]


def _describe(calls: Counter, n: int) -> str:
    return " ".join(f"{op}={count / n:g}" for op, count in sorted(calls.items())) or "none"


def _orders(ctx: Context, buyer: str, sku: str, n: int) -> Iterator[Dict[str, Any]]:
    for _ in range(n):
        reply = ctx.post("/v1/orders", {"buyer_id": buyer, "sku": sku}, key=uuid.uuid4().hex)
        if reply.status != 201:
            raise RuntimeError(f"order: {reply.status} {reply.body}")
        yield reply.body


@register("ddb_requests_per_order",
          targets={"ddb_requests_per_order": ("<=", 3), "ddb_requests_per_redeem": ("<=", 5)})
def requests_per_order(ctx: Context) -> Dict[str, Any]:
    """DynamoDB API calls per shop order (escrow + stock + order in one transaction), and per redeem."""
    from chalicelib.core import signing
    from chalicelib.tenancy.game_servers import SERVER_HEADER, create_server

    buyer, sku, n = "bench-buyer", f"bench-{uuid.uuid4().hex[:10]}", ctx.options.samples
    ctx.fund([buyer], FUNDING)
    body = json.dumps({"name": "Bench pet", "category": "cosmetic", "price": 5, "fulfilment": "voucher",
                       "stock": 10 * n + 10})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ctx.admin_token}",
               "X-Audit-Reason": "bench"}
    response = ctx.client.http.request("PUT", f"/v1/admin/rewards/{sku}", headers=headers, body=body)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"reward: {response.status_code} {response.body!r}")
    list(_orders(ctx, buyer, sku, 1))  # warm the key cache
    counter = _counter(ctx)
    with counter.counting() as calls:
        placed = list(_orders(ctx, buyer, sku, n))
    per_order = Counter(calls)
    server = create_server(ctx.economy, "bench")

    def redeem(order: Dict[str, Any]) -> None:
        raw = json.dumps({"code": order["voucher_code"], "player_id": "BenchPlayer"}).encode()
        hook = {"Content-Type": "application/json", SERVER_HEADER: server["server_id"],
                **signing.signed_headers(server["secret"], raw)}
        reply = ctx.client.http.post("/v1/webhooks/redeem", headers=hook, body=raw)
        if reply.status_code != 200:
            raise RuntimeError(f"redeem: {reply.status_code} {reply.body!r}")

    redeem(next(_orders(ctx, buyer, sku, 1)))  # warm the game-server cache, as the key cache above
    with counter.counting() as calls:
        for order in placed:
            redeem(order)
    per_redeem = Counter(calls)
    ctx.note(f"per order: {_describe(per_order, n)}; per redeem (settle): {_describe(per_redeem, n)}")
    return {"ddb_requests_per_order": sum(per_order.values()) / n,
            "ddb_requests_per_redeem": sum(per_redeem.values()) / n}
