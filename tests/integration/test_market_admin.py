"""Operators on the market: list orders, refund or force-fulfil one, cancel a listing; each audited, each once."""
from __future__ import annotations

import uuid
from typing import Any, Dict, Optional

import pytest

from chalicelib.runtime import queue
from tests.conftest import Economy
from tests.edge_helpers import changed_tables, economy_records
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    buy, buy_listing, list_item, order, plugin, put_reward, use_plugin, wait_resolved,
)

pytestmark = pytest.mark.integration


def key() -> str:
    return f"op-{uuid.uuid4().hex}"


def wallet(e: Economy, user: str) -> Dict[str, Any]:
    return e.api.get(f"/v1/users/{user}/wallet", token=e.read_token).body


def audit(e: Economy, action: str) -> list:
    return [r for r in e.api.get("/v1/admin/audit?limit=50").body["items"] if r["action"] == action]


@pytest.fixture
def shop(economy: Economy) -> Economy:
    economy.credit("buyer", 1000)
    put_reward(economy, "pet", price=100, fulfilment="voucher", category="cosmetic", stock=5)
    return economy


def test_an_operator_refunds_a_pending_order_once(shop: Economy) -> None:
    placed = buy(shop, "buyer", "pet").body
    assert wallet(shop, "buyer")["available"] == 900
    idem = key()
    refunded = shop.api.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "wrong item"}, key=idem)
    assert refunded.status in (200, 201), refunded.body
    assert refunded.body["status"] == "refunded" and refunded.headers["idempotent-replayed"] == "false"
    assert wallet(shop, "buyer")["available"] == 1000
    again = shop.api.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "wrong item"}, key=idem)
    assert again.headers["idempotent-replayed"] == "true" and again.body["status"] == "refunded"
    other = shop.api.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "again"}, key=key())
    assert (other.status, other.code) == (409, "order_not_pending")
    assert wallet(shop, "buyer")["available"] == 1000
    [row] = audit(shop, "order.refund")
    assert (row["reason"], row["role"], row["after"]) == ("wrong item", "SUPERADMIN", {"status": "refunded"})
    assert row["extra"]["transaction_id"] == refunded.body["transaction_id"]
    # The unit went back on the shelf.
    assert shop.api.get("/v1/admin/rewards/pet").body["stock"] == 5
    shop.check()


def test_an_operator_marks_a_voucher_order_delivered_and_the_treasury_is_paid(shop: Economy) -> None:
    placed = buy(shop, "buyer", "pet").body
    done = shop.api.post(f"/v1/admin/orders/{placed['order_id']}/fulfil",
                         {"mode": "delivered", "reason": "handed out in game by a moderator"}, key=key())
    assert done.status in (200, 201), done.body
    got = order(shop, placed["order_id"])
    assert (got["status"], got["resolution"]) == ("fulfilled", "fulfilled:operator")
    assert wallet(shop, "buyer")["available"] == 900 and wallet(shop, "buyer")["held"] == 0
    [row] = audit(shop, "order.fulfil")
    assert row["extra"]["mode"] == "delivered" and row["reason"] == "handed out in game by a moderator"
    requeue = shop.api.post(f"/v1/admin/orders/{placed['order_id']}/fulfil", {"mode": "requeue", "reason": "x"},
                            key=key())
    assert (requeue.status, requeue.code) == (409, "order_not_requeueable")
    shop.check()


def test_a_requeued_delivery_is_one_more_try_and_spends_no_retry(shop: Economy, monkeypatch) -> None:
    from tests.market_helpers import PluginStandIn

    from chalicelib.market import orders

    with PluginStandIn() as plugin:
        use_plugin(monkeypatch, plugin)
        put_reward(shop, "rank", price=50, fulfilment="api", category="rank")
        # The delivery was never queued (the queue refused it; the placing request only logs that): the
        # order would wait, its coins escrowed, until its deadline refunds it.
        with monkeypatch.context() as lost:
            lost.setattr(orders, "queue_delivery", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("queue down")))
            placed = buy(shop, "buyer", "rank").body
        assert queue.drain(20)
        got = order(shop, placed["order_id"])
        assert got["status"] == "pending" and got["attempts"] == 0 and plugin.deliveries[placed["order_id"]] == 0
        idem = key()
        queued = shop.api.post(f"/v1/admin/orders/{placed['order_id']}/fulfil", {"mode": "requeue", "reason": "fixed"},
                               key=idem)
        assert queued.status == 200, queued.body
        final = wait_resolved(shop, placed["order_id"])
        assert final["status"] == "fulfilled" and plugin.deliveries[placed["order_id"]] == 1
        replay = shop.api.post(f"/v1/admin/orders/{placed['order_id']}/fulfil", {"mode": "requeue", "reason": "fixed"},
                               key=idem)
        assert replay.status == 200 and replay.headers["idempotent-replayed"] == "true"
        assert queue.drain(20)
        assert plugin.deliveries[placed["order_id"]] == 1
        assert len(audit(shop, "order.requeue")) == 1
        late = shop.api.post(f"/v1/admin/orders/{placed['order_id']}/fulfil", {"mode": "requeue", "reason": "x"},
                             key=key())
        assert (late.status, late.code) == (409, "order_not_pending")
    shop.check()


def test_the_economys_orders_newest_first_with_filters_and_pages(shop: Economy) -> None:
    shop.credit("other", 500)
    made = [buy(shop, "buyer" if i % 2 else "other", "pet").body["order_id"] for i in range(4)]
    shop.api.post(f"/v1/admin/orders/{made[0]}/refund", {"reason": "r"}, key=key())
    first = shop.api.get("/v1/admin/orders?limit=3").body
    rest = shop.api.get(f"/v1/admin/orders?limit=3&cursor={first['next_cursor']}").body
    assert [o["order_id"] for o in first["items"] + rest["items"]] == made[::-1] and rest["next_cursor"] is None
    pending = shop.api.get("/v1/admin/orders?status=pending").body["items"]
    assert sorted(o["order_id"] for o in pending) == sorted(made[1:])
    mine = shop.api.get("/v1/admin/orders?buyer_id=other").body["items"]
    assert [o["order_id"] for o in mine] == [made[2], made[0]]
    assert shop.api.get(f"/v1/admin/orders/{made[1]}").body["order_id"] == made[1]


def test_an_operator_cancels_a_listing_with_its_audit_row_and_only_once(shop: Economy) -> None:
    listed = list_item(shop, "seller", "pet", qty=2, unit_price=60).body
    cancelled = shop.api.post(f"/v1/admin/listings/{listed['listing_id']}/cancel", {"reason": "scam report"})
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    [row] = audit(shop, "listing.cancel")
    assert row["extra"]["seller_id"] == "seller" and row["before"]["units_left"] == 2
    before = economy_records(shop.id)
    again = shop.api.post(f"/v1/admin/listings/{listed['listing_id']}/cancel", {"reason": "twice"})
    assert (again.status, again.code) == (409, "listing_not_active")
    assert changed_tables(before, economy_records(shop.id)) == {}  # no second audit row either
    assert shop.api.get(f"/v1/admin/listings/{listed['listing_id']}").body["status"] == "cancelled"
    assert [x["listing_id"] for x in shop.api.get("/v1/admin/listings?status=cancelled").body["items"]] == \
        [listed["listing_id"]]


@pytest.mark.parametrize("path,body,code", [
    ("/v1/admin/orders/ord_NOPE/refund", {"reason": "r"}, "validation_error"),
    ("/v1/admin/orders/ord_01ARZ3NDEKTSV4RRFFQ69G5FAV/refund", {"reason": "r"}, "order_not_found"),
    ("/v1/admin/orders/{order}/fulfil", {"mode": "teleport", "reason": "r"}, "validation_error"),
    ("/v1/admin/orders/{order}/fulfil", {"mode": "delivered"}, "reason_required"),
    ("/v1/admin/orders/{order}/refund", {"reason": "   "}, "reason_required"),
    ("/v1/admin/listings/lst_01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel", {"reason": "r"}, "listing_not_found"),
], ids=["bad-id", "unknown-order", "bad-mode", "no-reason", "blank-reason", "unknown-listing"])
def test_bad_input_changes_nothing(shop: Economy, path: str, body: Dict[str, Any], code: str) -> None:
    placed = buy(shop, "buyer", "pet").body
    before = economy_records(shop.id)
    resp = shop.api.post(path.replace("{order}", placed["order_id"]), body, key=key(),
                         headers={"X-Audit-Reason": None})
    assert resp.code == code, resp.body
    assert 400 <= resp.status < 500
    assert changed_tables(before, economy_records(shop.id)) == {}
    assert order(shop, placed["order_id"])["status"] == "pending"


# -- repricing a listing ----------------------------------------------------------------------


def _reprice(e: Economy, listing_id: str, unit_price: Any, reason: Optional[str] = "market manipulation") -> Any:
    body: Dict[str, Any] = {"unit_price": unit_price}
    if reason is not None:
        body["reason"] = reason
    return e.api.put(f"/v1/admin/listings/{listing_id}/price", body, headers={"X-Audit-Reason": None})


def test_an_operator_reprices_a_listing_later_sales_pay_the_new_price_and_placed_orders_keep_theirs(
        shop: Economy) -> None:
    listed = list_item(shop, "seller", "pet", qty=3, unit_price=100).body
    first = buy_listing(shop, listed["listing_id"], "buyer").body
    assert first["unit_price"] == 100 and wallet(shop, "buyer")["held"] == 100
    changed = _reprice(shop, listed["listing_id"], 40)
    assert changed.status == 200, changed.body
    assert (changed.body["unit_price"], changed.body["units_left"]) == (40, 2)
    assert changed.body["repriced_at"] is not None
    [row] = audit(shop, "listing.reprice")
    assert (row["before"]["unit_price"], row["after"]["unit_price"], row["reason"]) == (100, 40, "market manipulation")
    assert row["extra"] == {"seller_id": "seller", "sku": "pet"}
    second = buy_listing(shop, listed["listing_id"], "buyer").body
    assert (second["unit_price"], second["total"]) == (40, 40)
    assert order(shop, first["order_id"])["unit_price"] == 100  # placed before: its terms stand
    assert wallet(shop, "buyer")["held"] == 140
    # The same price again changes nothing and writes no audit row.
    before = economy_records(shop.id)
    same = _reprice(shop, listed["listing_id"], 40)
    assert same.status == 200 and same.body["repriced_at"] == changed.body["repriced_at"]
    assert changed_tables(before, economy_records(shop.id)) == {}
    shop.check()


def test_a_buy_that_read_the_old_price_is_refused_not_placed_at_it(shop: Economy, monkeypatch) -> None:
    """The reprice commits between the buy's read of the listing and its transaction."""
    from chalicelib.market import listings

    listed = list_item(shop, "seller", "pet", qty=2, unit_price=100).body
    real = listings.find_listing
    stale = real(shop.id, listed["listing_id"])

    def read_then_repriced(economy: str, listing_id: str):
        monkeypatch.setattr(listings, "find_listing", real)  # the reprice itself reads the listing as it is
        assert _reprice(shop, listing_id, 150).status == 200
        return stale

    monkeypatch.setattr(listings, "find_listing", read_then_repriced)
    before = wallet(shop, "buyer")
    refused = buy_listing(shop, listed["listing_id"], "buyer")
    assert (refused.status, refused.code) == (409, "price_changed"), refused.body
    assert refused.body["error"]["details"]["unit_price"] == 150
    assert wallet(shop, "buyer") == before
    assert shop.api.get(f"/v1/admin/listings/{listed['listing_id']}").body["units_left"] == 2
    again = buy_listing(shop, listed["listing_id"], "buyer").body
    assert again["unit_price"] == 150
    shop.check()


def test_a_buyer_who_names_the_price_they_saw_is_refused_after_a_reprice(shop: Economy) -> None:
    """``expected_price`` on a listing buy: the shop order's guard, kept by the listing's own condition."""
    listed = list_item(shop, "seller", "pet", qty=3, unit_price=100).body
    listing_id, first_key = listed["listing_id"], key()
    first = buy_listing(shop, listing_id, "buyer", idem=first_key, expected_price=100)
    assert (first.status, first.body["unit_price"], first.body["total"]) == (201, 100, 100), first.body
    assert _reprice(shop, listing_id, 150).status == 200
    before = economy_records(shop.id)
    stale = buy_listing(shop, listing_id, "buyer", expected_price=100)
    assert (stale.status, stale.code) == (409, "price_changed"), stale.body
    assert stale.body["error"]["details"]["unit_price"] == 150
    assert changed_tables(before, economy_records(shop.id)) == {}  # no coins held, no unit taken, no order
    # The first purchase replays with its own key and body, whatever the listing asks now.
    again = buy_listing(shop, listing_id, "buyer", idem=first_key, expected_price=100)
    assert (again.status, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.body["order_id"] == first.body["order_id"]
    # The price is part of the request, as a shop order's: the same key at another price is another request.
    other = buy_listing(shop, listing_id, "buyer", idem=first_key, expected_price=150)
    assert (other.status, other.code) == (409, "idempotency_key_reused"), other.body
    assert changed_tables(before, economy_records(shop.id)) == {}
    current = buy_listing(shop, listing_id, "buyer", expected_price=150)
    assert (current.status, current.body["unit_price"]) == (201, 150), current.body
    assert wallet(shop, "buyer")["held"] == 250
    shop.check()


def test_a_reprice_keeps_the_price_floor_and_works_out_the_fee_again(economy: Economy, plugin) -> None:
    from tests.market_helpers import run_job, signed_redeem

    economy.credit("b", 100_000)
    put_reward(economy, "ore", price=100, fulfilment="voucher")
    for price, qty in ((100, 3), (120, 1), (80, 2)):  # a 7-day median of 100, average 96
        listing = list_item(economy, "s", "ore", qty=qty, unit_price=price).body
        placed = buy_listing(economy, listing["listing_id"], "b", qty=qty).body
        assert signed_redeem(economy, placed["voucher_code"], "B").status == 200
    run_job("pricing-rollup")
    listed = list_item(economy, "s", "ore", qty=1, unit_price=100).body
    assert listed["fee"]["band"] == "market"
    before = economy_records(economy.id)
    low = _reprice(economy, listed["listing_id"], 49)
    assert (low.status, low.code) == (422, "below_price_floor") and low.body["error"]["details"]["floor"] == 50
    assert changed_tables(before, economy_records(economy.id)) == {}
    steep = _reprice(economy, listed["listing_id"], 300).body  # > 2 x the average
    assert (steep["fee"]["band"], steep["unit_price"]) == ("far_over", 300) and steep["fee_bps"] > listed["fee_bps"]
    economy.check()


def test_racing_reprices_each_commit_against_the_price_they_read(shop: Economy) -> None:
    from concurrent.futures import ThreadPoolExecutor

    listed = list_item(shop, "seller", "pet", qty=1, unit_price=100).body
    prices = [101 + i for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda p: _reprice(shop, listed["listing_id"], p), prices))
    won = [a for a in answers if a.status == 200]
    # Past its tries a loser is 409 contention, having changed nothing.
    assert all((a.status, a.code) == (409, "contention") for a in answers if a.status != 200), answers
    assert won
    rows = audit(shop, "listing.reprice")
    assert len(rows) == len(won)
    # A chain: each change starts from the price the one before it left, never from a stale read.
    chain = {row["before"]["unit_price"]: row["after"]["unit_price"] for row in rows}
    price, seen = 100, 0
    while price in chain:
        price, seen = chain[price], seen + 1
    assert seen == len(won)
    assert shop.api.get(f"/v1/admin/listings/{listed['listing_id']}").body["unit_price"] == price


@pytest.mark.parametrize("target,body,status,code", [
    ("unknown", {"unit_price": 10, "reason": "r"}, 404, "listing_not_found"),
    ("bad-id", {"unit_price": 10, "reason": "r"}, 400, "validation_error"),
    ("listing", {"unit_price": 0, "reason": "r"}, 400, "validation_error"),
    ("listing", {"unit_price": "10", "reason": "r"}, 400, "validation_error"),
    ("listing", {"unit_price": 10 ** 10, "reason": "r"}, 400, "validation_error"),
    ("listing", {"unit_price": 10}, 400, "reason_required"),
    ("listing", {"unit_price": 10, "reason": "r", "fee_bps": 0}, 400, "validation_error"),
    ("cancelled", {"unit_price": 10, "reason": "r"}, 409, "listing_not_active"),
], ids=["unknown", "bad-id", "zero", "string", "too-big", "no-reason", "extra-field", "cancelled"])
def test_a_bad_reprice_changes_nothing(shop: Economy, target: str, body: Dict[str, Any], status: int,
                                       code: str) -> None:
    listed = list_item(shop, "seller", "pet", qty=1, unit_price=100).body
    cancelled = list_item(shop, "seller", "pet", qty=1, unit_price=100).body
    assert shop.api.post(f"/v1/admin/listings/{cancelled['listing_id']}/cancel", {"reason": "r"}).status == 200
    listing_id = {"unknown": "lst_01ARZ3NDEKTSV4RRFFQ69G5FAV", "bad-id": "nope", "listing": listed["listing_id"],
                  "cancelled": cancelled["listing_id"]}[target]
    before = economy_records(shop.id)
    resp = shop.api.put(f"/v1/admin/listings/{listing_id}/price", body, headers={"X-Audit-Reason": None})
    assert (resp.status, resp.code) == (status, code), resp.body
    assert changed_tables(before, economy_records(shop.id)) == {}
