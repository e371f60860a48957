"""Operators on the market: list orders, refund or force-fulfil one, cancel a listing; each audited, each once."""
from __future__ import annotations

import uuid
from typing import Any, Dict

import pytest

from chalicelib.runtime import queue
from tests.conftest import Economy
from tests.edge_helpers import changed_tables, economy_records
from tests.market_helpers import buy, list_item, order, put_reward, use_plugin, wait_resolved

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
