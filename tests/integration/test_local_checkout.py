"""The local payment page sends its signed events to the app's configured URL, never to the caller's Host.

Real local HTTP servers stand where the events may go: one at the configured
``COINS_PUBLIC_URL``, one at the address a hostile ``Host`` header names. Only
the first may ever receive anything. Outside the local stage (or with Stripe
configured) the unauthenticated routes do not exist: 404 in the API's shape.
"""
from __future__ import annotations

import json
import socket
import threading
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from chalicelib.core import config
from chalicelib.purchases.stripe_gateway import verify_event
from tests import purchase_helpers as ph

pytestmark = pytest.mark.integration


class Recorder:
    """A real HTTP server that records every request and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.status = status
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                data = b'{"received": true}'
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ours(monkeypatch) -> Iterator[Recorder]:
    """The app's configured base URL, played by a recorder."""
    server = Recorder()
    monkeypatch.setenv("COINS_PUBLIC_URL", server.url)
    config.reset_settings()
    yield server
    server.close()


@pytest.fixture
def elsewhere() -> Iterator[Recorder]:
    """Where a hostile Host header points: reachable, so a delivery there would be seen."""
    server = Recorder()
    yield server
    server.close()


def buy(economy) -> Dict[str, Any]:
    resp = economy.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"})
    assert resp.status == 201, resp.body
    return resp.body


def form_post(economy, path: str, headers: Dict[str, str]) -> Any:
    return economy.api.client.http.post(path, body=b"", headers={
        "Content-Type": "application/x-www-form-urlencoded", **headers})


def hostile(target: Recorder) -> Dict[str, str]:
    return {"Host": target.host, "X-Forwarded-Proto": "http", "X-Forwarded-Host": target.host}


@pytest.mark.parametrize("action,event_type", [("pay", "checkout.session.completed"),
                                               ("refund", "charge.refunded")])
def test_a_hostile_host_header_does_not_choose_where_the_signed_event_goes(shop, ours, elsewhere, action,
                                                                           event_type) -> None:
    purchase = buy(shop)
    if action == "refund":  # only a credited purchase can be refunded: credit it first, in process
        from chalicelib.purchases import local_checkout, store

        ph.deliver(shop.api, local_checkout.paid_event(store.load(purchase["purchase_id"])))
    resp = form_post(shop, f"/local/checkout/{purchase['purchase_id']}/{action}", hostile(elsewhere))
    assert resp.status_code == 303, resp.body
    assert resp.headers["Location"] == f"{ours.url}/checkout/success?purchase_id={purchase['purchase_id']}"
    assert elsewhere.requests == []
    [sent] = ours.requests
    assert sent["path"] == "/v1/webhooks/stripe"
    event = verify_event(sent["body"], sent["headers"]["Stripe-Signature"])  # Stripe's scheme, our local secret
    assert event["type"] == event_type
    assert event["data"]["object"]["payment_intent"] == "pi_local_" + purchase["purchase_id"][4:]


def test_without_a_public_url_the_event_goes_to_this_machine_on_coins_port(shop, monkeypatch, elsewhere) -> None:
    server = Recorder()
    try:
        monkeypatch.delenv("COINS_PUBLIC_URL", raising=False)
        monkeypatch.setenv("COINS_PORT", str(server.server.server_address[1]))
        config.reset_settings()
        purchase = buy(shop)
        resp = form_post(shop, f"/local/checkout/{purchase['purchase_id']}/pay", hostile(elsewhere))
        assert resp.status_code == 303
        assert [r["path"] for r in server.requests] == ["/v1/webhooks/stripe"] and elsewhere.requests == []
    finally:
        server.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_own_webhook_is_a_clear_503_page(shop, monkeypatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("COINS_PUBLIC_URL", url)
    config.reset_settings()
    purchase = buy(shop)
    resp = form_post(shop, f"/local/checkout/{purchase['purchase_id']}/pay", {})
    assert resp.status_code == 503 and resp.headers["Content-Type"].startswith("text/html")
    page = resp.body.decode()
    assert "<h1>503</h1>" in page and f"{url}/v1/webhooks/stripe" in page and "Traceback" not in page
    assert shop.api.get(f"/v1/purchases/{purchase['purchase_id']}").body["status"] == "pending"


def test_a_webhook_that_refuses_the_event_is_a_503_page(shop, ours) -> None:
    ours.status = 500
    purchase = buy(shop)
    resp = form_post(shop, f"/local/checkout/{purchase['purchase_id']}/pay", {})
    assert resp.status_code == 503
    assert "answered 500" in resp.body.decode() and len(ours.requests) == 1


_ROUTES = [("GET", ""), ("POST", "/pay"), ("POST", "/refund"), ("POST", "/cancel")]


def _refused(shop, purchase: Dict[str, Any], elsewhere: Recorder) -> None:
    for method, suffix in _ROUTES:
        path = f"/local/checkout/{purchase['purchase_id']}{suffix}"
        form = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
        headers = {**form, **hostile(elsewhere)}
        resp = shop.api.client.http.request(method, path, body=b"", headers=headers)
        assert resp.status_code == 404, (method, suffix)
        assert resp.headers["Content-Type"] == "application/json"
        assert json.loads(resp.body)["error"]["code"] == "not_found"
    assert elsewhere.requests == []


def test_outside_the_local_stage_the_local_routes_are_404_in_our_error_shape(shop, ours, elsewhere,
                                                                              monkeypatch) -> None:
    purchase = buy(shop)
    monkeypatch.setenv("COINS_STAGE", "dev")
    for name in ("STRIPE_SECRET_KEY", "DISCORD_PUBLIC_KEY", "DISCORD_APPLICATION_ID", "DISCORD_BOT_TOKEN",
                 "REDEMPTION_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, f"test-{name.lower()}")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_dev")
    config.reset_settings()
    assert config.get_settings().stage == "dev"
    _refused(shop, purchase, elsewhere)
    assert ours.requests == []


def test_with_stripe_configured_the_local_routes_are_404_too(shop, ours, elsewhere, monkeypatch) -> None:
    purchase = buy(shop)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_coinhall")
    config.reset_settings()
    _refused(shop, purchase, elsewhere)
    assert ours.requests == []


# --- every page says what the purchase is ---------------------------------------------------------------------


class Visible(HTMLParser):
    """A page as a reader sees it: its text (one space between runs), its buttons, its links and refresh."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.runs: List[str] = []
        self.buttons: List[str] = []
        self.forms: List[str] = []
        self.links: Dict[str, str] = {}
        self.refresh: Optional[str] = None
        self._in: List[str] = []
        self._href: Optional[str] = None
        self.feed(page)
        self.text = " ".join(" ".join(self.runs).split())

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        a = dict(attrs)
        self._in.append(tag)
        if tag == "form":
            self.forms.append(a["action"] or "")
        if tag == "a":
            self._href = a["href"]
        if tag == "meta" and a.get("http-equiv") == "refresh":
            self.refresh = a["content"]

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()
        if tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        if "style" in self._in or "title" in self._in:
            return
        self.runs.append(data)
        if "button" in self._in:
            self.buttons.append(data)
        if self._href is not None:
            self.links[data] = self._href


@pytest.fixture
def webhook(shop, monkeypatch) -> List[str]:
    """Pay / Refund deliver their signed event to this app in process (its real webhook route); the types sent."""
    from chalicelib.purchases import local_checkout

    sent: List[str] = []

    def deliver(event: Dict[str, Any]) -> None:
        sent.append(event["type"])
        assert ph.deliver(shop.api, event).status == 200

    monkeypatch.setattr(local_checkout, "deliver", deliver)
    return sent


def page(shop, path: str) -> Visible:
    resp = shop.api.client.http.get(path)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html"), resp.body
    return Visible(resp.body.decode())


def checkout(shop, purchase: Dict[str, Any]) -> Visible:
    return page(shop, f"/local/checkout/{purchase['purchase_id']}")


def success(shop, purchase: Dict[str, Any], poll: str = "") -> Visible:
    return page(shop, f"/checkout/success?purchase_id={purchase['purchase_id']}{poll}")


def cancel_page(shop, purchase: Dict[str, Any]) -> Visible:
    return page(shop, f"/checkout/cancel?purchase_id={purchase['purchase_id']}")


def act(shop, purchase: Dict[str, Any], action: str) -> Any:
    return form_post(shop, f"/local/checkout/{purchase['purchase_id']}/{action}", {})


def facts(shop, purchase: Dict[str, Any]) -> Tuple[Any, ...]:
    """What a refused action must leave as it was: the wallet (None while there is none) and the purchase."""
    got = shop.api.get("/v1/users/alice/wallet")
    assert got.status in (200, 404), got.body
    w = got.body if got.status == 200 else {}
    p = shop.api.get(f"/v1/purchases/{purchase['purchase_id']}").body
    return (w.get("available"), w.get("held"), w.get("debt"), w.get("frozen"), p["status"], p.get("failure_reason"),
            p["clawed_back_coins"], p["debt_coins"])


def buy_pack(shop, pack_id: str) -> Dict[str, Any]:
    resp = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": pack_id})
    assert resp.status == 201, resp.body
    return resp.body


def refused(shop, purchase: Dict[str, Any], action: str, webhook: List[str], message: str) -> None:
    """``action`` answers a 409 page saying ``message``; no event was sent and nothing changed."""
    before, sent = facts(shop, purchase), list(webhook)
    resp = act(shop, purchase, action)
    assert resp.status_code == 409 and resp.headers["Content-Type"].startswith("text/html"), resp.body
    shown = Visible(resp.body.decode())
    assert shown.text == f"409 {message} Back to the app"
    assert shown.links == {"Back to the app": "/"}
    assert webhook == sent and facts(shop, purchase) == before


# The 5,000-coin pack: 5,000 coins and 1,500 bonus for 349.99 USD (packs.DEFAULT_PACKS).
BIG = "coins_5000"
BIG_COINS = "6,500 coins (5,000 + 1,500 bonus)"


def test_a_pending_checkout_shows_the_total_and_its_parts_with_pay_and_cancel(shop, webhook) -> None:
    purchase = buy_pack(shop, BIG)
    shown = checkout(shop, purchase)
    pid = purchase["purchase_id"]
    assert shown.text == (f"5,000 coins +30% {BIG_COINS} for 349.99 USD Buyer: alice · Purchase {pid} · status "
                          "pending Pay Cancel Local stage: no card is charged. Pay sends a signed Stripe-format "
                          "event to /v1/webhooks/stripe. Back to the app")
    assert shown.buttons == ["Pay", "Cancel"] and shown.forms == [f"{pid}/pay", f"{pid}/cancel"]
    assert shown.links == {"Back to the app": "/"}
    plain = checkout(shop, buy_pack(shop, "coins_100"))
    assert "100 coins for 9.99 USD" in plain.text and "bonus" not in plain.text


def test_the_back_link_goes_to_coins_app_url_on_every_page(shop, webhook, monkeypatch) -> None:
    monkeypatch.setenv("COINS_APP_URL", "https://game.example/shop?from=coins")
    config.reset_settings()
    purchase = buy_pack(shop, BIG)
    for shown in (checkout(shop, purchase), success(shop, purchase), cancel_page(shop, purchase)):
        assert shown.links["Back to the app"] == "https://game.example/shop?from=coins"
    assert act(shop, purchase, "pay").status_code == 303
    resp = act(shop, purchase, "pay")  # the error page too
    assert resp.status_code == 409
    assert Visible(resp.body.decode()).links == {"Back to the app": "https://game.example/shop?from=coins"}


def test_a_paid_purchase_says_so_on_every_page_and_pay_and_cancel_are_refused(shop, webhook) -> None:
    purchase = buy_pack(shop, BIG)
    pid = purchase["purchase_id"]
    resp = act(shop, purchase, "pay")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/checkout/success?purchase_id={pid}")
    assert webhook == ["checkout.session.completed"]
    assert facts(shop, purchase) == (6500, 0, 0, False, "credited", None, 0, 0)
    paid = (f"Already paid: {BIG_COINS} credited 5,000 coins +30% for 349.99 USD, in alice's wallet. "
            f"Purchase {pid} · status credited")
    # The payment page, the success page, and the cancel page (no "No money moved" for money that moved).
    for shown in (checkout(shop, purchase), success(shop, purchase), cancel_page(shop, purchase)):
        assert shown.text == f"{paid} Simulate a refund Back to the app"
        assert shown.buttons == ["Simulate a refund"] and shown.refresh is None
        assert not any(f.endswith(("/pay", "/cancel")) for f in shown.forms)
    refused(shop, purchase, "pay", webhook,
            f"Already paid: {BIG_COINS} credited. It can no longer be paid; nothing was charged.")
    refused(shop, purchase, "cancel", webhook, f"Already paid: {BIG_COINS} credited. It can no longer be cancelled.")


def test_cancel_ends_the_checkout_as_expiry_would_and_pay_is_then_refused(shop, webhook) -> None:
    purchase = buy_pack(shop, BIG)
    pid = purchase["purchase_id"]
    resp = act(shop, purchase, "cancel")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/checkout/cancel?purchase_id={pid}")
    assert webhook == []  # no event, no money: only the purchase's status moved
    view = shop.api.get(f"/v1/purchases/{pid}").body
    assert (view["status"], view["failure_reason"]) == ("expired", "cancelled")
    gone = (f"This checkout was cancelled No money moved. To buy coins, start a new purchase from the app (link "
            f"below). Purchase {pid} · status expired Back to the app")
    for shown in (checkout(shop, purchase), cancel_page(shop, purchase), success(shop, purchase)):
        assert shown.text == gone and shown.buttons == [] and shown.forms == [] and shown.refresh is None
        assert shown.links == {"Back to the app": "/"}
    refused(shop, purchase, "pay", webhook,
            "This checkout was cancelled. It can no longer be paid; nothing was charged.")
    refused(shop, purchase, "refund", webhook, "This checkout was cancelled. Only a paid purchase that is credited "
                                               "(or in review) can be refunded here; nothing was refunded.")
    # Cancel again (a double click) lands on the cancel page again and changes nothing.
    before = facts(shop, purchase)
    again = act(shop, purchase, "cancel")
    assert again.status_code == 303 and again.headers["Location"] == resp.headers["Location"]
    assert facts(shop, purchase) == before == (None, None, None, None, "expired", "cancelled", 0, 0)


def test_an_expired_checkout_says_it_expired_and_cannot_be_paid(shop, webhook) -> None:
    from chalicelib.purchases.expiry import expire_purchase

    purchase = buy_pack(shop, BIG)
    pid = purchase["purchase_id"]
    assert expire_purchase(pid, "9999-01-01T00:00:00.000Z") == "expired"  # the expiry job's own path
    gone = (f"This checkout expired No money moved. To buy coins, start a new purchase from the app (link below). "
            f"Purchase {pid} · status expired Back to the app")
    for shown in (checkout(shop, purchase), success(shop, purchase), cancel_page(shop, purchase)):
        assert shown.text == gone and shown.buttons == [] and shown.forms == []
    refused(shop, purchase, "pay", webhook, "This checkout expired. It can no longer be paid; nothing was charged.")
    refused(shop, purchase, "cancel", webhook, "This checkout expired. It can no longer be cancelled.")


def test_a_refund_of_unspent_coins_takes_them_all_back_and_freezes_nothing(shop, webhook) -> None:
    purchase = buy_pack(shop, "coins_100")  # 100 coins for 9.99 USD
    pid = purchase["purchase_id"]
    assert act(shop, purchase, "pay").status_code == 303
    resp = act(shop, purchase, "refund")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/checkout/success?purchase_id={pid}")
    assert webhook == ["checkout.session.completed", "charge.refunded"]
    assert facts(shop, purchase) == (0, 0, 0, False, "refunded", None, 100, 0)
    shown = success(shop, purchase)
    assert shown.text == ("This purchase was refunded 9.99 USD of 9.99 USD was refunded. 100 of its 100 coins were "
                          "taken back: 100 from the wallet. None had been spent: nothing is owed, and the refund did "
                          f"not freeze the wallet. Purchase {pid} · status refunded Back to the app")
    assert shown.buttons == [] and checkout(shop, purchase).text == shown.text
    refused(shop, purchase, "refund", webhook, "This purchase was refunded. Only a paid purchase that is credited "
                                               "(or in review) can be refunded here; nothing was refunded.")
    refused(shop, purchase, "pay", webhook, "This purchase was refunded. It can no longer be paid; nothing was "
                                            "charged.")


def test_a_refund_of_spent_coins_says_what_is_owed_and_that_the_wallet_is_frozen(shop, webhook) -> None:
    purchase = buy_pack(shop, "coins_100")
    pid = purchase["purchase_id"]
    assert act(shop, purchase, "pay").status_code == 303
    assert shop.api.post("/v1/users/alice/spend", {"amount": 40, "reason": "sword"}, key="s1").status == 200
    assert act(shop, purchase, "refund").status_code == 303
    # 100 to take back, 60 left in the wallet: 40 become debt, and debt freezes the wallet.
    assert facts(shop, purchase) == (0, 0, 40, True, "refunded", None, 100, 40)
    assert shop.api.get("/v1/users/alice/wallet").body["freeze_reasons"] == ["debt"]
    assert success(shop, purchase).text == (
        "This purchase was refunded 9.99 USD of 9.99 USD was refunded. 100 of its 100 coins were taken back: 60 from "
        "the wallet, and 40 the buyer had already spent are owed as debt. The wallet is frozen (reason debt) until "
        f"the debt is settled from coins it gets later. Purchase {pid} · status refunded Back to the app")


def test_a_disputed_payment_says_the_wallet_is_frozen_and_the_coins_held(shop, webhook) -> None:
    purchase = buy_pack(shop, "coins_100")
    pid = purchase["purchase_id"]
    assert act(shop, purchase, "pay").status_code == 303
    assert shop.api.post("/v1/users/alice/spend", {"amount": 30, "reason": "sword"}, key="s1").status == 200
    local = {**purchase, "purchase_id": pid}
    dispute = ph.dispute(local)
    dispute["data"]["object"]["payment_intent"] = "pi_local_" + pid[4:]  # the local page's PaymentIntent
    assert ph.deliver(shop.api, dispute).status == 200
    assert facts(shop, purchase)[:5] == (0, 70, 0, True, "disputed")
    assert success(shop, purchase).text == (
        f"This payment is disputed The wallet is frozen (reason dispute:{pid}) and 70 of this purchase's coins are "
        "held until the dispute closes: won, they return to the wallet; lost, all its coins are taken back. "
        f"Purchase {pid} · status disputed Back to the app")
    refused(shop, purchase, "pay", webhook, "This payment is disputed. It can no longer be paid; nothing was "
                                            "charged.")


def test_a_lost_dispute_says_what_was_taken_what_is_owed_and_that_the_freeze_stays(shop, webhook) -> None:
    purchase = buy_pack(shop, "coins_100")
    pid = purchase["purchase_id"]
    assert act(shop, purchase, "pay").status_code == 303
    assert shop.api.post("/v1/users/alice/spend", {"amount": 30, "reason": "sword"}, key="s1").status == 200
    for closed in (None, "lost"):
        dispute = ph.dispute(purchase, closed)
        dispute["data"]["object"]["payment_intent"] = "pi_local_" + pid[4:]
        assert ph.deliver(shop.api, dispute).status == 200
    # All 100 taken back: the 70 held, and the 30 spent become debt; debt and the lost dispute both freeze.
    assert facts(shop, purchase) == (0, 0, 30, True, "disputed", None, 100, 30)
    assert shop.api.get("/v1/users/alice/wallet").body["freeze_reasons"] == ["debt", f"dispute_lost:{pid}"]
    assert success(shop, purchase).text == (
        "This payment is disputed The dispute was lost: 100 of its 100 coins were taken back: 70 from the wallet, "
        "and 30 the buyer had already spent are owed as debt. The wallet is frozen (reason debt) until the debt is "
        "settled from coins it gets later. The wallet stays frozen for an operator's review (reason "
        f"dispute_lost:{pid}). Purchase {pid} · status disputed Back to the app")


def test_the_pending_success_page_polls_fifteen_times_then_stops_and_says_so(shop, webhook) -> None:
    purchase = buy_pack(shop, BIG)
    pid = purchase["purchase_id"]
    first = success(shop, purchase)
    assert first.refresh == f"2;url=?purchase_id={pid}&poll=1"
    assert first.text == (f"Waiting for the payment… This page checks again every 2 s (check 1 of 15). "
                          f"Purchase {pid} · status pending Back to the app")
    assert success(shop, purchase, "&poll=14").refresh == f"2;url=?purchase_id={pid}&poll=15"
    last = success(shop, purchase, "&poll=15")
    assert last.refresh is None
    assert last.text == ("Waiting for the payment… Still processing — this page will not refresh again; reload "
                         f"later. Purchase {pid} · status pending Back to the app")
    assert success(shop, purchase, "&poll=junk").refresh == f"2;url=?purchase_id={pid}&poll=1"


def test_the_cancel_page_of_a_pending_stripe_style_checkout_offers_the_way_back_to_it(shop, webhook) -> None:
    purchase = buy_pack(shop, BIG)
    pid = purchase["purchase_id"]
    shown = cancel_page(shop, purchase)  # visited without pressing Cancel (Stripe's "back" link)
    assert shown.text == (f"Checkout not completed Nothing was paid. This checkout stays open until "
                          f"{purchase['expires_at']}. Purchase {pid} · status pending Return to the checkout "
                          "Back to the app")
    assert shown.links == {"Return to the checkout": purchase["checkout_url"], "Back to the app": "/"}
    assert shown.refresh is None and facts(shop, purchase)[4] == "pending"
