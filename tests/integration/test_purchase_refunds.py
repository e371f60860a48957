"""Operators refund purchases through Stripe's Refunds API, against the local Stripe stand-in.

The app is served over real HTTP (the stand-in sends its signed events
there), the admin API is called through Chalice's test client, and the
claw-back follows from the ``charge.refunded`` webhook alone.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterator, List

import pytest
import requests

from chalicelib.core import config
from chalicelib.purchases.refunds import stripe_key
from scripts.stripe_standin import Intent, StripeStandIn, parse_form
from tests import purchase_helpers as ph
from tests.clock_helpers import Clock, at, clock  # noqa: F401 (fixture)
from tests.integration.test_purchases_live import LiveApp

pytestmark = pytest.mark.integration


@pytest.fixture
def live(shop: Any) -> Iterator[LiveApp]:
    app = LiveApp()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COINS_PUBLIC_URL", app.url)  # where the local provider sends its events
        config.reset_settings()
        yield app
    config.reset_settings()  # the next test must not inherit these settings from the cache
    app.close()


@pytest.fixture
def stripe_api(live: LiveApp) -> Iterator[StripeStandIn]:
    with StripeStandIn(webhook_url=f"{live.url}/v1/webhooks/stripe", webhook_secret=ph.LOCAL_SECRET) as standin:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STRIPE_SECRET_KEY", "sk_test_coinhall")
            env.setenv("STRIPE_API_BASE", standin.url)
            config.reset_settings()
            yield standin
        config.reset_settings()


def _eventually(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _bought(shop: Any, stripe_api: StripeStandIn, pack: str = "coins_1000", user: str = "alice") -> Dict[str, Any]:
    purchase = shop.api.post("/v1/checkout", {"user_id": user, "pack_id": pack}).body
    stripe_api.pay(purchase["session_id"])
    view = shop.api.get(f"/v1/admin/purchases/{purchase['purchase_id']}").body
    assert view["status"] == "credited", view
    return view


def _refund(shop: Any, purchase_id: str, key: str, **body: Any) -> Any:
    return shop.api.post(f"/v1/admin/purchases/{purchase_id}/refund", {"reason": "operator test", **body}, key=key)


def _wallet(shop: Any, user: str = "alice") -> Dict[str, Any]:
    return shop.api.get(f"/v1/users/{user}/wallet").body


def _refund_entries(shop: Any, user: str = "alice") -> List[Dict[str, Any]]:
    items = shop.api.get(f"/v1/users/{user}/transactions?limit=100").body["items"]
    return [e for e in items if e["type"] != "purchase"]


def test_parse_form_reads_stripes_nested_keys() -> None:
    form = "metadata[purchase_id]=pur_1&line_items[0][price_data][unit_amount]=7999&line_items[1][quantity]=2&a=%5B"
    assert parse_form(form) == {"metadata": {"purchase_id": "pur_1"}, "a": "[",
                                "line_items": [{"price_data": {"unit_amount": "7999"}}, {"quantity": "2"}]}


def test_refund_through_stripe_then_the_webhook_claws_back_once(shop: Any, stripe_api: StripeStandIn) -> None:
    p = _bought(shop, stripe_api)  # coins_1000: 1,200 coins for 7,999 cents
    pid = p["purchase_id"]
    resp = _refund(shop, pid, "refund-1", amount=2000)
    assert resp.status == 201, resp.body
    assert resp.headers["idempotent-replayed"] == "false"
    refund = resp.body["refund"]
    [sent] = stripe_api.calls("/v1/refunds")
    assert sent.headers["Authorization"] == "Bearer sk_test_coinhall"
    assert sent.headers["Idempotency-Key"] == stripe_key(refund["refund_ref"])
    assert sent.form["payment_intent"] == p["payment_intent"]
    assert sent.form["amount"] == "2000"
    assert sent.form["reason"] == "requested_by_customer"
    assert sent.form["metadata[purchase_id]"] == pid
    assert sent.form["metadata[economy]"] == shop.id
    assert sent.form["metadata[reason]"] == "operator test"
    assert refund["refund_id"] in stripe_api.refunds and refund["status"] == "succeeded"
    stripe_api.wait_webhooks()
    [event] = [w for w in stripe_api.webhooks if w["type"] == "charge.refunded"]
    assert event["status"] == 200 and event["object"]["amount_refunded"] == 2000
    # ceil(1200 x 2000 / 7999) = 301 coins back, once.
    assert _wallet(shop)["available"] == 1200 - 301
    assert [e["amount"] for e in _refund_entries(shop)] == [-301]
    after = shop.api.get(f"/v1/admin/purchases/{pid}").body
    assert (after["status"], after["refunded_amount"], after["refund_requested"]) == ("refunded", 2000, 2000)
    assert after["clawed_back_coins"] == 301 and after["refunds"][0]["refund_id"] == refund["refund_id"]
    # The refund's GET answers from the stand-in as Stripe would.
    got = requests.get(f"{stripe_api.url}/v1/refunds/{refund['refund_id']}",
                       headers={"Authorization": "Bearer sk_test_x"}, timeout=5).json()
    assert got["amount"] == 2000 and got["payment_intent"] == p["payment_intent"]
    rows = [r for r in _audit(shop) if r["action"] == "purchase.refund"]
    assert len(rows) == 1 and rows[0]["reason"] == "operator test"
    assert rows[0]["before"]["refund_requested"] == 0 and rows[0]["after"]["refund_requested"] == 2000
    shop.check()


def _audit(shop: Any) -> List[Dict[str, Any]]:
    from chalicelib.tenancy.audit import list_audit

    return list_audit(shop.id, 50)


def test_partial_then_full_then_nothing_left(shop: Any, stripe_api: StripeStandIn) -> None:
    pid = _bought(shop, stripe_api)["purchase_id"]
    assert _refund(shop, pid, "part", amount=1999).status == 201
    full = _refund(shop, pid, "rest")  # no amount: all that is left
    assert full.status == 201 and full.body["refund"]["amount"] == 6000
    assert [c.form.get("amount") for c in stripe_api.calls("/v1/refunds")] == ["1999", "6000"]
    stripe_api.wait_webhooks()
    _eventually(lambda: _wallet(shop)["available"] == 0, "the full claw-back")
    assert sum(e["amount"] for e in _refund_entries(shop)) == -1200
    again = _refund(shop, pid, "more")
    assert (again.status, again.code) == (409, "purchase_fully_refunded")
    assert len(stripe_api.calls("/v1/refunds")) == 2
    shop.check()


def test_over_refund_is_refused_and_nothing_changes(shop: Any, stripe_api: StripeStandIn) -> None:
    pid = _bought(shop, stripe_api)["purchase_id"]
    assert _refund(shop, pid, "first", amount=7000).status == 201
    before = shop.api.get(f"/v1/admin/purchases/{pid}").body
    audit_before = len(_audit(shop))
    over = _refund(shop, pid, "second", amount=1000)
    assert (over.status, over.code) == (422, "refund_exceeds_remaining")
    assert over.body["error"]["details"]["remaining"] == 999
    assert len(stripe_api.calls("/v1/refunds")) == 1
    stripe_api.wait_webhooks()
    after = shop.api.get(f"/v1/admin/purchases/{pid}").body
    assert after["refund_requested"] == before["refund_requested"] == 7000 and len(after["refunds"]) == 1
    assert len(_audit(shop)) == audit_before
    # The key was not taken by the refused request: it may be used for a valid one.
    assert _refund(shop, pid, "second", amount=999).status == 201


def test_stripe_refusal_gives_the_reservation_back(shop: Any, stripe_api: StripeStandIn) -> None:
    pid = _bought(shop, stripe_api)["purchase_id"]
    # Refunded in Stripe's dashboard meanwhile, before its webhook reached us: Stripe refuses ours.
    intent = next(iter(stripe_api.intents.values()))
    intent.amount_refunded = intent.amount
    resp = _refund(shop, pid, "late", amount=100)
    assert (resp.status, resp.code) == (409, "refund_refused")
    assert resp.body["error"]["details"]["stripe_code"] == "charge_already_refunded"
    view = shop.api.get(f"/v1/admin/purchases/{pid}").body
    assert view["refund_requested"] == 0 and view["refunds"][0]["status"] == "refused"
    assert _wallet(shop)["available"] == 1200
    again = _refund(shop, pid, "late", amount=100)  # the same key answers the same refusal, without Stripe
    assert (again.status, again.code) == (409, "refund_refused")
    assert len(stripe_api.calls("/v1/refunds")) == 1
    assert {r["action"] for r in _audit(shop)} >= {"purchase.refund", "purchase.refund_refused"}


def test_concurrent_refunds_with_different_keys_never_refund_more_than_was_paid(
        shop: Any, live: LiveApp, stripe_api: StripeStandIn) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pid = _bought(shop, stripe_api)["purchase_id"]

    def refund(i: int) -> requests.Response:
        # Over real HTTP: Chalice's test client swaps os.environ per request, which threads would tangle.
        return requests.post(f"{live.url}/v1/admin/purchases/{pid}/refund", timeout=60,
                             json={"amount": 3000, "reason": "race"},
                             headers={"Authorization": f"Bearer {shop.admin_token}", "Idempotency-Key": f"race-{i}"})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(refund, range(6)))
    won = [a for a in answers if a.status_code == 201]
    assert len(won) == 2, [a.json() for a in answers]  # 2 x 3000 of 7999; a third would pass what was paid
    assert {(a.status_code, a.json()["error"]["code"]) for a in answers if a.status_code != 201} == {
        (422, "refund_exceeds_remaining")}
    assert len(stripe_api.refunds) == 2 and sum(r["amount"] for r in stripe_api.refunds.values()) == 6000
    stripe_api.wait_webhooks()
    _eventually(lambda: _wallet(shop)["available"] == 1200 - 901, "the claw-back")  # ceil(1200 x 6000 / 7999)
    shop.check()


def test_a_refund_made_in_stripes_dashboard_counts_against_what_is_left(shop: Any,
                                                                        stripe_api: StripeStandIn) -> None:
    p = _bought(shop, stripe_api)
    intent = stripe_api.intents[p["payment_intent"]]
    intent.amount_refunded = 3000  # refunded in the dashboard; its event reaches us as Stripe sends it
    charge = {"id": intent.charge, "object": "charge", "amount": 7999, "amount_refunded": 3000, "currency": "usd",
              "payment_intent": intent.id, "metadata": intent.metadata}
    assert ph.deliver(shop.api, ph.event("charge.refunded", charge)).status == 200
    over = _refund(shop, p["purchase_id"], "after-dashboard", amount=5000)
    assert (over.status, over.body["error"]["details"]["remaining"]) == (422, 4999)
    rest = _refund(shop, p["purchase_id"], "after-dashboard-2")
    assert rest.status == 201 and rest.body["refund"]["amount"] == 4999
    stripe_api.wait_webhooks()
    _eventually(lambda: _wallet(shop)["available"] == 0, "the full claw-back")
    shop.check()


def test_replaying_the_key_makes_one_stripe_refund(shop: Any, stripe_api: StripeStandIn) -> None:
    pid = _bought(shop, stripe_api)["purchase_id"]
    first = _refund(shop, pid, "same", amount=500)
    second = _refund(shop, pid, "same", amount=500)
    assert (first.status, second.status) == (201, 200)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.body["refund"] == first.body["refund"]
    assert len(stripe_api.calls("/v1/refunds")) == 1 and len(stripe_api.refunds) == 1
    other = _refund(shop, pid, "same", amount=600)
    assert (other.status, other.code) == (409, "idempotency_key_reused")
    stripe_api.wait_webhooks()
    assert len(stripe_api.refunds) == 1
    assert shop.api.get(f"/v1/admin/purchases/{pid}").body["refund_requested"] == 500


@pytest.mark.parametrize("kind", ["500", "reset", "429"])
def test_stripe_down_is_503_and_the_same_key_finishes_one_refund(shop: Any, stripe_api: StripeStandIn,
                                                                  kind: str) -> None:
    pid = _bought(shop, stripe_api)["purchase_id"]
    stripe_api.fail_next(10, kind)  # more than the library's own retries
    down = _refund(shop, pid, "retry-me", amount=1000)
    assert (down.status, down.code) == (503, "unavailable")
    assert shop.api.get(f"/v1/admin/purchases/{pid}").body["refunds"][0]["status"] == "requested"
    assert _wallet(shop)["available"] == 1200  # nothing refunded, nothing clawed
    stripe_api.failures.clear()
    done = _refund(shop, pid, "retry-me", amount=1000)
    assert done.status == 200 and done.body["refund"]["status"] == "succeeded"
    calls = stripe_api.calls("/v1/refunds")
    assert {c.headers["Idempotency-Key"] for c in calls} == {stripe_key(done.body["refund"]["refund_ref"])}
    assert len(stripe_api.refunds) == 1
    stripe_api.wait_webhooks()
    _eventually(lambda: _wallet(shop)["available"] == 1200 - 151, "the claw-back")  # ceil(1200 x 1000 / 7999)
    shop.check()


def test_stripe_replays_the_same_refund_for_the_same_key_and_refuses_another_body(stripe_api: StripeStandIn
                                                                                   ) -> None:
    auth = {"Authorization": "Bearer sk_test_x", "Idempotency-Key": "k"}
    missing = requests.post(f"{stripe_api.url}/v1/refunds", data={"payment_intent": "pi_nope"}, headers=auth,
                            timeout=5)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "resource_missing"
    stripe_api.intents["pi_x"] = Intent("pi_x", "ch_x", 1000, "usd", {})
    auth["Idempotency-Key"] = "k2"
    one = requests.post(f"{stripe_api.url}/v1/refunds", data={"payment_intent": "pi_x", "amount": "100"},
                        headers=auth, timeout=5)
    two = requests.post(f"{stripe_api.url}/v1/refunds", data={"payment_intent": "pi_x", "amount": "100"},
                        headers=auth, timeout=5)
    assert one.json()["id"] == two.json()["id"] and two.headers["Idempotent-Replayed"] == "true"
    other = requests.post(f"{stripe_api.url}/v1/refunds", data={"payment_intent": "pi_x", "amount": "200"},
                          headers=auth, timeout=5)
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    no_key = requests.post(f"{stripe_api.url}/v1/refunds", data={"payment_intent": "pi_x"},
                           headers={"Authorization": "Bearer pk_nope"}, timeout=5)
    assert no_key.status_code == 401
    assert stripe_api.intents["pi_x"].amount_refunded == 100


def test_local_mode_refund_sends_the_event_itself(shop: Any, live: LiveApp) -> None:
    purchase = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_1000"}).body
    pid = purchase["purchase_id"]
    assert requests.post(f"{purchase['checkout_url']}/pay", timeout=20, allow_redirects=False).status_code == 303
    assert _wallet(shop)["available"] == 1200
    part = _refund(shop, pid, "local-1", amount=4000)
    assert part.status == 201, part.body
    assert part.body["refund"]["refund_id"].startswith("re_local_")
    # The local provider delivered charge.refunded before answering: the claw-back is done.
    assert _wallet(shop)["available"] == 1200 - 601  # ceil(1200 x 4000 / 7999)
    rest = _refund(shop, pid, "local-2")
    assert rest.status == 201 and rest.body["refund"]["amount"] == 3999
    assert _wallet(shop)["available"] == 0
    view = rest.body["purchase"]
    assert (view["status"], view["refunded_amount"], view["clawed_back_coins"]) == ("refunded", 7999, 1200)
    shop.check()


def test_refund_of_an_unpaid_purchase_is_refused(shop: Any, stripe_api: StripeStandIn) -> None:
    purchase = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}).body
    resp = _refund(shop, purchase["purchase_id"], "unpaid")
    assert (resp.status, resp.code) == (409, "purchase_not_refundable")
    assert resp.body["error"]["details"]["status"] == "pending"
    assert stripe_api.calls("/v1/refunds") == []


def test_refund_of_a_disputed_purchase_is_refused(shop: Any, stripe_api: StripeStandIn) -> None:
    p = _bought(shop, stripe_api)
    opened = ph.event("charge.dispute.created", {"id": "dp_standin", "object": "dispute", "amount": 7999,
                                                 "payment_intent": p["payment_intent"], "status": "needs_response",
                                                 "metadata": {}})
    assert ph.deliver(shop.api, opened).status == 200
    resp = _refund(shop, p["purchase_id"], "disputed")
    assert (resp.status, resp.code) == (409, "purchase_not_refundable")
    assert resp.body["error"]["details"]["status"] == "disputed"
    assert stripe_api.calls("/v1/refunds") == []
    assert shop.api.get(f"/v1/admin/purchases/{p['purchase_id']}").body["refund_requested"] == 0


def test_bad_input_on_the_refund_endpoint_changes_nothing(shop: Any, stripe_api: StripeStandIn) -> None:
    pid = _bought(shop, stripe_api)["purchase_id"]
    url = f"/v1/admin/purchases/{pid}/refund"
    cases = [
        (dict(body={"reason": "x"}), 400, "idempotency_key_required"),
        (dict(body={"reason": "x"}, key=""), 400, "invalid_idempotency_key"),
        (dict(body={"amount": 0, "reason": "x"}, key="b1"), 400, "validation_error"),
        (dict(body={"amount": -5, "reason": "x"}, key="b2"), 400, "validation_error"),
        (dict(body={"amount": "100", "reason": "x"}, key="b3"), 400, "validation_error"),
        (dict(body={"amount": 1.5, "reason": "x"}, key="b4"), 400, "validation_error"),
        (dict(body={"amount": 100}, key="b5", headers={"X-Audit-Reason": ""}), 400, "reason_required"),
        (dict(body={"amount": 100, "reason": "   "}, key="b6"), 400, "reason_required"),
        (dict(body={"amount": 100, "reason": 7}, key="b6b"), 400, "validation_error"),
        (dict(body={"amount": 100, "reason": "x", "extra": 1}, key="b7"), 400, "validation_error"),
        (dict(raw="not json", key="b8"), 400, "malformed_json"),
        (dict(body={"amount": 8000, "reason": "x"}, key="b9"), 422, "refund_exceeds_remaining"),
        (dict(body={"reason": "x"}, key="b10", token=shop.write_token), 403, "forbidden"),
        (dict(body={"reason": "x"}, key="b11", token="nope"), 401, "unauthenticated"),
    ]
    for kwargs, status, code in cases:
        resp = shop.api.post(url, **kwargs)
        assert (resp.status, resp.code) == (status, code), (kwargs, resp.body)
        assert set(resp.body["error"]) == {"code", "message", "details"}
    for path, status, code in [("/v1/admin/purchases/pur_nope/refund", 404, "purchase_not_found"),
                               ("/v1/admin/purchases/bad%20id/refund", 400, "validation_error")]:
        resp = shop.api.post(path, {"reason": "x"}, key="b12")
        assert (resp.status, resp.code) == (status, code), resp.body
    assert stripe_api.calls("/v1/refunds") == []
    view = shop.api.get(f"/v1/admin/purchases/{pid}").body
    assert view["refund_requested"] == 0 and view["refunds"] == []
    assert not [r for r in _audit(shop) if r["action"].startswith("purchase.refund")]


def test_another_economys_purchase_is_not_found(shop: Any, stripe_api: StripeStandIn) -> None:
    from tests.conftest import _economy

    pid = _bought(shop, stripe_api)["purchase_id"]
    other = _economy(shop.api.client)
    assert other.api.get(f"/v1/admin/purchases/{pid}").code == "purchase_not_found"
    resp = other.api.post(f"/v1/admin/purchases/{pid}/refund", {"reason": "x"}, key="x1")
    assert (resp.status, resp.code) == (404, "purchase_not_found")
    assert other.api.get("/v1/admin/purchases").body["items"] == []
    assert other.api.get("/v1/admin/purchases?user_id=alice").body["items"] == []


def test_list_filters_and_pages(shop: Any, clock: Clock) -> None:
    made: List[Dict[str, Any]] = []
    for i, day in enumerate(["2026-01-05", "2026-02-10", "2026-02-20", "2026-03-01", "2026-03-02"]):
        clock.set(at(f"{day}T12:00:00.000Z"))
        made.append(shop.api.post("/v1/checkout", {"user_id": "bob" if i % 2 else "alice",
                                                   "pack_id": "coins_100"}).body)
    ph.deliver(shop.api, ph.completed(made[1]))
    ph.deliver(shop.api, ph.completed(made[2]))

    def listed(query: str) -> List[str]:
        resp = shop.api.get(f"/v1/admin/purchases{query}")
        assert resp.status == 200, resp.body
        return [p["purchase_id"] for p in resp.body["items"]]

    newest_first = [p["purchase_id"] for p in reversed(made)]
    assert listed("") == newest_first
    assert listed("?user_id=bob") == [made[3]["purchase_id"], made[1]["purchase_id"]]
    assert listed("?status=credited") == [made[2]["purchase_id"], made[1]["purchase_id"]]
    assert listed("?user_id=bob&status=credited") == [made[1]["purchase_id"]]
    assert listed("?created_from=2026-02&created_to=2026-02") == [made[2]["purchase_id"], made[1]["purchase_id"]]
    assert listed("?created_from=2026-02-20&created_to=2026-03-01T12:00:00.000Z") == [
        made[3]["purchase_id"], made[2]["purchase_id"]]
    assert listed("?user_id=alice&created_to=2026-02-28") == [made[2]["purchase_id"], made[0]["purchase_id"]]
    for query in ("", "?user_id=alice", "?status=pending"):
        want = listed(query)
        seen: List[str] = []
        cursor = None
        for _ in range(10):
            sep = "&" if query else "?"
            resp = shop.api.get(f"/v1/admin/purchases{query}{sep}limit=2" + (f"&cursor={cursor}" if cursor else ""))
            seen += [p["purchase_id"] for p in resp.body["items"]]
            cursor = resp.body["next_cursor"]
            if not cursor:
                break
        assert seen == want, query
    first = shop.api.get("/v1/admin/purchases?limit=2").body
    assert first["items"][0]["mode"] == "local" and first["items"][0]["refunds"] == []
    # A cursor from one listing is refused on another.
    wrong = shop.api.get(f"/v1/admin/purchases?user_id=bob&cursor={first['next_cursor']}")
    assert (wrong.status, wrong.code) == (400, "invalid_cursor")


def test_bad_input_on_the_list_and_get_endpoints(shop: Any) -> None:
    for query, field in [("?limit=0", "limit"), ("?limit=101", "limit"), ("?limit=x", "limit"),
                         ("?status=paid", "status"), ("?user_id=a%20b", "user_id"),
                         ("?created_from=yesterday", "created_from"), ("?created_to=2026-13-99T", "created_to")]:
        resp = shop.api.get(f"/v1/admin/purchases{query}")
        assert (resp.status, resp.code) == (400, "validation_error"), (query, resp.body)
        assert resp.body["error"]["details"]["field"] == field, query
    empty = shop.api.get("/v1/admin/purchases?created_from=2026-03&created_to=2026-02")
    assert empty.status == 200 and empty.body == {"items": [], "next_cursor": None}
    bad = shop.api.get("/v1/admin/purchases?cursor=garbage")
    assert (bad.status, bad.code) == (400, "invalid_cursor")
    assert shop.api.get("/v1/admin/purchases", token=shop.read_token).code == "forbidden"
    assert shop.api.get("/v1/admin/purchases/pur_nope").code == "purchase_not_found"
    assert shop.api.get("/v1/admin/purchases/bad%20id").code == "validation_error"
    assert shop.api.get("/v1/admin/purchases/pur_x", token=shop.write_token).code == "forbidden"
