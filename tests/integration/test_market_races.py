"""Races on the real engine: the last units of a listing and of the shop, per-buyer limits, double redeems.

DynamoDB Local serialises transactions; these prove the conditional writes
(listing quantity, stock, limit counters, the order's one resolution key)
decide every race, and the fault test adds the TransactionConflict
cancellations AWS produces and Local never does.
"""
from __future__ import annotations

import json
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

import pytest

from chalicelib.db.engine import get_client
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.integration.spending_helpers import treasury, wallet
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    buy, buy_listing, list_item, order, plugin, put_reward, signed_redeem, wait_resolved,
)

# A stopped app clock: a daily limit's day, an order's deadline and a listing's expiry are
# where the test put them, not wherever the machine's speed (or UTC midnight) moved them.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clock")]


def _together(n: int):
    """All ``n`` callers start at once; a barrier that times out breaks and fails the test (the race never ran)."""
    barrier = threading.Barrier(n)

    def wait() -> None:
        barrier.wait(timeout=10)  # BrokenBarrierError propagates through pool.map to the test

    return wait


def test_20_buyers_racing_for_the_last_5_units(economy, plugin) -> None:
    put_reward(economy, "dragon-egg", price=1000, fulfilment="voucher", category="cosmetic")
    listing = list_item(economy, "seller", "dragon-egg", qty=8, unit_price=200, max_per_buyer=2).body
    economy.credit("early", 1000)
    first = buy_listing(economy, listing["listing_id"], "early", qty=2)
    assert first.status == 201
    economy.credit("early2", 500)
    assert buy_listing(economy, listing["listing_id"], "early2", qty=1).status == 201
    assert economy.api.get(f"/v1/listings/{listing['listing_id']}").body["available"] == 5  # the last 5

    buyers = [f"racer-{i}" for i in range(20)]
    for b in buyers:
        economy.credit(b, 1000)
    # Everyone asks twice at once (1 unit each time), one buyer also asks for 2 more: limits must hold too.
    asks = [(b, 1) for b in buyers] * 2 + [("racer-0", 2)]
    random.Random(11).shuffle(asks)
    ready = _together(len(asks))

    def attempt(ask):
        ready()
        return ask, buy_listing(economy, listing["listing_id"], ask[0], qty=ask[1])

    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        results = list(pool.map(attempt, asks))
    won = [(ask, r) for ask, r in results if r.status == 201]
    refused = Counter(r.body["error"]["code"] for _, r in results if r.status != 201)
    assert sum(ask[1] for ask, _ in won) == 5, [r.body for _, r in results]
    assert set(refused) <= {"out_of_stock", "limit_reached"}, refused
    assert all(r.status in (201, 422) for _, r in results)
    per_buyer = Counter()
    for ask, _ in won:
        per_buyer[ask[0]] += ask[1]
    assert max(per_buyer.values()) <= 2  # max_per_buyer held under the race

    view = economy.api.get(f"/v1/listings/{listing['listing_id']}").body
    assert (view["available"], view["sold"], view["status"]) == (0, 8, "sold_out")
    for buyer in buyers:
        bought = per_buyer[buyer]
        assert wallet(economy, buyer) == {"available": 1000 - 200 * bought, "held": 200 * bought, "earnings": 0}
    # and every winner's voucher settles once, paying the seller net of the fee
    earned_before = wallet(economy, "seller")["earnings"]
    for _, r in won:
        assert signed_redeem(economy, r.body["voucher_code"], "P").body["replayed"] is False
    # The fee, from the pricing rule: a SKU never sold has no 7-day average (band no_history, x1),
    # and 8 units listed is under 10 (scarce, x5/4): 800 bps * 5/4 = 1,000 bps, 10%.
    assert listing["fee_bps"] == 1_000
    paid = [order(economy, r.body["order_id"]) for _, r in won]
    assert all(o["status"] == "fulfilled" for o in paid)
    assert sorted(o["total"] for o in paid) == sorted(200 * ask[1] for ask, _ in won)
    # 5 units at 200 less 10%: 180 a unit, whole in every order (1 or 2 units), so 5 * 180 = 900
    assert wallet(economy, "seller")["earnings"] - earned_before == 900
    economy.check()


def test_shop_stock_race_sells_the_last_unit_once(economy, plugin) -> None:
    put_reward(economy, "crown", price=50, stock=3, daily_limit=1)
    buyers = [f"b{i}" for i in range(15)]
    for b in buyers:
        economy.credit(b, 500)
    asks = buyers + buyers[:5]  # five buyers try twice: the daily limit of 1 must hold
    ready = _together(len(asks))

    def attempt(buyer):
        ready()
        return buyer, buy(economy, buyer, "crown")

    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        results = list(pool.map(attempt, asks))
    won = [r for _, r in results if r.status == 201]
    assert len(won) == 3
    assert {r.body["error"]["code"] for _, r in results if r.status != 201} <= {"out_of_stock", "limit_reached"}
    assert len({b for b, r in results if r.status == 201}) == 3
    for r in won:
        wait_resolved(economy, r.body["order_id"])
    assert economy.api.get("/v1/admin/rewards/crown").body["stock"] == 0
    assert economy.api.get("/v1/admin/rewards/crown").body["sold"] == 3
    assert treasury(economy) == 150
    economy.check()


def test_voucher_redeemed_twice_concurrently_fulfils_once(economy, plugin) -> None:
    economy.credit("kid", 10_000)
    put_reward(economy, "pet", price=70, fulfilment="voucher")
    codes = [buy(economy, "kid", "pet").body["voucher_code"] for _ in range(5)]
    tasks = [(code, f"Player{i}") for code in codes for i in range(4)]  # each code four times at once
    random.shuffle(tasks)
    ready = _together(len(tasks))

    def attempt(task):
        ready()
        return task, signed_redeem(economy, task[0], task[1])

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        results = list(pool.map(attempt, tasks))
    assert all(r.status == 200 for _, r in results), [r.body for _, r in results if r.status != 200]
    for code in codes:
        answers = [r.body for (c, _), r in results if c == code]
        assert sum(not a["replayed"] for a in answers) == 1  # one fulfilment
        assert len({a["player_id"] for a in answers}) == 1  # every answer names the first redeemer
        assert len({a["order"]["transaction_id"] for a in answers}) == 1
    assert treasury(economy) == 5 * 70
    assert wallet(economy, "kid") == {"available": 10_000 - 350, "held": 0, "earnings": 0}
    economy.check()


def test_orders_survive_injected_transaction_conflicts(economy, plugin) -> None:
    """AWS cancels concurrent transactions on one item (TransactionConflict); the ledger retries them."""
    put_reward(economy, "ticket", price=10, fulfilment="voucher", stock=40)
    for i in range(8):
        economy.credit(f"t{i}", 200)
    client = get_client()
    rng = random.Random(5)
    injected: List[int] = []

    def cancel_some(model: Any = None, params: Any = None, **_: Any):
        if model is None or model.name != "TransactWriteItems":
            return None
        items = json.loads(params["body"])["TransactItems"]  # DynamoDB's wire JSON
        touches_catalog = any(next(iter(i.values()))["TableName"].endswith("rewards") for i in items)
        if not touches_catalog or rng.random() >= 0.3:
            return None
        injected.append(1)
        body = {"Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                "CancellationReasons": [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1),
                "ResponseMetadata": {"HTTPStatusCode": 400}}
        return _Http(400), body

    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", cancel_some)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: buy(economy, f"t{i % 8}", "ticket"), range(32)))
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", cancel_some)
    assert injected, "the hook should have cancelled some transactions"
    assert [r.status for r in results] == [201] * 32
    assert economy.api.get("/v1/admin/rewards/ticket").body["stock"] == 8
    assert sum(wallet(economy, f"t{i}")["held"] for i in range(8)) == 320
    economy.check()


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: Dict[str, str] = {}
        self.content = b""
