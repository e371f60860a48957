"""DynamoDB request units per operation: what on-demand DynamoDB bills (README, Scaling).

On-demand tables bill request units, not requests: a write costs 1 write unit
(WRU) per KB of item, an item inside ``TransactWriteItems`` 2 WRU per KB; a
strongly consistent read 1 read unit (RRU) per 4 KB (a missing item still
costs one), an eventually consistent read half that. DynamoDB Local's own
``ConsumedCapacity`` is not what AWS charges (it bills a transaction twice
over), so the units are computed from the requests the app actually sent,
recorded by the run's request counter:

* a Put is sized from its item; an Update, Delete or ConditionCheck from its key
  and values (the rows they touch, wallets, shards, statuses, are ~0.2 KB, so
  each is one 1 KB unit either way);
* a GetItem / BatchGetItem key costs 1 RRU (consistent) or 0.5; a Query page
  (small here) the same; DescribeTable is free.

Operations measured, each ``--samples`` times: a spend (API), a coin purchase
(``POST /v1/checkout`` then the crediting ``checkout.session.completed``), a
Discord ``/daily`` (pays a reward) and a Discord ``/coins`` (the player card,
read-only), the last two through the real signed interactions endpoint.
"""
from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any, Dict, List, Tuple

from bench.context import Context
from bench.registry import register

Requests = List[Tuple[str, Any]]


def _value_bytes(value: Dict[str, Any]) -> int:
    (kind, raw), = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return len(raw.lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(raw) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in raw)
    return sum(len(str(x)) for x in raw)  # sets


def item_bytes(attrs: Dict[str, Any]) -> int:
    """DynamoDB's size of an item: attribute names plus values (the documented rule)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in attrs.items())


def _write_bytes(spec: Dict[str, Any]) -> int:
    if "Item" in spec:
        return item_bytes(spec["Item"])
    return item_bytes(spec.get("Key", {})) + sum(_value_bytes(v) for v in (spec.get("ExpressionAttributeValues") or {}).values())


def _kb(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def units(requests: Requests) -> Tuple[float, float]:
    """(write units, read units) that ``requests`` cost on an on-demand table."""
    wru = rru = 0.0
    for name, body in requests:
        body = body or {}
        consistent = 1.0 if body.get("ConsistentRead") else 0.5
        if name == "TransactWriteItems":
            for element in body.get("TransactItems", []):
                (_, spec), = element.items()
                wru += 2 * _kb(_write_bytes(spec))
        elif name in ("PutItem", "UpdateItem", "DeleteItem"):
            wru += _kb(_write_bytes(body))
        elif name in ("GetItem", "Query"):
            rru += consistent
        elif name == "BatchGetItem":
            for request in body.get("RequestItems", {}).values():
                rru += len(request.get("Keys", [])) * (1.0 if request.get("ConsistentRead") else 0.5)
        elif name == "TransactGetItems":
            rru += 2 * len(body.get("TransactItems", []))
    return wru, rru


def _per(ctx: Context, label: str, requests: Requests, n: int, count_requests: bool = True) -> Dict[str, Any]:
    wru, rru = units(requests)
    ops: Dict[str, int] = {}
    for name, _ in requests:
        ops[name] = ops.get(name, 0) + 1
    ctx.note(f"per {label}: " + " ".join(f"{k}={v / n:g}" for k, v in sorted(ops.items()))
             + f" -> {wru / n:g} WRU, {rru / n:g} RRU")
    figures: Dict[str, Any] = {f"ddb_requests_per_{label}": round(len(requests) / n, 2)} if count_requests else {}
    figures.update({f"ddb_wru_per_{label}": round(wru / n, 2), f"ddb_rru_per_{label}": round(rru / n, 2)})
    return figures


def _spends(ctx: Context, n: int) -> Requests:
    user_id = "capacity-spender"
    ctx.fund([user_id], 10_000)
    ctx.post(f"/v1/users/{user_id}/spend", {"amount": 1, "reason": "warm"}, key=uuid.uuid4().hex)
    with ctx.counter.counting(record=True):
        for _ in range(n):
            reply = ctx.post(f"/v1/users/{user_id}/spend", {"amount": 1, "reason": "capacity"}, key=uuid.uuid4().hex)
            if reply.status != 200:
                raise RuntimeError(f"spend answered {reply.status}: {reply.body}")
    return list(ctx.counter.requests)


def _purchases(ctx: Context, n: int) -> Requests:
    from bench.purchases import _completed, _deliver
    from chalicelib.purchases.packs import seed_packs

    seed_packs(ctx.economy)
    ctx.post("/v1/checkout", {"user_id": "capacity-warm", "pack_id": "coins_100"})
    with ctx.counter.counting(record=True):
        for i in range(n):
            reply = ctx.post("/v1/checkout", {"user_id": f"capacity-buyer-{i}", "pack_id": "coins_100"})
            if reply.status != 201:
                raise RuntimeError(f"checkout answered {reply.status}: {reply.body}")
            status = _deliver(ctx, _completed(reply.body, 10_000 + i))
            if status != 200:
                raise RuntimeError(f"webhook answered {status}")
    return list(ctx.counter.requests)


class _Discord:
    """A guild linked to the bench economy, and members sending signed slash commands."""

    def __init__(self, ctx: Context) -> None:
        from nacl.signing import SigningKey

        from chalicelib.core import config
        from chalicelib.discord.guild_setup import link_guild

        self.ctx = ctx
        self.key = SigningKey.generate()
        ctx._set_env(DISCORD_PUBLIC_KEY=self.key.verify_key.encode().hex())
        config.reset_settings()
        self.guild_id = str(10**17 + uuid.uuid4().int % 10**17)
        link_guild(self.guild_id, ctx.economy)

    def command(self, user_id: str, name: str) -> int:
        snowflake = str(10**17 + uuid.uuid4().int % 10**17)
        payload = {
            "id": snowflake, "application_id": "1", "type": 2, "token": "tok_" + snowflake, "version": 1,
            "guild_id": self.guild_id, "channel_id": "2", "locale": "en-US",
            "data": {"id": "3", "name": name, "type": 1, "options": []},
            "member": {"user": {"id": user_id, "username": "bench"}, "roles": [], "permissions": "0"},
        }
        body = json.dumps(payload)
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Signature-Timestamp": ts,
                   "X-Signature-Ed25519": self.key.sign(ts.encode() + body.encode()).signature.hex()}
        response = self.ctx.client.http.post("/discord/interactions", headers=headers, body=body.encode())
        return response.status_code

    def counted(self, users: List[str], name: str) -> Requests:
        with self.ctx.counter.counting(record=True):
            for user_id in users:
                status = self.command(user_id, name)
                if status != 200:
                    raise RuntimeError(f"/{name} answered {status}")
        return list(self.ctx.counter.requests)


@register("ddb_capacity", targets={"ddb_wru_per_spend": ("<=", 10)})
def capacity(ctx: Context) -> Dict[str, Any]:
    """DynamoDB write/read units per spend, purchase, Discord /daily and /coins (for the cost of a million)."""
    n = ctx.options.samples
    figures: Dict[str, Any] = {}
    # ddb_requests_per_spend is bench/spend.py's figure; this one adds its units.
    figures.update(_per(ctx, "spend", _spends(ctx, n), n, count_requests=False))
    figures.update(_per(ctx, "purchase", _purchases(ctx, n), n))
    discord = _Discord(ctx)
    users = [f"{10**17 + i}" for i in range(n)]
    discord.counted(["99"], "daily")  # warm the guild and economy caches
    figures.update(_per(ctx, "discord_daily", discord.counted(users, "daily"), n))
    figures.update(_per(ctx, "discord_card", discord.counted(users, "coins"), n))
    return figures
