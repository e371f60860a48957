"""Spending: throughput through the app vs the same requests sent raw, and requests per spend.

The raw path is what the ledger would cost with no app around it: the same
consistent ``BatchGetItem`` (wallet + operation record), then the same
five-item ``TransactWriteItems`` (wallet update conditioned on its version,
wallet entry, system shard ``ADD``, shard entry, operation record), sent with a
boto3 client configured like the app's (no parameter validation, a pool wide
enough for every thread). Its items have the ledger's shape (``seq``,
``*_after``, fingerprint, stored result), so the invariant check at the end of
the run covers what both paths wrote.

Each thread owns its own users and walks through them in turn, so no two
requests race for a wallet: the figure is throughput, not one hot item.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections import Counter
from typing import Any, Dict, List, Tuple

from bench.context import Context, run_threads
from bench.registry import register

USERS_PER_THREAD = 8
FUNDING = 10_000
AMOUNT = 1
REASON = "bench spend"


def _users(prefix: str, threads: int) -> List[List[str]]:
    return [[f"{prefix}{t:02d}-{i:02d}" for i in range(USERS_PER_THREAD)] for t in range(threads)]


def _plan(users: List[List[str]], total: int) -> List[List[str]]:
    """``total`` operations split over the threads, each cycling through its users."""
    threads = len(users)
    plan: List[List[str]] = []
    for t, mine in enumerate(users):
        n = total // threads + (1 if t < total % threads else 0)
        plan.append([mine[i % len(mine)] for i in range(n)])
    return plan


# -- the app path --------------------------------------------------------------


def _app_spend(ctx: Context, user_id: str) -> int:
    reply = ctx.post(f"/v1/users/{user_id}/spend", {"amount": AMOUNT, "reason": REASON}, key=uuid.uuid4().hex)
    return reply.status


# -- the raw path --------------------------------------------------------------


class RawSpender:
    """The spend's two DynamoDB requests, built by hand and sent with boto3."""

    def __init__(self, ctx: Context) -> None:
        import boto3
        import botocore.config

        from chalicelib.core.config import get_settings

        settings = get_settings()
        self.client = boto3.client(
            "dynamodb",
            endpoint_url=ctx.endpoint,
            region_name=settings.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=botocore.config.Config(
                parameter_validation=False,
                connect_timeout=2,
                read_timeout=10,
                max_pool_connections=64,
                retries={"mode": "standard", "total_max_attempts": 3},
            ),
        )
        self.economy = ctx.economy
        self.accounts = settings.table_name("accounts")
        self.entries = settings.table_name("entries")
        self.operations = settings.table_name("operations")
        self.shards = settings.system_shards

    def spend(self, user_id: str) -> int:
        economy, account = self.economy, f"u:{user_id}"
        key = uuid.uuid4().hex
        op_key = f"{economy}#api:{key}"
        read = self.client.batch_get_item(
            RequestItems={
                self.operations: {"Keys": [{"op_key": {"S": op_key}}], "ConsistentRead": True},
                self.accounts: {
                    "Keys": [{"economy": {"S": economy}, "account": {"S": account}}],
                    "ConsistentRead": True,
                },
            }
        )
        if read.get("UnprocessedKeys"):
            return 503
        responses = read["Responses"]
        if responses.get(self.operations):
            return 200  # a replay; never happens with fresh keys
        wallets = responses.get(self.accounts) or []
        if not wallets:
            return 404
        wallet = wallets[0]
        available = int(wallet["available"]["N"])
        held = int(wallet.get("held", {"N": "0"})["N"])
        earnings = int(wallet.get("earnings", {"N": "0"})["N"])
        version = int(wallet["version"]["N"])
        debt = int(wallet.get("debt", {"N": "0"})["N"])
        frozen = wallet.get("frozen", {"BOOL": False})["BOOL"]
        if frozen:
            return 403
        seq = int(wallet["seq"]["N"]) + 1
        if available < AMOUNT:
            return 422
        available -= AMOUNT
        op_id = "op_" + uuid.uuid4().hex[:26].upper()
        now = time.time()
        created_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        fp = hashlib.sha256(
            json.dumps(["spend", economy, user_id, AMOUNT, REASON, None], separators=(",", ":")).encode()
        ).hexdigest()
        result = {
            "transaction_id": op_id, "user_id": user_id, "amount": AMOUNT, "reason": REASON, "ref": None,
            "balance": {"available": available, "held": held, "earnings": earnings}, "seq": seq,
            "created_at": created_at,
        }
        shard = f"sys:burn#{random.randrange(self.shards):02d}"
        legs = json.dumps({account: {"available": -AMOUNT}, "sys:burn": {"available": AMOUNT}},
                          separators=(",", ":"), sort_keys=True)
        common = {
            "economy": {"S": economy}, "op_id": {"S": op_id}, "type": {"S": "spend"},
            "reason": {"S": REASON}, "created_at": {"S": created_at},
        }
        new_key = {"ConditionExpression": "attribute_not_exists(#k)"}
        items = [
            {"Update": {
                "TableName": self.accounts,
                "Key": {"economy": {"S": economy}, "account": {"S": account}},
                "UpdateExpression": (
                    "SET available = :a, held = :h, earnings = :e, #v = :nv, seq = :seq, debt = :debt, "
                    "frozen = :frozen, updated_at = :t, kind = :kind, created_at = if_not_exists(created_at, :t)"
                ),
                "ConditionExpression": "#v = :seen",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {
                    ":a": {"N": str(available)}, ":h": {"N": str(held)}, ":e": {"N": str(earnings)},
                    ":nv": {"N": str(version + 1)}, ":seq": {"N": str(seq)}, ":debt": {"N": str(debt)},
                    ":frozen": {"BOOL": frozen}, ":t": {"S": created_at},
                    ":kind": {"S": "user"}, ":seen": {"N": str(version)},
                },
            }},
            {"Put": {
                "TableName": self.entries,
                "Item": {
                    "account_key": {"S": f"{economy}#{account}"}, "sk": {"S": f"{seq:012d}"},
                    "account": {"S": account}, "seq": {"N": str(seq)},
                    "available_after": {"N": str(available)}, "held_after": {"N": str(held)},
                    "earnings_after": {"N": str(earnings)}, "d_available": {"N": str(-AMOUNT)}, **common,
                },
                "ExpressionAttributeNames": {"#k": "account_key"}, **new_key,
            }},
            {"Update": {
                "TableName": self.accounts,
                "Key": {"economy": {"S": economy}, "account": {"S": shard}},
                "UpdateExpression": "ADD available :d SET updated_at = :t, kind = :kind",
                "ExpressionAttributeValues": {
                    ":d": {"N": str(AMOUNT)}, ":t": {"S": created_at}, ":kind": {"S": "system"},
                },
            }},
            {"Put": {
                "TableName": self.entries,
                "Item": {
                    "account_key": {"S": f"{economy}#{shard}"}, "sk": {"S": op_id}, "account": {"S": shard},
                    "d_available": {"N": str(AMOUNT)}, "legs": {"S": legs}, **common,
                },
                "ExpressionAttributeNames": {"#k": "account_key"}, **new_key,
            }},
            {"Put": {
                "TableName": self.operations,
                "Item": {
                    "op_key": {"S": op_key}, "op_id": {"S": op_id}, "economy": {"S": economy},
                    "type": {"S": "spend"}, "fingerprint": {"S": fp}, "created": {"BOOL": False},
                    "result": {"S": json.dumps(result, separators=(",", ":"))},
                    "legs": {"S": legs},
                    "created_at": {"S": created_at},
                },
                "ExpressionAttributeNames": {"#k": "op_key"}, **new_key,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }},
        ]
        try:
            self.client.transact_write_items(TransactItems=items, ClientRequestToken=f"{op_id[3:]}01"[:36])
        except self.client.exceptions.TransactionCanceledException:
            return 409
        return 200


# -- is the raw path still the app's requests? -----------------------------------


def _shape(requests: List[Tuple[str, Any]], prefix: str) -> List[Any]:
    """What a list of request bodies asks DynamoDB to do, without the values."""

    def base(table: str) -> str:
        return table[len(prefix):] if table.startswith(prefix) else table

    shape: List[Any] = []
    for name, body in requests:
        body = body or {}
        if name == "BatchGetItem":
            shape.append((name, sorted(
                (base(t), len(spec.get("Keys", [])), sorted(spec["Keys"][0]) if spec.get("Keys") else [],
                 bool(spec.get("ConsistentRead")))
                for t, spec in body.get("RequestItems", {}).items())))
        elif name == "TransactWriteItems":
            items = []
            for item in body.get("TransactItems", []):
                ((kind, b),) = item.items()
                items.append((kind, base(b.get("TableName", "")), b.get("UpdateExpression"), b.get("ConditionExpression"),
                              sorted(b.get("Item", {})), sorted(b.get("ExpressionAttributeValues", {})),
                              sorted(b.get("ExpressionAttributeNames", {}).items()),
                              b.get("ReturnValuesOnConditionCheckFailure")))
            shape.append((name, items, "ClientRequestToken" in body))
        else:
            shape.append((name,))
    return shape


def _first_difference(a: List[Any], b: List[Any]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            if x[0] == y[0] == "TransactWriteItems":
                for j, (p, q) in enumerate(zip(x[1], y[1])):
                    if p != q:
                        return f"TransactWriteItems item {j}: app {p} vs raw {q}"
                if len(x[1]) != len(y[1]):
                    return f"TransactWriteItems: app {len(x[1])} items vs raw {len(y[1])}"
            return f"request {i}: app {x} vs raw {y}"
    return f"app sends {[r[0] for r in a]} vs raw {[r[0] for r in b]}"


def _raw_mirrors_app(ctx: Context, raw: "RawSpender", app_user: str, raw_user: str) -> bool:
    """One spend each way, recorded: same operations, tables, expressions and attribute names?"""
    from bench.context import RequestCounter
    from chalicelib.core.config import get_settings

    _app_spend(ctx, app_user)  # the API key cache is warm from here on
    raw_recorder = RequestCounter()
    raw.client.meta.events.register("before-call.dynamodb", raw_recorder)
    with ctx.counter.counting(record=True):
        status_app = _app_spend(ctx, app_user)
    app_requests = list(ctx.counter.requests)
    with raw_recorder.counting(record=True):
        status_raw = raw.spend(raw_user)
    prefix = get_settings().table_prefix
    app_shape, raw_shape = _shape(app_requests, prefix), _shape(raw_recorder.requests, prefix)
    same = status_app == status_raw == 200 and app_shape == raw_shape
    if same:
        ctx.note("raw path sends what the app sends: " + " + ".join(
            f"{s[0]}({len(s[1])} items)" if s[0] == "TransactWriteItems" else s[0] for s in app_shape))
    else:
        ctx.note(f"raw path no longer mirrors the app's spend (statuses {status_app}/{status_raw}): "
                 + _first_difference(app_shape, raw_shape) + "; update bench/spend.py RawSpender")
    return same


# -- benchmarks ----------------------------------------------------------------


def _block(ctx: Context, users: List[List[str]], total: int, do: Any) -> Tuple[float, float, Counter]:
    try:
        wall, statuses, cpu = run_threads(len(users), _plan(users, total), do)
    finally:
        ctx.restore_environ()
    return wall, cpu, Counter(statuses)


@register("spend_vs_raw", targets={"spend_vs_raw_ratio": (">=", 0.8), "spend_raw_mirrors_app": ("==", True)})
def spend_vs_raw(ctx: Context) -> Dict[str, Any]:
    """Spends/s through the HTTP handler vs the same requests sent raw, same threads and count."""
    o = ctx.options
    threads = o.threads
    app_users, raw_users = _users("a", threads), _users("r", threads)
    # Enough for every operation to land on one user, so --ops never runs dry.
    ctx.fund([u for mine in app_users + raw_users for u in mine], max(FUNDING, o.warmup + o.ops + 10))
    raw = RawSpender(ctx)
    mirrors = _raw_mirrors_app(ctx, raw, app_users[0][0], raw_users[0][0])

    def app_op(user_id: str) -> int:
        return _app_spend(ctx, user_id)

    paths = {"app": (app_users, app_op), "raw": (raw_users, raw.spend)}
    totals = {name: [0.0, 0.0, 0, Counter()] for name in paths}
    # Warm both paths (connections, the key cache, the engine's JIT), then run
    # short blocks in ABBA order, so drift and bursts of load on the machine hit
    # both paths alike; each rate is its total operations over its total time.
    for name in ("app", "raw"):
        _block(ctx, paths[name][0], o.warmup, paths[name][1])
    sizes = [o.block] * (o.ops // o.block) + ([o.ops % o.block] if o.ops % o.block else [])
    for i, size in enumerate(sizes):
        for name in (("app", "raw") if i % 2 == 0 else ("raw", "app")):
            users, do = paths[name]
            wall, cpu, statuses = _block(ctx, users, size, do)
            t = totals[name]
            t[0] += wall
            t[1] += cpu
            t[2] += size
            t[3].update(statuses)
    rates = {name: t[2] / t[0] for name, t in totals.items()}
    refused = {}
    for name, t in totals.items():
        bad = {s: n for s, n in t[3].items() if s != 200}
        ctx.note(f"spend {name}: {t[2]} ops in {t[0]:.2f}s, {1000 * t[1] / t[2]:.2f} ms client CPU/op"
                 + (f", NON-200: {bad}" if bad else ""))
        if bad:
            refused[name] = bad
    if refused:  # a refused spend is cheaper than a spend: the rates would flatter that path
        raise RuntimeError(f"spends answered other than 200, no figure: {refused}")
    return {
        "spend_vs_raw_ratio": rates["app"] / rates["raw"],
        "spend_app_per_s": rates["app"],
        "spend_raw_per_s": rates["raw"],
        "spend_raw_mirrors_app": mirrors,
    }


def _counted_spends(ctx: Context, user_id: str, keys: List[str]) -> Tuple[Counter, Counter, Counter]:
    """Spend once per key, sequentially, counting requests; returns (calls, statuses, replayed)."""
    statuses: Counter = Counter()
    replayed: Counter = Counter()
    with ctx.counter.counting() as calls:
        for key in keys:
            reply = ctx.post(f"/v1/users/{user_id}/spend", {"amount": AMOUNT, "reason": REASON}, key=key)
            statuses[reply.status] += 1
            replayed[reply.headers.get("idempotent-replayed")] += 1
    return Counter(calls), statuses, replayed


def _describe(calls: Counter, n: int) -> str:
    return " ".join(f"{op}={count / n:g}" for op, count in sorted(calls.items())) or "none"


@register("ddb_requests_per_spend", targets={"ddb_requests_per_spend": ("<=", 2)})
def requests_per_spend(ctx: Context) -> Dict[str, Any]:
    """DynamoDB API calls per spend through the handler, with the key cache warm."""
    from chalicelib.tenancy import apikeys

    user_id, n = "count-spend", ctx.options.samples
    ctx.fund([user_id], FUNDING)
    apikeys.clear_cache()
    cold, statuses, _ = _counted_spends(ctx, user_id, [uuid.uuid4().hex])  # also warms the key cache
    ctx.note(f"first spend, key cache cold: {_describe(cold, 1)}")
    calls, statuses, _ = _counted_spends(ctx, user_id, [uuid.uuid4().hex for _ in range(n)])
    if statuses != Counter({200: n}):
        ctx.note(f"spend statuses: {dict(statuses)}")
    ctx.note(f"per spend: {_describe(calls, n)}")
    return {"ddb_requests_per_spend": sum(calls.values()) / n}


@register("ddb_requests_per_replay", targets={"ddb_requests_per_replay": ("<=", 1)})
def requests_per_replay(ctx: Context) -> Dict[str, Any]:
    """DynamoDB API calls to answer a replay (same Idempotency-Key and body)."""
    user_id, n = "count-replay", ctx.options.samples
    ctx.fund([user_id], FUNDING)
    keys = [uuid.uuid4().hex for _ in range(n)]
    _, first, _ = _counted_spends(ctx, user_id, keys)
    calls, statuses, replayed = _counted_spends(ctx, user_id, keys)
    if first != Counter({200: n}) or statuses != Counter({200: n}) or replayed != Counter({"true": n}):
        ctx.note(f"replay statuses: first {dict(first)}, again {dict(statuses)}, replayed {dict(replayed)}")
    ctx.note(f"per replay: {_describe(calls, n)}")
    return {"ddb_requests_per_replay": sum(calls.values()) / n}
