"""Purchases: what a crediting webhook and a duplicate delivery cost in DynamoDB requests."""
from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, Dict, List

from bench.context import Context
from bench.registry import register

SECRET = "whsec_local_dev_only"


def _deliver(ctx: Context, event: Dict[str, Any]) -> int:
    import stripe

    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, SECRET, int(time.time()))
    response = ctx.client.http.post("/v1/webhooks/stripe", body=payload.encode(),
                                    headers={"Content-Type": "application/json", "Stripe-Signature": header})
    return response.status_code


def _completed(purchase: Dict[str, Any], n: int) -> Dict[str, Any]:
    return {"id": f"evt_bench_{purchase['purchase_id']}", "object": "event", "type": "checkout.session.completed",
            "data": {"object": {
                "id": purchase["session_id"], "object": "checkout.session", "payment_status": "paid",
                "amount_total": purchase["price"]["amount"], "currency": purchase["price"]["currency"],
                "client_reference_id": purchase["purchase_id"], "metadata": {"purchase_id": purchase["purchase_id"]},
                "payment_intent": f"pi_bench_{n}_{purchase['purchase_id'][4:]}"}}}


def _events(ctx: Context, n: int) -> List[Dict[str, Any]]:
    from chalicelib.purchases.packs import seed_packs

    seed_packs(ctx.economy)
    events = []
    for i in range(n):
        reply = ctx.post("/v1/checkout", {"user_id": f"buyer-{i % 5}", "pack_id": "coins_100"})
        if reply.status != 201:
            raise RuntimeError(f"checkout failed: {reply.status} {reply.body}")
        events.append(_completed(reply.body, i))
    return events


def _count(ctx: Context, events: List[Dict[str, Any]]) -> Counter:
    statuses: Counter = Counter()
    with ctx.counter.counting() as calls:
        for event in events:
            statuses[_deliver(ctx, event)] += 1
    if statuses != Counter({200: len(events)}):
        raise RuntimeError(f"webhook statuses {dict(statuses)}")
    return Counter(calls)


@register("purchase_webhooks", targets={"ddb_requests_per_credit": ("<=", 8), "webhook_replay_requests": ("<=", 1)})
def purchase_webhooks(ctx: Context) -> Dict[str, Any]:
    """A paid checkout.session.completed that credits, then the same event delivered again."""
    n = ctx.options.samples
    events = _events(ctx, n)
    credit = _count(ctx, events)
    replay = _count(ctx, events)
    ctx.note("per credit: " + " ".join(f"{op}={c / n:g}" for op, c in sorted(credit.items())))
    ctx.note("per duplicate delivery: " + " ".join(f"{op}={c / n:g}" for op, c in sorted(replay.items())))
    return {"ddb_requests_per_credit": sum(credit.values()) / n, "webhook_replay_requests": sum(replay.values()) / n}
