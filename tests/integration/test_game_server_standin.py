"""The game-server stand-in `make run` starts: the fulfilment contract, and its fail / slow switch over HTTP."""
from __future__ import annotations

import json
from typing import Iterator

import pytest
import requests

from chalicelib.core import signing
from scripts.game_server_standin import PLUGIN_KEY, PluginStandIn

pytestmark = pytest.mark.integration


@pytest.fixture
def game() -> Iterator[PluginStandIn]:
    with PluginStandIn() as server:
        yield server


def _deliver(game: PluginStandIn, order_id: str, key: str = PLUGIN_KEY) -> requests.Response:
    body = json.dumps({"order_id": order_id, "sku": "vip", "qty": 1, "player": "steve"}).encode()
    return requests.post(game.url, data=body, timeout=10, headers={
        "Content-Type": "application/json", "Idempotency-Key": order_id, **signing.signed_headers(key, body)})


def _control(game: PluginStandIn, body: object) -> requests.Response:
    return requests.post(f"{game.base_url}/control", data=json.dumps(body), timeout=10)


def test_it_delivers_a_signed_order_once_and_refuses_a_bad_signature(game) -> None:
    assert _deliver(game, "ord_1").json() == {"status": "delivered"}
    assert _deliver(game, "ord_1").json() == {"status": "delivered", "repeat": True}
    assert _deliver(game, "ord_2", key="not-the-key").status_code == 401
    seen = requests.get(f"{game.base_url}/deliveries", timeout=10).json()
    assert seen["deliveries"] == {"ord_1": 1} and seen["mode"] == {"mode": "ok"}


def test_the_switch_makes_it_fail_and_then_work_again(game) -> None:
    assert _control(game, {"mode": "fail", "status": 503}).json() == {"mode": "fail", "status": 503}
    failed = _deliver(game, "ord_1")
    assert failed.status_code == 503 and game.deliveries["ord_1"] == 0
    assert _control(game, {"mode": "ok"}).json() == {"mode": "ok"}
    assert _deliver(game, "ord_1").json() == {"status": "delivered"} and game.deliveries["ord_1"] == 1


def test_slow_mode_delivers_and_answers_late(game) -> None:
    assert _control(game, {"mode": "slow", "delay_s": 0.2}).json() == {"mode": "slow", "delay_s": 0.2}
    assert _deliver(game, "ord_1").json() == {"status": "delivered"}
    assert game.deliveries["ord_1"] == 1


@pytest.mark.parametrize("body", [{}, {"mode": "explode"}, {"mode": "fail", "status": 200},
                                  {"mode": "slow", "delay_s": -1}, {"mode": "slow", "delay_s": "soon"}, "junk"])
def test_a_bad_switch_is_refused_and_changes_nothing(game, body) -> None:
    refused = _control(game, body)
    assert refused.status_code == 400 and "mode" in refused.json()["error"]
    assert requests.get(f"{game.base_url}/deliveries", timeout=10).json()["mode"] == {"mode": "ok"}
