"""The market's test kit: the game-server stand-in as a fixture, and small helpers.

``PluginStandIn`` (``scripts/game_server_standin.py``, which ``make run`` starts
too) does what the README's fulfilment contract asks of a plugin; see there.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterator, Optional

import pytest

from chalicelib.core import config, signing
from scripts.game_server_standin import PLUGIN_KEY, Behaviour, PluginStandIn, Seen  # noqa: F401 (re-exported)
from tests.conftest import Economy, Resp
from tests.integration.spending_helpers import key  # noqa: F401 (the market tests import it from here)

REDEEM_SECRET = "redeem-test-secret"


def use_plugin(monkeypatch: pytest.MonkeyPatch, plugin: Optional[PluginStandIn], **settings: str) -> None:
    env = {"MINECRAFT_API_URL": plugin.url if plugin else None, "MINECRAFT_API_KEY": plugin.key if plugin else None,
           # A timeout no local answer comes near, so attempt counts do not depend on the
           # machine's speed; tests that need a timeout script "hang" (see the fulfilment tests).
           "MINECRAFT_TIMEOUT_S": "10", "MINECRAFT_RETRY_BASE_S": "0.05", "MINECRAFT_MAX_ATTEMPTS": "4",
           "REDEMPTION_WEBHOOK_SECRET": REDEEM_SECRET, **settings}
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    config.reset_settings()


@pytest.fixture
def plugin(economy: Economy, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginStandIn]:
    """The Minecraft plugin as a real local HTTP server, and the app pointed at it (fast retries)."""
    from chalicelib.runtime import queue

    with PluginStandIn() as fake:
        use_plugin(monkeypatch, fake)
        yield fake
        assert queue.drain(30), "fulfilment work still running at the end of the test"


# -- API helpers ---------------------------------------------------------------------


def put(economy: Economy, path: str, body: Any, token: Optional[str] = None) -> Resp:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token or economy.admin_token}"}
    return economy.api.request("PUT", path, headers=headers, body=json.dumps(body))


def delete(economy: Economy, path: str, token: Optional[str] = None) -> Resp:
    headers = {"Authorization": f"Bearer {token or economy.admin_token}"}
    return economy.api.request("DELETE", path, headers=headers)


def put_reward(economy: Economy, sku: str, price: int = 100, fulfilment: str = "api", **fields: Any) -> Dict[str, Any]:
    body = {"name": fields.pop("name", f"Item {sku}"), "category": fields.pop("category", "rank"), "price": price,
            "fulfilment": fulfilment, **fields}
    resp = put(economy, f"/v1/admin/rewards/{sku}", body)
    assert resp.status in (200, 201), resp.body
    return resp.body


def buy(economy: Economy, buyer: str, sku: str, qty: int = 1, idem: Optional[str] = None, **extra: Any) -> Resp:
    return economy.api.post("/v1/orders", {"buyer_id": buyer, "sku": sku, "qty": qty, **extra}, key=idem or key(),
                            token=economy.write_token)


def list_item(economy: Economy, seller: str, sku: str, qty: int, unit_price: int, expires_in: int = 3600,
              idem: Optional[str] = None, **limits: Any) -> Resp:
    body = {"seller_id": seller, "sku": sku, "qty": qty, "unit_price": unit_price, "expires_in": expires_in, **limits}
    return economy.api.post("/v1/listings", body, key=idem, token=economy.write_token)


def buy_listing(economy: Economy, listing_id: str, buyer: str, qty: int = 1, idem: Optional[str] = None,
                expected_price: Optional[int] = None) -> Resp:
    body: Dict[str, Any] = {"buyer_id": buyer, "qty": qty}
    if expected_price is not None:
        body["expected_price"] = expected_price
    return economy.api.post(f"/v1/listings/{listing_id}/buy", body, key=idem or key(), token=economy.write_token)


def order(economy: Economy, order_id: str) -> Dict[str, Any]:
    resp = economy.api.get(f"/v1/orders/{order_id}")
    assert resp.status == 200, resp.body
    return resp.body


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    """What ``predicate`` says once the local queue has finished all its work (retries included).

    Draining is the condition, not a poll: everything a test waits for here is queued
    work, so when the queue is empty it has happened or it never will.
    """
    from chalicelib.runtime import queue

    assert queue.drain(timeout), "queued work still running"
    value = predicate()
    assert value, "the queue drained and it did not happen"
    return value


def wait_resolved(economy: Economy, order_id: str, timeout: float = 20.0) -> Dict[str, Any]:
    return wait_for(lambda: (lambda o: o if o["status"] != "pending" else None)(order(economy, order_id)), timeout)


_servers: Dict[str, Dict[str, Any]] = {}


def game_server(economy: Economy) -> Dict[str, Any]:
    """The economy's game server (registered on first use): ``server_id`` and ``secret``."""
    from chalicelib.tenancy.game_servers import create_server

    if economy.id not in _servers:
        _servers[economy.id] = create_server(economy.id, "test", label="test server")
    return _servers[economy.id]


def redeem_headers(economy: Economy, raw: bytes, secret: Optional[str] = None, server_id: Optional[str] = None,
                   timestamp: Optional[int] = None) -> Dict[str, str]:
    """What the economy's game server sends: its id and its signature over ``raw``."""
    server = game_server(economy)
    return {"X-Coinhall-Server": server_id or server["server_id"],
            **signing.signed_headers(secret or server["secret"], raw, now=timestamp)}


def signed_redeem(economy: Economy, code: str, player: str, secret: Optional[str] = None,
                  timestamp: Optional[int] = None, tamper: Optional[str] = None,
                  headers: Optional[Dict[str, str]] = None) -> Resp:
    """A redeem from the economy's own game server (``headers`` replaces its signed headers)."""
    raw = json.dumps({"code": code, "player_id": player})
    signed = redeem_headers(economy, raw.encode(), secret, timestamp=timestamp) if headers is None else headers
    return economy.api.post("/v1/webhooks/redeem", raw=tamper if tamper is not None else raw, token="",
                            headers=signed)


def run_job(name: str, **kwargs: Any) -> Dict[str, Any]:
    from chalicelib.runtime.jobs import run_job as run

    return run(name, **kwargs)
