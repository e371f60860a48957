"""The market end to end on DynamoDB Local: catalog, shop orders, listings, vouchers, jobs, and the money each moves."""
from __future__ import annotations

import pytest

from chalicelib.runtime import queue
from tests.clock_helpers import Clock, at, clock  # noqa: F401 (fixture)
from tests.integration.spending_helpers import treasury, wallet
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    plugin,
    buy, buy_listing, delete, key, list_item, order, put, put_reward, run_job, signed_redeem, wait_resolved,
)

# A stopped app clock: a daily limit's day, an order's deadline and a listing's expiry are
# where the test put them, not wherever the machine's speed (or UTC midnight) moved them.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]

FAR_FUTURE = "2999-01-01T00:00:00.000Z"


def test_catalog_put_get_list_delete_is_audited(economy) -> None:
    body = {"name": "VIP rank", "category": "rank", "price": 500, "fulfilment": "api",
            "payload": {"rank": "vip", "days": 30}, "daily_limit": 2, "stock": 10}
    created = put(economy, "/v1/admin/rewards/vip-30", body)
    assert created.status == 201, created.body
    assert created.body["stock"] == 10 and created.body["sold"] == 0 and created.body["version"] == 1
    assert put(economy, "/v1/admin/rewards/vip-30", {**body, "price": 450}).status == 200
    put_reward(economy, "hidden", visible=False)
    put_reward(economy, "gone")
    assert delete(economy, "/v1/admin/rewards/gone").body["deleted"] is True

    listed = economy.api.get("/v1/rewards", token=economy.read_token)
    assert [r["sku"] for r in listed.body["items"]] == ["vip-30"]
    assert listed.body["items"][0]["price"] == 450 and "version" not in listed.body["items"][0]
    assert economy.api.get("/v1/rewards?category=cosmetic").body["items"] == []
    assert economy.api.get("/v1/rewards/hidden").status == 404
    assert economy.api.get("/v1/admin/rewards/hidden").body["visible"] is False
    assert economy.api.get("/v1/admin/rewards/gone").body["deleted"] is True
    assert delete(economy, "/v1/admin/rewards/gone").status == 404

    audit = economy.api.get("/v1/admin/audit?limit=50").body["items"]
    actions = [(a["action"], a["target"]) for a in audit]
    assert ("reward.delete", "reward:gone") in actions
    assert actions.count(("reward.put", "reward:vip-30")) == 2
    change = next(a for a in audit if a["action"] == "reward.put" and a.get("before"))
    assert change["before"]["price"] == 500 and change["after"]["price"] == 450


def test_shop_order_delivered_by_the_plugin_settles_to_the_treasury(economy, plugin) -> None:
    economy.credit("steve", 1000)
    put_reward(economy, "vip", price=300, payload={"rank": "vip"}, stock=5)
    placed = buy(economy, "steve", "vip", player_id="Steve_MC")
    assert placed.status == 201, placed.body
    assert placed.body["status"] == "pending" and placed.body["balance"] == {"available": 700, "held": 300,
                                                                             "earnings": 0}
    final = wait_resolved(economy, placed.body["order_id"])
    assert final["status"] == "fulfilled" and final["treasury_amount"] == 300 and final["attempts"] == 1
    assert wallet(economy, "steve") == {"available": 700, "held": 0, "earnings": 0}
    assert treasury(economy) == 300
    sent = plugin.calls(placed.body["order_id"])[0]
    assert sent.signature_ok and sent.body == {"order_id": placed.body["order_id"], "player_id": "Steve_MC",
                                               "action": "grant_rank",
                                               "payload": {"sku": "vip", "qty": 1, "category": "rank",
                                                           "data": {"rank": "vip"}}}
    assert economy.api.get("/v1/admin/rewards/vip").body["stock"] == 4
    mine = economy.api.get("/v1/users/steve/orders").body["items"]
    assert [o["order_id"] for o in mine] == [placed.body["order_id"]]
    assert economy.api.get("/v1/users/steve/orders?status=refunded").body["items"] == []
    statement = [e["type"] for e in economy.api.get("/v1/users/steve/transactions").body["items"]]
    assert statement == ["settle", "order", "adjust"]
    economy.check()


def test_a_retried_purchase_replays_and_charges_once(economy, plugin) -> None:
    economy.credit("alex", 1000)
    put_reward(economy, "kit", price=100, stock=1)
    idem = key()
    first = buy(economy, "alex", "kit", idem=idem)
    again = buy(economy, "alex", "kit", idem=idem)  # stock is 0 now: the replay must still answer
    assert first.status == 201 and again.status == 201
    assert again.headers["idempotent-replayed"] == "true" and again.body["order_id"] == first.body["order_id"]
    assert buy(economy, "alex", "kit", idem=idem, qty=2).code == "idempotency_key_reused"
    wait_resolved(economy, first.body["order_id"])
    assert queue.drain(10)
    assert plugin.deliveries[first.body["order_id"]] == 1
    assert wallet(economy, "alex")["available"] == 900
    economy.check()


def test_listing_sale_pays_the_seller_net_of_the_fee(economy, plugin) -> None:
    economy.credit("buyer", 5000)
    put_reward(economy, "sword", price=1000, category="cosmetic")
    listed = list_item(economy, "seller", "sword", qty=4, unit_price=130, max_per_buyer=3)
    assert listed.status == 201, listed.body
    # no sales yet: no history band; 4 units listed is scarce: 800 * 5/4
    assert listed.body["fee_bps"] == 1000 and listed.body["fee"]["band"] == "no_history"
    assert listed.body["fee"]["scarce"] is True and listed.body["price_floor"] is None
    bought = buy_listing(economy, listed.body["listing_id"], "buyer", qty=3)
    assert bought.status == 201, bought.body
    final = wait_resolved(economy, bought.body["order_id"])
    # 390 total, fee 1000 bps: seller floor(390 * 0.9) = 351, treasury 39
    assert (final["status"], final["seller_amount"], final["treasury_amount"]) == ("fulfilled", 351, 39)
    assert wallet(economy, "seller") == {"available": 0, "held": 0, "earnings": 351}
    assert wallet(economy, "buyer")["available"] == 5000 - 390
    assert treasury(economy) == 39
    sent = plugin.calls(bought.body["order_id"])[0].body
    assert sent["action"] == "transfer_item" and sent["payload"]["seller_id"] == "seller"
    assert buy_listing(economy, listed.body["listing_id"], "buyer", qty=1).code == "limit_reached"
    view = economy.api.get(f"/v1/listings/{listed.body['listing_id']}").body
    assert (view["available"], view["sold"], view["status"]) == (1, 3, "active")
    assert buy_listing(economy, listed.body["listing_id"], "seller").code == "self_payment"
    economy.check()


def test_voucher_order_redeemed_once_then_replayed(economy, plugin) -> None:
    economy.credit("kid", 500)
    put_reward(economy, "coins-1k", price=200, fulfilment="voucher", category="money", payload={"coins": 1000})
    placed = buy(economy, "kid", "coins-1k")
    assert placed.status == 201, placed.body
    code = placed.body["voucher_code"]
    assert len(code) == 19 and code.count("-") == 3
    assert "voucher_code" not in order(economy, placed.body["order_id"])

    first = signed_redeem(economy, code, "KidPlayer")
    assert first.status == 200, first.body
    assert first.body["replayed"] is False and first.body["player_id"] == "KidPlayer"
    assert first.body["order"]["status"] == "fulfilled" and "balance" not in first.body["order"]
    second = signed_redeem(economy, code.lower().replace("-", ""), "SomeoneElse")
    assert second.status == 200 and second.body["replayed"] is True and second.body["player_id"] == "KidPlayer"
    assert second.headers["idempotent-replayed"] == "true"
    assert wallet(economy, "kid") == {"available": 300, "held": 0, "earnings": 0} and treasury(economy) == 200
    assert signed_redeem(economy, "AAAA-BBBB-CCCC-DDDD", "x").code == "voucher_not_found"
    economy.check()


def test_expired_voucher_is_refunded_and_cannot_be_redeemed(economy, plugin) -> None:
    economy.credit("late", 500)
    put_reward(economy, "pet", price=120, fulfilment="voucher", stock=3, daily_limit=1)
    placed = buy(economy, "late", "pet")
    assert buy(economy, "late", "pet").code == "limit_reached"
    report = run_job("expire-vouchers", economy=economy.id, now=FAR_FUTURE)
    assert report["resolved"] == 1, report
    final = order(economy, placed.body["order_id"])
    assert final["status"] == "refunded" and final["resolution"] == "order-expire"
    assert wallet(economy, "late") == {"available": 500, "held": 0, "earnings": 0}
    assert economy.api.get("/v1/admin/rewards/pet").body["stock"] == 3  # the unit went back
    again = signed_redeem(economy, placed.body["voucher_code"], "LatePlayer")
    assert again.code == "voucher_not_redeemable" and again.body["error"]["details"]["status"] == "refunded"
    assert run_job("expire-vouchers", economy=economy.id, now=FAR_FUTURE)["processed"] == 0
    assert buy(economy, "late", "pet").status == 201  # the refunded unit no longer counts towards today's limit
    economy.check()


def test_a_shop_items_daily_limit_resets_at_utc_midnight(economy, plugin, clock: Clock) -> None:
    economy.credit("night", 1000)
    put_reward(economy, "rune", price=100, fulfilment="voucher", daily_limit=2)
    clock.set(at("2025-06-01T23:59:59.999Z"))  # the last millisecond of 1 June, UTC
    assert buy(economy, "night", "rune").status == 201
    assert buy(economy, "night", "rune").status == 201
    refused = buy(economy, "night", "rune")
    assert refused.code == "limit_reached"
    details = refused.body["error"]["details"]
    assert (details["day"], details["limit"], details["bought"], details["left"]) == ("2025-06-01", 2, 2, 0)
    clock.set(at("2025-06-02T00:00:00.000Z"))  # one millisecond on: a new UTC day, a new count
    assert buy(economy, "night", "rune").status == 201
    assert buy(economy, "night", "rune").status == 201
    again = buy(economy, "night", "rune")
    assert again.code == "limit_reached" and again.body["error"]["details"]["day"] == "2025-06-02"
    # 4 bought at 100 each, every one a voucher still waiting to be redeemed
    assert wallet(economy, "night") == {"available": 600, "held": 400, "earnings": 0}
    economy.check()


def test_cancelling_a_voucher_order_refunds_it(economy, plugin) -> None:
    economy.credit("u", 300)
    put_reward(economy, "hat", price=100, fulfilment="voucher", category="cosmetic")
    put_reward(economy, "rank", price=100)
    voucher = buy(economy, "u", "hat").body
    api_order = buy(economy, "u", "rank").body
    cancelled = economy.api.post(f"/v1/orders/{voucher['order_id']}/cancel")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    assert economy.api.post(f"/v1/orders/{voucher['order_id']}/cancel").code == "order_not_pending"
    assert economy.api.post(f"/v1/orders/{api_order['order_id']}/cancel").code == "order_not_cancellable"
    assert signed_redeem(economy, voucher["voucher_code"], "p").code == "voucher_not_redeemable"
    wait_resolved(economy, api_order["order_id"])
    assert wallet(economy, "u")["available"] == 200
    economy.check()


def test_listings_expire_and_return_unsold_units(economy) -> None:
    put_reward(economy, "gem", fulfilment="voucher")
    first = list_item(economy, "miner", "gem", qty=7, unit_price=50).body
    second = list_item(economy, "miner", "gem", qty=2, unit_price=55).body
    cancelled = economy.api.post(f"/v1/listings/{second['listing_id']}/cancel", {"seller_id": "miner"})
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled" and cancelled.body["unsold"] == 2
    report = run_job("expire-listings", economy=economy.id, now=FAR_FUTURE)
    assert report["expired"] == 1 and report["units_returned"] == 7
    # Returned means the closed listing keeps its 7 unsold units as the seller's, and none is for sale any more.
    closed = economy.api.get(f"/v1/listings/{first['listing_id']}").body
    assert (closed["status"], closed["sold"], closed["units_left"], closed["unsold"]) == ("expired", 0, 7, 7)
    assert economy.api.get("/v1/listings?sku=gem&status=active").body["items"] == []
    assert run_job("expire-listings", economy=economy.id, now=FAR_FUTURE)["processed"] == 0
    page = economy.api.get("/v1/listings?sku=gem&status=expired").body
    assert [x["listing_id"] for x in page["items"]] == [first["listing_id"]]
    economy.credit("late", 100)
    assert buy_listing(economy, first["listing_id"], "late").code == "listing_not_active"
    assert wallet(economy, "late")["available"] == 100


def test_pricing_rollup_feeds_the_floor_and_the_fee_bands(economy, plugin) -> None:
    economy.credit("b", 100_000)
    put_reward(economy, "ore", price=100, fulfilment="voucher")
    for price, qty in ((100, 3), (120, 1), (80, 2)):  # unit-weighted median of 80,80,100,100,100,120 = 100
        listing = list_item(economy, "s", "ore", qty=qty, unit_price=price).body
        placed = buy_listing(economy, listing["listing_id"], "b", qty=qty).body
        assert signed_redeem(economy, placed["voucher_code"], "B").status == 200
    report = run_job("pricing-rollup")
    assert report.get("recomputed", 0) >= 1, report
    prices = economy.api.get("/v1/market/prices/ore").body
    assert (prices["median_7d"], prices["avg_7d"], prices["units_7d"], prices["volume_24h"]) == (100, 96, 6, 6)
    assert prices["price_floor"] == 50 and prices["history"][0]["median_7d"] == 100

    refused = list_item(economy, "s", "ore", qty=1, unit_price=49)
    assert refused.code == "below_price_floor" and refused.body["error"]["details"]["floor"] == 50
    cheap = list_item(economy, "s", "ore", qty=20, unit_price=50).body  # 50 < 0.9 * 96: undercut, not scarce
    assert (cheap["fee"]["band"], cheap["fee_bps"]) == ("undercut", 600)
    steep = list_item(economy, "s", "ore", qty=1, unit_price=300).body  # > 2 x 96, 21 units listed
    assert (steep["fee"]["band"], steep["fee_bps"]) == ("far_over", 1600)
    economy.check()


def test_a_listing_shows_units_left_and_available_as_the_same_number_everywhere(economy, plugin) -> None:
    """``units_left`` is the listing's name for its units; ``available`` stays as its alias in every response."""
    economy.credit("buyer", 1000)
    put_reward(economy, "gem", price=100, fulfilment="voucher")
    listed = list_item(economy, "seller", "gem", qty=5, unit_price=100, min_per_buyer=2)
    assert listed.status == 201, listed.body
    listing_id = listed.body["listing_id"]
    assert listed.body["units_left"] == listed.body["available"] == 5
    assert buy_listing(economy, listing_id, "buyer", qty=2).status == 201
    one = economy.api.get(f"/v1/listings/{listing_id}").body
    assert one["units_left"] == one["available"] == 3
    page = economy.api.get("/v1/listings?sku=gem").body["items"]
    assert [(i["units_left"], i["available"]) for i in page] == [(3, 3)]
    too_many = buy_listing(economy, listing_id, "buyer", qty=4)
    details = too_many.body["error"]["details"]
    assert too_many.code == "out_of_stock" and details["units_left"] == details["available"] == 3
    too_few = buy_listing(economy, listing_id, "buyer", qty=1)
    details = too_few.body["error"]["details"]
    assert too_few.code == "below_min_per_buyer" and details["units_left"] == details["available"] == 3
    cancelled = economy.api.post(f"/v1/listings/{listing_id}/cancel")
    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["units_left"] == cancelled.body["available"] == cancelled.body["unsold"] == 3
    closed = buy_listing(economy, listing_id, "buyer", qty=3)
    shown = closed.body["error"]["details"]["listing"]
    assert closed.code == "listing_not_active" and shown["units_left"] == shown["available"] == 3
    economy.check()
