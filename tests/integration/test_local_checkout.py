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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest

from chalicelib.core import config
from chalicelib.purchases.stripe_gateway import verify_event

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
