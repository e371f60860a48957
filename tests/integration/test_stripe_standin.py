"""The Stripe stand-in's modes for runs that must replay (the simulation): scripts per request, held events, seeded ids.

Its Stripe behaviour (sessions, refunds, idempotency, ``fail_next``) is tested
with the app in test_purchase_refunds.py and test_purchases_live.py.
"""
from __future__ import annotations

import random
from typing import Any, Dict, Iterator

import pytest
import requests

from chalicelib.core import config
from chalicelib.purchases import stripe_gateway
from scripts.stripe_standin import SCRIPT_HEADER, Intent, StripeStandIn

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer sk_test_x"}


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    with StripeStandIn(hold_events=True, hang_s=2.0) as server:
        server.intents["pi_x"] = Intent("pi_x", "ch_x", 1000, "usd", {"purchase_id": "pur_x"})
        yield server


def _refund(standin: StripeStandIn, key: str, script: str, amount: int = 100, timeout: float = 5) -> requests.Response:
    return requests.post(f"{standin.url}/v1/refunds", data={"payment_intent": "pi_x", "amount": str(amount)},
                         headers={**AUTH, "Idempotency-Key": key, SCRIPT_HEADER: script}, timeout=timeout)


def test_a_scripted_failure_runs_nothing_and_the_retry_runs_it(standin: StripeStandIn) -> None:
    assert _refund(standin, "k", "500").status_code == 500
    limited = _refund(standin, "k", "429")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    with pytest.raises(requests.ConnectionError):
        _refund(standin, "k", "reset")
    assert standin.refunds == {} and standin.intents["pi_x"].amount_refunded == 0
    ok = _refund(standin, "k", "ok")
    assert ok.status_code == 200 and list(standin.refunds) == [ok.json()["id"]]
    assert [s.script for s in standin.calls("/v1/refunds")] == ["500", "429", "reset", "ok"]


def test_a_hang_runs_the_request_and_loses_the_answer_and_the_same_key_replays_it(standin: StripeStandIn) -> None:
    with pytest.raises(requests.Timeout):
        _refund(standin, "k", "hang", timeout=0.2)
    assert standin.wait_done(1) and not standin.wait_done(2, timeout=0.05)
    assert len(standin.refunds) == 1 and standin.intents["pi_x"].amount_refunded == 100  # it happened
    again = _refund(standin, "k", "ok")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert list(standin.refunds) == [again.json()["id"]] and standin.intents["pi_x"].amount_refunded == 100


def test_held_events_wait_for_the_caller(standin: StripeStandIn) -> None:
    _refund(standin, "a", "ok", amount=300)
    _refund(standin, "b", "ok", amount=200)
    events = standin.take_events()
    assert [(e["type"], e["data"]["object"]["amount_refunded"]) for e in events] == [
        ("charge.refunded", 300), ("charge.refunded", 500)]  # cumulative, as Stripe sends them
    assert events[0]["data"]["object"]["metadata"] == {"purchase_id": "pur_x"}
    assert standin.take_events() == [] and standin.webhooks == []  # none sent


def test_seeded_ids_and_clock_replay() -> None:
    def one_run() -> Dict[str, Any]:
        with StripeStandIn(hold_events=True, ids=random.Random(7), clock=lambda: 1_800_000_000.0) as server:
            server.intents["pi_x"] = Intent("pi_x", "ch_x", 1000, "usd", {})
            refund = _refund(server, "k", "ok").json()
            return {"refund": refund, "events": server.take_events()}

    first, second = one_run(), one_run()
    assert first == second and first["refund"]["created"] == 1_800_000_000
    assert first["refund"]["id"].startswith("re_test_") and len(first["refund"]["id"]) == len("re_test_") + 24


def test_the_gateway_uses_the_given_network_and_the_librarys_retry_finds_the_refund_made(
        standin: StripeStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    import stripe

    scripts = ["hang", "500", "ok"]

    class Scripted(stripe.RequestsClient):
        def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
            script = scripts.pop(0)
            self._timeout = 0.2 if script == "hang" else 10
            return super().request(method, url, {**headers, SCRIPT_HEADER: script}, post_data)

        def _sleep_time_seconds(self, num_retries: int) -> float:
            return 0.0

    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_x")
    monkeypatch.setenv("STRIPE_API_BASE", standin.url)
    monkeypatch.setattr(stripe_gateway, "http_client", Scripted(timeout=10))
    config.reset_settings()
    try:
        done = stripe_gateway.create_refund("pi_x", 250, "coinhall-refund-rfd_1", {"refund_ref": "rfd_1"})
    finally:
        config.reset_settings()
    assert scripts == [] and [s.script for s in standin.calls("/v1/refunds")] == ["hang", "500", "ok"]
    assert list(standin.refunds) == [done["id"]] and done["amount"] == 250  # run once, answered on the third try
    assert len(standin.take_events()) == 1
