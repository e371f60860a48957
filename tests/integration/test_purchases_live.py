"""Purchases against real servers: the local stand-in for Stripe's API (scripts/stripe_standin.py), the app
served over real HTTP for the local payment page, and a storm of concurrent,
duplicated, shuffled webhook deliveries on DynamoDB Local.
"""
from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from chalicelib.core import config
from scripts.stripe_standin import StripeStandIn
from tests import purchase_helpers as ph
from tests.clock_helpers import Clock, at, clock  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


@pytest.fixture
def stripe_api():
    with StripeStandIn() as standin, pytest.MonkeyPatch.context() as env:
        env.setenv("STRIPE_SECRET_KEY", "sk_test_coinhall")
        env.setenv("STRIPE_API_BASE", standin.url)
        config.reset_settings()
        yield standin
    config.reset_settings()  # the next test must not inherit the stand-in's settings from the cache


def test_checkout_sends_stripe_the_session_we_mean(shop, stripe_api, clock: Clock) -> None:
    clock.set(at("2026-03-14T15:09:26.535Z"))
    resp = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_1000",
                                          "success_url": "https://app.example/ok"})
    assert resp.status == 201, resp.body
    purchase = resp.body
    assert purchase["checkout_url"] == f"https://checkout.stripe.com/c/pay/{purchase['session_id']}"
    [sent] = stripe_api.requests
    form = sent.form
    assert sent.path == "/v1/checkout/sessions"
    assert sent.headers["Authorization"] == "Bearer sk_test_coinhall"
    assert sent.headers["Idempotency-Key"] == purchase["purchase_id"]
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == purchase["purchase_id"]
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][unit_amount]"] == "7999"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][product_data][name]"] == "1,000 coins +20%"
    for prefix in ("metadata", "payment_intent_data[metadata]"):
        assert form[f"{prefix}[purchase_id]"] == purchase["purchase_id"]
        assert form[f"{prefix}[economy]"] == shop.id
        assert form[f"{prefix}[user_id]"] == "alice"
        assert form[f"{prefix}[pack_id]"] == "coins_1000"
    assert form["success_url"] == "https://app.example/ok"
    assert form["cancel_url"].endswith(f"/checkout/cancel?purchase_id={purchase['purchase_id']}")
    # CHECKOUT_EXPIRES_MIN's default, 30 minutes on from the app clock: 15:39:26.535 for the
    # purchase; for Stripe 5 minutes more (a retry's margin), in whole Unix seconds
    # (1773503066 = 2026-03-14T15:44:26Z).
    assert purchase["expires_at"] == "2026-03-14T15:39:26.535Z"
    assert form["expires_at"] == "1773503066"
    # The webhook for that session credits it.
    ph.deliver(shop.api, ph.completed(purchase))
    assert shop.api.get("/v1/users/alice/wallet").body["available"] == 1200


def test_stripe_down_is_503_and_a_retry_with_the_key_finishes_the_same_purchase(shop, stripe_api) -> None:
    stripe_api.fail_next(10)  # more than the library's own retries
    first = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}, key="k1")
    assert (first.status, first.code) == (503, "unavailable")
    stripe_api.failures.clear()
    second = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}, key="k1")
    assert second.status == 200 and second.body["checkout_url"]
    keys = {r.headers["Idempotency-Key"] for r in stripe_api.requests}
    assert keys == {second.body["purchase_id"]}  # every attempt was the same Stripe request


def test_a_session_stripe_opened_whose_answer_was_lost_is_found_by_a_retry_minutes_later(
        shop, stripe_api, clock: Clock, monkeypatch) -> None:
    """The retry sends Stripe the same request byte for byte, so Stripe replays the session it made.

    (Were the expiry taken from the retry's own clock, Stripe would answer
    ``idempotency_error`` to every retry, and the purchase would never get its session.)
    """
    from chalicelib.purchases import store

    clock.set(at("2026-03-14T15:09:26.535Z"))
    real_update = store.update
    calls = []

    def dies_after_stripe_answered(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("the worker died before it wrote the session down")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(store, "update", dies_after_stripe_answered)
    body = {"user_id": "alice", "pack_id": "coins_100"}
    assert shop.api.post("/v1/checkout", body, key="k-lost").status == 500  # the client saw it fail
    clock.advance(3 * 60)
    again = shop.api.post("/v1/checkout", body, key="k-lost")
    assert again.status == 200, again.body
    first, retry = stripe_api.requests
    assert first.form == retry.form and first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]
    assert (first.status, retry.status) == (200, 200)
    assert list(stripe_api.sessions) == [again.body["session_id"]]  # the one session Stripe made, replayed
    ph.deliver(shop.api, ph.completed(again.body))
    assert shop.api.get("/v1/users/alice/wallet").body["available"] == 100


class LiveApp:
    """The app served over real HTTP by Chalice's own local server, in a thread."""

    def __init__(self) -> None:
        from chalice.config import Config
        from chalice.local import LocalDevServer

        from app import app

        self.server = LocalDevServer(app, Config(chalice_stage="local"), host="127.0.0.1", port=0)
        port = self.server.server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_local_payment_page_end_to_end_over_http(shop, monkeypatch) -> None:
    live = LiveApp()
    # The page posts its signed event to the configured base URL (here: where the app listens).
    monkeypatch.setenv("COINS_PUBLIC_URL", live.url)
    config.reset_settings()
    hostile = {"Host": "attacker.example:9", "X-Forwarded-Proto": "https"}
    try:
        auth = {"Authorization": f"Bearer {shop.admin_token}"}
        created = requests.post(f"{live.url}/v1/checkout", json={"user_id": "alice", "pack_id": "coins_500"},
                                headers=auth, timeout=10).json()
        page = requests.get(created["checkout_url"], timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert "550 coins" in page.text and "44.99 USD" in page.text and ">Pay<" in page.text
        # A Host header of the caller's choosing does not decide where the signed event goes.
        paid = requests.post(f"{created['checkout_url']}/pay", headers=hostile, timeout=20, allow_redirects=False)
        assert paid.status_code == 303 and "/checkout/success?purchase_id=" in paid.headers["Location"]
        success = requests.get(paid.headers["Location"], timeout=10)
        assert "Already paid: 550 coins (500 + 50 bonus) credited" in success.text
        status = requests.get(f"{live.url}/v1/purchases/{created['purchase_id']}", headers=auth, timeout=10).json()
        assert status["status"] == "credited"
        cancel = requests.get(f"{live.url}/checkout/cancel?purchase_id={created['purchase_id']}", timeout=10)
        # The cancel page of a paid purchase says it is paid, not that no money moved.
        assert "Already paid: 550 coins (500 + 50 bonus) credited" in cancel.text
        assert "No money moved" not in cancel.text and ">Pay<" not in cancel.text
        refund = requests.post(f"{created['checkout_url']}/refund", headers=hostile, timeout=20,
                               allow_redirects=False)
        assert refund.status_code == 303
        wallet = requests.get(f"{live.url}/v1/users/alice/wallet", headers=auth, timeout=10).json()
        assert wallet["available"] == 0
        assert requests.get(f"{live.url}/local/checkout/pur_nope", timeout=10).status_code == 404
    finally:
        live.close()
    shop.check()


def test_local_payment_page_is_gone_when_stripe_is_configured(shop, stripe_api) -> None:
    purchase = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}).body
    resp = shop.api.client.http.get(f"/local/checkout/{purchase['purchase_id']}")
    assert resp.status_code == 404


@pytest.mark.slow
def test_100_purchases_delivered_3_times_concurrently_and_shuffled_credit_exactly_once(shop) -> None:
    purchases = [shop.api.post("/v1/checkout", {"user_id": f"buyer{i % 10}", "pack_id": "coins_100"}).body
                 for i in range(100)]
    deliveries = [ph.completed(p) for p in purchases for _ in range(3)]
    # Stripe redelivers the same event id; give a third of them fresh ids (as for a
    # completed + async_payment_succeeded pair), so the dedupe table is not the only guard.
    for i, evt in enumerate(deliveries):
        if i % 3 == 2:
            evt = dict(evt, id=f"evt_other_{i}")
            deliveries[i] = evt
    random.Random(7).shuffle(deliveries)
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda e: ph.deliver(shop.api, e), deliveries))
    assert all(r.status == 200 for r in results), [r.body for r in results if r.status != 200]
    total = sum(shop.api.get(f"/v1/users/buyer{i}/wallet").body["available"] for i in range(10))
    assert total == 100 * 100
    credits = sum(
        1 for i in range(10)
        for e in shop.api.get(f"/v1/users/buyer{i}/transactions?limit=100").body["items"] if e["type"] == "purchase"
    )
    assert credits == 100
    assert all(shop.api.get(f"/v1/purchases/{p['purchase_id']}").body["status"] == "credited" for p in purchases)
    shop.check()
