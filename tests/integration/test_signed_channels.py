"""The signed channels, with valid signatures over malformed bodies: a 4xx naming the field, and nothing changed.

A body that carries a good signature has passed the only authentication these
channels have, so nothing before the parser stops it. Each case is a real
request (a pynacl signature for Discord, the game server's HMAC for the redeem
webhook) whose body is a valid one with one field made wrong, generated from
the parser's own model, or a body that is not an object at all. Afterwards
every record of the economy is as it was, and no guild or economy was created.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple, Union

import pytest

from chalicelib.discord.interaction import InteractionBody
from chalicelib.routes.market_models import RedeemBody
from scripts.discord_standin import snowflake
from tests.discord_helpers import discord, sign, standin  # noqa: F401 (fixtures)
from tests.edge_helpers import (
    BodyCase, changed_tables, economy_records, field_cases, names_field, whole_body_cases,
)
from tests.market_helpers import buy, plugin, put_reward, redeem_headers  # noqa: F401 (plugin is a fixture)

pytestmark = pytest.mark.integration

_SENTINEL = "__the_bad_value__"


def mutate(base: Dict[str, Any], path: List[str], text: str) -> str:
    """``base`` as JSON text with the value at ``path`` replaced by the JSON text ``text`` (made where missing)."""
    doc = json.loads(json.dumps(base))
    node: Any = doc
    for part, following in zip(path, path[1:] + [None]):
        empty: Any = [] if following == "0" else {}
        if isinstance(node, list):
            if not node:
                node.append(empty)
            if following is None:
                node[0] = _SENTINEL
            elif not isinstance(node[0], (dict, list)):
                node[0] = empty
            node = node[0]
        else:
            if following is None:
                node[part] = _SENTINEL
            elif not isinstance(node.get(part), (dict, list)):
                node[part] = empty
            node = node[part]
    return json.dumps(doc).replace(json.dumps(_SENTINEL), text)


def table_sizes(*tables: str) -> Dict[str, int]:
    from chalicelib.db.engine import get_client, table_name

    client = get_client()
    return {t: client.scan(TableName=table_name(t), Select="COUNT")["Count"] for t in tables}


# --- Discord ---------------------------------------------------------------------------


def _bases(discord: Any) -> Dict[str, Dict[str, Any]]:
    """One valid interaction of each kind we read, from an admin member of the world's guild."""
    admin = discord.admin(roles=[snowflake()])
    target = snowflake()
    command = admin.payload(2, {"id": snowflake(), "name": "coins-admin", "type": 1, "options": [
        {"name": "adjust", "type": 1, "options": [{"name": "user", "type": 6, "value": target},
                                                  {"name": "amount", "type": 4, "value": 5}]}],
        "resolved": {"users": {target: {"id": target, "username": "t"}}}})
    select = admin.payload(3, {"custom_id": "buy:pack", "component_type": 3, "values": ["coins_100"]})
    modal = admin.payload(5, {"custom_id": f"admin:freeze:{snowflake()}:{target}",
                              "components": [{"type": 1, "components": [{"type": 4, "custom_id": "reason",
                                                                         "value": "why"}]}]})
    return {"command": command, "select": select, "modal": modal}


def discord_cases(discord: Any) -> List[Tuple[str, Union[str, bytes], Any]]:
    cases: List[Tuple[str, Union[str, bytes], Any]] = [(f"whole/{c.name}", c.raw, c.field)
                                                         for c in whole_body_cases()]
    for kind, base in _bases(discord).items():
        for c in field_cases(InteractionBody):
            at = c.name.split(":")[0].split(".")
            cases.append((f"{kind}/{c.name}", mutate(base, at, _text_of(c)), c.field))
        # the parts the brief names, as Discord could send them broken
        for name, path, text in [
            ("member-list", ["member"], "[]"), ("member-string", ["member"], '"me"'),
            ("user-number", ["member", "user"], "42"), ("no-user", ["member", "user"], "null"),
            ("roles-objects", ["member", "roles"], '[{"id": "1"}]'), ("permissions-int", ["member", "permissions"], "8"),
            ("data-list", ["data"], "[1]"), ("data-null", ["data"], "null"),
            ("guild-int", ["guild_id"], "123"), ("guild-word", ["guild_id"], '"my-guild"'),
            ("options-object", ["data", "options"], '{"name": "x"}'),
            ("options-deep", ["data", "options"], "[" + '{"name": "a", "type": 1, "options": [' * 50
             + "]}" * 50 + "]"),
            ("custom-id-long", ["data", "custom_id"], json.dumps("b" * 101)),
            ("custom-id-list", ["data", "custom_id"], '["hub:help"]'),
            ("components-string", ["data", "components"], '"rows"'),
            ("components-rows-of-strings", ["data", "components"], '[{"type": 1, "components": ["x"]}]'),
            ("values-ints", ["data", "values"], "[1, 2]"),
            ("resolved-users-list", ["data", "resolved", "users"], "[]"),
            ("type-99", ["type"], "99"), ("type-string", ["type"], '"2"'), ("id-float", ["id"], "1.5"),
        ]:
            cases.append((f"{kind}/{name}", mutate(base, path, text), ".".join(path)))
    return cases


def _text_of(case: BodyCase) -> str:
    """The bad JSON text inside a generated single-field body (``{"a": {"b": <text>}}`` -> ``<text>``)."""
    field = case.name.split(":")[0]
    raw = case.raw if isinstance(case.raw, str) else case.raw.decode()
    for part in field.split("."):
        prefix = "[" if part == "0" else "{" + json.dumps(part) + ": "
        assert raw.startswith(prefix), (case.name, raw[:80])
        raw = raw[len(prefix):-1]
    return raw


def test_signed_malformed_interactions_are_400_and_change_nothing(discord) -> None:
    economy = discord.economy
    economy.credit("1" * 18, 10)
    before, sizes = economy_records(economy.id), table_sizes("economies", "discord_guilds", "discord_interactions")
    wrong: Dict[str, str] = {}
    cases = discord_cases(discord)
    for name, raw, field in cases:
        body = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        resp = economy.api._wrap(economy.api.client.http.request(
            "POST", "/discord/interactions", headers={"Content-Type": "application/json", **_sign_bytes(body)},
            body=body))
        if resp.status != 400 or resp.code not in ("malformed_json", "validation_error"):
            wrong[name] = f"{resp.status} {resp.code} {str(resp.body)[:200]}"
        elif field and resp.code == "validation_error" and not names_field(resp.body["error"], field) \
                and not names_field(resp.body["error"], "body"):
            wrong[name] = f"does not name {field}: {resp.body['error']['details']}"
    assert wrong == {}, f"{len(wrong)} of {len(cases)}: " + json.dumps(wrong, indent=1)[:6000]
    assert changed_tables(before, economy_records(economy.id)) == {}
    assert table_sizes("economies", "discord_guilds", "discord_interactions") == sizes
    economy.check()


def _sign_bytes(body: bytes) -> Dict[str, str]:
    import time

    from tests.discord_helpers import SIGNING_KEY

    ts = str(int(time.time()))
    return {"X-Signature-Ed25519": SIGNING_KEY.sign(ts.encode() + body).signature.hex(), "X-Signature-Timestamp": ts}


def test_the_valid_bases_are_answered_so_the_cases_test_one_fault_each(discord, standin) -> None:
    for kind, base in _bases(discord).items():
        body = json.dumps(base)
        resp = discord.economy.api.post("/discord/interactions", raw=body, token="", headers=sign(body))
        assert resp.status == 200 and resp.body["type"] in (4, 5, 9), (kind, resp.body)


# --- the redeem webhook -----------------------------------------------------------------


def test_signed_malformed_redeems_are_4xx_and_change_nothing(economy, plugin) -> None:
    economy.credit("kid", 500)
    put_reward(economy, "pet", price=120, fulfilment="voucher", category="cosmetic")
    placed = buy(economy, "kid", "pet").body
    base = {"code": placed["voucher_code"], "player_id": "Steve"}
    redeem_headers(economy, b"{}")  # the game server is registered before the snapshot
    before = economy_records(economy.id)
    cases = [(f"whole/{c.name}", c.raw, None) for c in whole_body_cases()]
    for c in field_cases(RedeemBody):
        field = c.name.split(":")[0]
        cases.append((c.name, mutate(base, field.split("."), _text_of(c)), field))
    cases += [("code-fullwidth", json.dumps({**base, "code": "ＡＡＡＡ-ＢＢＢＢ-ＣＣＣＣ-ＤＤＤＤ"}), "voucher"),
              ("player-unicode", json.dumps({**base, "player_id": "Stéve"}), "player_id"),
              ("unknown-field", json.dumps({**base, "order_id": placed["order_id"]}), "order_id")]
    wrong: Dict[str, str] = {}
    for name, raw, field in cases:
        body = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        resp = economy.api._wrap(economy.api.client.http.request(
            "POST", "/v1/webhooks/redeem", headers={"Content-Type": "application/json",
                                                    **redeem_headers(economy, body)}, body=body))
        expected = ("voucher_not_found",) if field == "voucher" else ("malformed_json", "validation_error")
        if not 400 <= resp.status < 500 or resp.code not in expected:
            wrong[name] = f"{resp.status} {resp.code} {str(resp.body)[:200]}"
        elif field not in (None, "voucher") and not names_field(resp.body["error"], field):
            wrong[name] = f"does not name {field}: {resp.body['error']['details']}"
    assert wrong == {}, f"{len(wrong)} of {len(cases)}: " + json.dumps(wrong, indent=1)[:6000]
    assert changed_tables(before, economy_records(economy.id)) == {}
    assert economy.api.get(f"/v1/orders/{placed['order_id']}").body["status"] == "pending"
    economy.check()
