"""The signed channels fuzzed with valid signatures over generated bodies: never a 5xx, every 4xx in our shape.

A valid signature is the only authentication Stripe's webhook, Discord's
interactions endpoint and the game server's redeem webhook have, so a body that
carries one reaches the parser and whatever follows it. Hypothesis generates the
bodies: a plausible template (a known event type, a command the bot has, a
real voucher's redeem) with parts replaced by arbitrary JSON, or arbitrary JSON alone,
or bytes that are not JSON. Each is signed as the sender would (Stripe's scheme
with the local secret, Ed25519 with a real key pair, the game server's HMAC).
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.discord.router import COMMANDS
from chalicelib.purchases.stripe_events import EVENTS
from scripts.discord_standin import snowflake
from tests import purchase_helpers as ph
from tests.discord_helpers import discord, sign  # noqa: F401 (discord is a fixture)
from tests.market_helpers import buy, plugin, put_reward, redeem_headers  # noqa: F401 (plugin is a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = 300  # per channel: 3-5 s each on the shared 2-core machine (the fixtures take longer)
_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=15)


@st.composite
def mutated(draw: Any, template: Any) -> Any:
    """``template`` with up to three of its values replaced by arbitrary JSON, or keys dropped or added."""
    doc = json.loads(json.dumps(template))
    for _ in range(draw(st.integers(0, 3))):
        node, parent, key = doc, None, None
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, draw(st.sampled_from(keys))
            node = node[key]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if parent is None:
            if isinstance(doc, dict) and action == "add":
                doc[draw(st.text(max_size=12))] = draw(json_values)
            continue
        if action == "drop" and isinstance(parent, dict):
            del parent[key]
        elif action == "add" and isinstance(node, dict):
            node[draw(st.text(max_size=12))] = draw(json_values)
        else:
            parent[key] = draw(json_values)
    return doc


def bodies(templates: List[Any]) -> Any:
    """Raw bodies: a mutated template mostly, else arbitrary JSON or text that is not JSON."""
    as_json = st.one_of(*[mutated(t) for t in templates]).map(json.dumps)
    return st.one_of(as_json, as_json, as_json, json_values.map(json.dumps), st.text(max_size=60))


def assert_answered(resp: Any, seen: Dict[int, int]) -> None:
    seen[resp.status] = seen.get(resp.status, 0) + 1
    assert resp.status < 500, (resp.status, resp.body)
    if resp.status >= 400:
        error = resp.body.get("error") if isinstance(resp.body, dict) else None
        assert isinstance(error, dict) and isinstance(error.get("code"), str) and _CODE.match(error["code"]), resp.body
        assert isinstance(error.get("message"), str) and isinstance(error.get("details"), dict), resp.body


def _stripe_templates() -> List[Dict[str, Any]]:
    purchase = {"purchase_id": "pur_01FUZZ", "session_id": "cs_fuzz", "price": {"amount": 499, "currency": "usd"}}
    obj = {"id": "cs_fuzz", "object": "checkout.session", "mode": "payment", "status": "complete",
           "payment_status": "paid", "amount_total": 499, "currency": "usd", "client_reference_id": "pur_01FUZZ",
           "metadata": {"purchase_id": "pur_01FUZZ"}, "payment_intent": "pi_01FUZZ", "amount": 499,
           "amount_refunded": 499, "charge": "ch_01FUZZ", "reason": "fraudulent", "status_dispute": "won"}
    return [ph.event(kind, dict(obj)) for kind in sorted(EVENTS)] + [ph.completed(purchase)]


def test_stripe_webhook_signed_fuzz(economy: Any) -> None:
    seen: Dict[int, int] = {}
    channel = "stripe"

    @_SETTINGS
    @given(body=bodies(_stripe_templates()))
    def run(body: str) -> None:
        assert_answered(ph.deliver_signed(economy.api, body), seen)

    run()
    print(f"{channel}: {sum(seen.values())} signed bodies, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= EXAMPLES and 200 in seen and 400 in seen, seen


def test_discord_interactions_signed_fuzz(discord: Any) -> None:  # noqa: F811 (the fixture)
    seen: Dict[int, int] = {}
    channel = "discord"
    member = {"user": {"id": snowflake(), "username": "fuzz"}, "roles": [], "permissions": "8"}
    templates: List[Dict[str, Any]] = [{"type": 1}]
    for name in sorted(COMMANDS):
        templates.append({"type": 2, "id": "1", "application_id": "1", "token": "t", "guild_id": discord.guild_id,
                          "member": member, "data": {"name": name, "options": [{"name": "amount", "type": 4,
                                                                                "value": 5}]}})
    templates.append({"type": 3, "id": "1", "application_id": "1", "token": "t", "guild_id": discord.guild_id,
                      "member": member, "data": {"custom_id": "coins:refresh", "component_type": 2}})

    @_SETTINGS
    @given(body=bodies(templates))
    def run(body: str) -> None:
        resp = discord.economy.api.post("/discord/interactions", raw=body, token="", headers=sign(body))
        assert_answered(resp, seen)

    run()
    print(f"{channel}: {sum(seen.values())} signed bodies, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= EXAMPLES and 200 in seen and 400 in seen, seen


def test_redeem_webhook_signed_fuzz(economy: Any, plugin: Any) -> None:  # noqa: F811 (the fixture)
    seen: Dict[int, int] = {}
    channel = "redeem"
    economy.credit("kid", 1_000)
    put_reward(economy, "pet", price=100, fulfilment="voucher", category="cosmetic")
    # Real vouchers, so bodies reach the redeem itself: a first redeem, then its replays (200, replayed).
    codes = [buy(economy, "kid", "pet").body["voucher_code"] for _ in range(3)]
    templates = [{"code": code, "player_id": player} for code in codes for player in ("Steve", "Alex")]

    @_SETTINGS
    @given(body=bodies(templates))
    def run(body: str) -> None:
        headers = redeem_headers(economy, body.encode())
        assert_answered(economy.api.post("/v1/webhooks/redeem", raw=body, token="", headers=headers), seen)

    run()
    print(f"{channel}: {sum(seen.values())} signed bodies, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= EXAMPLES and {200, 400} <= set(seen), seen
