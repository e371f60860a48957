"""Buying coins: checkout, Stripe's webhooks (real signature scheme), refunds and disputes.

Runs in the local-payments mode (no STRIPE_SECRET_KEY): checkout gives a local
payment page; the webhook path is the real one.
"""
from __future__ import annotations

import itertools
import json
import logging
import time

import pytest

from tests import purchase_helpers as ph

pytestmark = pytest.mark.integration


def buy(economy, user="alice", pack="coins_100", key=None):
    resp = economy.api.post("/v1/checkout", {"user_id": user, "pack_id": pack}, key=key)
    assert resp.status in (200, 201), resp.body
    return resp.body


def wallet(economy, user="alice"):
    resp = economy.api.get(f"/v1/users/{user}/wallet")
    return resp.body if resp.status == 200 else None


def status(economy, purchase):
    return economy.api.get(f"/v1/purchases/{purchase['purchase_id']}").body


def test_checkout_creates_a_pending_purchase_with_a_local_payment_page(shop) -> None:
    resp = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_500"})
    assert resp.status == 201
    body = resp.body
    assert body["status"] == "pending" and body["total_coins"] == 550
    assert body["price"] == {"amount": 4499, "currency": "usd"}
    assert body["session_id"].startswith("cs_local_")
    assert body["checkout_url"].endswith(f"/local/checkout/{body['purchase_id']}")
    assert status(shop, body)["status"] == "pending"
    assert wallet(shop) is None  # no money before Stripe says so


def test_checkout_is_idempotent_by_key(shop) -> None:
    first = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}, key="buy-1")
    again = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}, key="buy-1")
    other = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_500"}, key="buy-1")
    assert (first.status, again.status, other.status) == (201, 200, 409)
    assert again.body["purchase_id"] == first.body["purchase_id"]
    assert again.headers["idempotent-replayed"] == "true" and other.code == "idempotency_key_reused"


@pytest.mark.parametrize("body,status,code", [
    ({"user_id": "alice", "pack_id": "nope"}, 404, "pack_not_found"),
    ({"user_id": "alice"}, 400, "validation_error"),
    ({"user_id": "a b", "pack_id": "coins_100"}, 400, "validation_error"),
    ({"user_id": "alice", "pack_id": "coins_100", "success_url": "javascript:alert(1)"}, 400, "validation_error"),
    ({"user_id": "alice", "pack_id": "coins_100", "coins": 5}, 400, "validation_error"),
])
def test_bad_checkouts_are_refused(shop, body, status, code) -> None:
    resp = shop.api.post("/v1/checkout", body)
    assert (resp.status, resp.code) == (status, code)


def test_frozen_users_cannot_buy(shop) -> None:
    shop.credit("alice", 1)
    assert shop.api.post("/v1/admin/users/alice/freeze", {"reason": "fraud check"}).status == 200
    resp = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"})
    assert (resp.status, resp.code) == (422, "account_frozen")


def test_read_key_cannot_checkout_and_other_economies_cannot_see_purchases(shop, chalice_client) -> None:
    from tests.conftest import _economy

    purchase = buy(shop)
    assert shop.api.post("/v1/checkout", {"user_id": "a", "pack_id": "coins_100"}, token=shop.read_token).status == 403
    other = _economy(chalice_client)
    assert other.api.get(f"/v1/purchases/{purchase['purchase_id']}").code == "purchase_not_found"


def test_a_paid_completion_credits_once_with_a_receipt(shop) -> None:
    purchase = buy(shop, pack="coins_500")
    evt = ph.completed(purchase)
    first = ph.deliver(shop.api, evt)
    assert first.status == 200 and first.body["outcome"] == "paid"
    assert ph.deliver(shop.api, evt).body == {"received": True, "duplicate": True}
    # Stripe may also send async_payment_succeeded for the same session: still one credit.
    assert ph.deliver(shop.api, ph.session_event("checkout.session.async_payment_succeeded", purchase)).status == 200
    assert wallet(shop)["available"] == 550
    view = status(shop, purchase)
    assert view["status"] == "credited" and view["credited_at"]
    entry = shop.api.get("/v1/users/alice/transactions").body["items"][0]
    assert entry["type"] == "purchase" and entry["amount"] == 550
    assert entry["details"] == {"purchase_id": purchase["purchase_id"], "pack_id": "coins_500",
                                "pack_name": "500 coins +10%", "coins": 500, "bonus_coins": 50,
                                "price_amount": 4499, "currency": "usd"}
    shop.check()


@pytest.mark.parametrize("field,value", [("amount_total", 1), ("currency", "eur"), ("id", "cs_someone_else")])
def test_a_session_that_does_not_match_is_not_credited_and_alerts(shop, caplog, field, value) -> None:
    purchase = buy(shop)
    # Chalice's app logger ("coinhall") does not propagate to the root, where caplog listens.
    logger = logging.getLogger("coinhall.purchases")
    logger.addHandler(caplog.handler)
    try:
        resp = ph.deliver(shop.api, ph.completed(purchase, **{field: value}))
    finally:
        logger.removeHandler(caplog.handler)
    assert resp.status == 200 and resp.body["outcome"] == "mismatch"
    assert any(purchase["purchase_id"] in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert wallet(shop) is None
    assert status(shop, purchase)["status"] == "pending"


def test_async_payments_credit_on_success_and_fail_on_failure(shop) -> None:
    ok, bad = buy(shop), buy(shop, user="bob")
    assert ph.deliver(shop.api, ph.completed(ok, payment_status="unpaid")).body["outcome"] == "awaiting_payment"
    assert wallet(shop) is None
    ph.deliver(shop.api, ph.session_event("checkout.session.async_payment_succeeded", ok))
    assert wallet(shop)["available"] == 100
    ph.deliver(shop.api, ph.completed(bad, payment_status="unpaid"))
    ph.deliver(shop.api, ph.session_event("checkout.session.async_payment_failed", bad, payment_status="unpaid"))
    assert status(shop, bad)["status"] == "failed" and wallet(shop, "bob") is None


def test_expiry_then_a_late_payment_still_credits(shop) -> None:
    purchase = buy(shop)
    ph.deliver(shop.api, ph.session_event("checkout.session.expired", purchase, status="expired",
                                          payment_status="unpaid"))
    assert status(shop, purchase)["status"] == "expired"
    ph.deliver(shop.api, ph.completed(purchase))
    assert status(shop, purchase)["status"] == "credited" and wallet(shop)["available"] == 100


def test_unknown_events_are_acknowledged_and_ignored(shop) -> None:
    resp = ph.deliver(shop.api, ph.event("customer.created", {"id": "cus_1"}))
    assert resp.status == 200 and resp.body["outcome"] == "ignored"


class TestSignatures:
    def test_valid_signature(self, shop) -> None:
        assert ph.deliver(shop.api, ph.event("customer.created", {})).status == 200

    @pytest.mark.parametrize("case", ["wrong_secret", "stale", "tampered", "missing", "garbage", "no_v1"])
    def test_bad_signatures_are_400_and_change_nothing(self, shop, case) -> None:
        purchase = buy(shop)
        evt = ph.completed(purchase)
        body = json.dumps(evt)
        kwargs = {
            "wrong_secret": {"secret": "whsec_not_ours"},
            "stale": {"timestamp": int(time.time()) - 301},
            "tampered": {"payload": body.replace('"amount_total": 999', '"amount_total": 1')},
            "missing": {"header": ""},
            "garbage": {"header": "t=abc,v1=zz"},
            "no_v1": {"header": f"t={int(time.time())},v0=abc"},
        }[case]
        resp = ph.deliver(shop.api, evt, **kwargs)
        assert (resp.status, resp.code) == (400, "invalid_signature")
        assert wallet(shop) is None and status(shop, purchase)["status"] == "pending"
        assert ph.deliver(shop.api, evt).body["outcome"] == "paid"  # the real delivery still works

    def test_rotation_accepts_either_secret_and_several_v1_signatures(self, shop, monkeypatch) -> None:
        from chalicelib.core import config

        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_old,whsec_new")
        config.reset_settings()
        for secret in ("whsec_old", "whsec_new"):
            assert ph.deliver(shop.api, ph.event("customer.created", {}), secret=secret).status == 200
        evt = ph.event("customer.created", {})
        body = json.dumps(evt)
        now = int(time.time())
        header = ph.signature(body, "whsec_unknown", now) + "," + ph.signature(body, "whsec_new", now).split(",")[1]
        assert ph.deliver(shop.api, evt, header=header).status == 200


def test_refund_after_spend_takes_what_is_left_records_debt_and_freezes(shop) -> None:
    purchase = buy(shop)  # 100 coins for 9.99
    ph.deliver(shop.api, ph.completed(purchase))
    assert shop.api.post("/v1/users/alice/spend", {"amount": 70, "reason": "sword"}, key="s1").status == 200
    ph.deliver(shop.api, ph.refunded(purchase, 999))
    w = wallet(shop)
    assert (w["available"], w["debt"], w["frozen"]) == (0, 70, True)
    view = status(shop, purchase)
    assert view["status"] == "refunded" and view["clawed_back_coins"] == 100 and view["debt_coins"] == 70
    spend = shop.api.post("/v1/users/alice/spend", {"amount": 1, "reason": "x"}, key="s2")
    assert spend.code == "account_frozen"
    shop.check()
    # An operator credits and settles the debt: the wallet thaws.
    shop.credit("alice", 100)
    settled = shop.api.post("/v1/admin/users/alice/settle-debt", key="settle-1")
    assert settled.status == 200 and settled.body["paid"] == 70 and settled.body["debt"] == 0
    w = wallet(shop)
    assert (w["available"], w["debt"], w["frozen"]) == (30, 0, False)
    assert shop.api.post("/v1/admin/users/alice/settle-debt", key="settle-2").code == "no_debt"
    shop.check()


def test_partial_refunds_claw_back_proportionally_rounded_up(shop) -> None:
    purchase = buy(shop, pack="coins_500")  # 550 coins for 44.99
    ph.deliver(shop.api, ph.completed(purchase))
    ph.deliver(shop.api, ph.refunded(purchase, 1000))  # 10.00 of 44.99 -> ceil(550*1000/4499) = 123
    assert wallet(shop)["available"] == 550 - 123
    ph.deliver(shop.api, ph.refunded(purchase, 500))  # stale, smaller: changes nothing
    assert wallet(shop)["available"] == 550 - 123
    ph.deliver(shop.api, ph.refunded(purchase, 4499))
    assert wallet(shop)["available"] == 0 and wallet(shop)["debt"] == 0
    shop.check()


def test_dispute_freezes_and_holds_then_lost_claws_back(shop) -> None:
    purchase = buy(shop)
    ph.deliver(shop.api, ph.completed(purchase))
    shop.api.post("/v1/users/alice/spend", {"amount": 40, "reason": "x"}, key="s1")
    ph.deliver(shop.api, ph.dispute(purchase))
    w = wallet(shop)
    assert (w["available"], w["held"], w["frozen"]) == (0, 60, True)
    assert status(shop, purchase)["status"] == "disputed"
    ph.deliver(shop.api, ph.dispute(purchase, closed="lost"))
    w = wallet(shop)
    assert (w["available"], w["held"], w["debt"], w["frozen"]) == (0, 0, 40, True)
    shop.check()


def test_dispute_won_releases_and_unfreezes(shop) -> None:
    purchase = buy(shop)
    ph.deliver(shop.api, ph.completed(purchase))
    ph.deliver(shop.api, ph.dispute(purchase))
    ph.deliver(shop.api, ph.dispute(purchase, closed="won"))
    w = wallet(shop)
    assert (w["available"], w["held"], w["frozen"]) == (100, 0, False)
    assert status(shop, purchase)["status"] == "credited"
    shop.check()


def test_refund_before_completion_ends_as_if_in_order(shop) -> None:
    early = buy(shop)
    ph.deliver(shop.api, ph.refunded(early, 999, with_metadata=False))  # cannot be placed yet: parked
    assert wallet(shop) is None
    ph.deliver(shop.api, ph.completed(early))
    w = wallet(shop)
    assert (w["available"], w["debt"]) == (0, 0)
    assert status(shop, early)["status"] == "refunded"
    shop.check()


def _final_state(economy, user, purchase):
    w = wallet(economy, user)
    view = status(economy, purchase)
    return (w["available"], w["held"], w["debt"], w["frozen"], view["status"], view["clawed_back_coins"])


def test_every_order_of_the_same_events_ends_in_the_same_state(shop) -> None:
    """completed, partial refund, dispute opened and won: all 24 orders agree."""
    states = set()
    for i, order in enumerate(itertools.permutations(range(4))):
        user = f"perm{i}"
        purchase = buy(shop, user=user, pack="coins_500")
        events = [ph.completed(purchase), ph.refunded(purchase, 2000), ph.dispute(purchase),
                  ph.dispute(purchase, closed="won")]
        for index in order:
            assert ph.deliver(shop.api, events[index]).status == 200
        states.add(_final_state(shop, user, purchase))
    assert states == {(550 - 245, 0, 0, False, "refunded", 245)}
    shop.check()


def test_lost_dispute_in_any_order_ends_the_same(shop) -> None:
    states = set()
    for i, order in enumerate(itertools.permutations(range(3))):
        user = f"lost{i}"
        purchase = buy(shop, user=user)
        events = [ph.completed(purchase), ph.dispute(purchase), ph.dispute(purchase, closed="lost")]
        for index in order:
            ph.deliver(shop.api, events[index])
        states.add(_final_state(shop, user, purchase))
    assert states == {(0, 0, 0, True, "disputed", 100)}
    shop.check()


class TestPackAdmin:
    def test_put_creates_and_updates_audited(self, shop) -> None:
        body = {"name": "Starter", "coins": 50, "price": {"amount": 499, "currency": "usd"}}
        resp = shop.api.request("PUT", "/v1/admin/packs/starter", body=json.dumps(body),
                                headers={"Authorization": f"Bearer {shop.admin_token}",
                                         "Content-Type": "application/json"})
        assert resp.status == 200 and resp.body["total_coins"] == 50
        ids = [p["id"] for p in shop.api.get("/v1/packs").body["items"]]
        assert "starter" in ids
        audit = shop.api.get("/v1/admin/audit").body["items"]
        assert audit[0]["action"] == "pack.put" and audit[0]["target"] == "pack:starter"

    def test_deactivated_packs_leave_the_shop_and_cannot_be_bought(self, shop) -> None:
        resp = shop.api.request("DELETE", "/v1/admin/packs/coins_100",
                                headers={"Authorization": f"Bearer {shop.admin_token}"})
        assert resp.status == 200 and resp.body["active"] is False
        assert "coins_100" not in [p["id"] for p in shop.api.get("/v1/packs").body["items"]]
        assert "coins_100" in [p["id"] for p in shop.api.get("/v1/admin/packs").body["items"]]
        checkout = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"})
        assert (checkout.status, checkout.code) == (422, "pack_inactive")

    @pytest.mark.parametrize("body", [
        {"name": "x", "coins": 0, "price": {"amount": 1, "currency": "usd"}},
        {"name": "x", "coins": 5, "price": {"amount": 1.5, "currency": "usd"}},
        {"name": "x", "coins": 5, "price": {"amount": 1, "currency": "USD"}},
        {"name": "", "coins": 5, "price": {"amount": 1, "currency": "usd"}},
    ])
    def test_bad_packs_are_refused_and_change_nothing(self, shop, body) -> None:
        resp = shop.api.request("PUT", "/v1/admin/packs/bad", body=json.dumps(body),
                                headers={"Authorization": f"Bearer {shop.admin_token}",
                                         "Content-Type": "application/json"})
        assert (resp.status, resp.code) == (400, "validation_error")
        assert "bad" not in [p["id"] for p in shop.api.get("/v1/admin/packs").body["items"]]

    @pytest.mark.parametrize("pack_id", ["caf%C3%A9", "%D9%A1%D9%A2"])  # café, Arabic-Indic digits
    def test_a_pack_id_is_ascii_as_checkout_needs(self, shop, pack_id) -> None:
        # str.isalnum() let such a pack be put, which CheckoutBody (ASCII pack_id) could never sell.
        body = {"name": "x", "coins": 5, "price": {"amount": 100, "currency": "usd"}}
        resp = shop.api.request("PUT", f"/v1/admin/packs/{pack_id}", body=json.dumps(body),
                                headers={"Authorization": f"Bearer {shop.admin_token}",
                                         "Content-Type": "application/json"})
        assert (resp.status, resp.code) == (400, "validation_error")
        assert len(shop.api.get("/v1/admin/packs").body["items"]) == 4

    def test_write_key_cannot_edit_packs(self, shop) -> None:
        resp = shop.api.request("DELETE", "/v1/admin/packs/coins_100",
                                headers={"Authorization": f"Bearer {shop.write_token}"})
        assert (resp.status, resp.code) == (403, "forbidden")
