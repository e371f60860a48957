"""Every route in the app, fed malformed input with a valid key of the right scope: a 4xx from a closed list
of input codes, and not one record of the economy changed.

The routes come from the app itself (``app.routes``: those declared with
``endpoint()``, which ``_http.ROUTES`` describes, and the HTML pages that are
not), and the cases from each route's own pydantic model (``edge_helpers.body_cases``),
its path parameters and its query parameters: a new route, or a new field of
a model, is walked without anyone adding a case here.

The world each route is walked in has real things for its path to name (a
funded wallet, a content item, a shop SKU, a listing, a hold, an escrow, a
voucher order, a game server), so a route that acted in spite of a bad body
would change something the snapshot sees. The signed channels (Discord, the
redeem webhook) are walked with valid signatures in ``test_signed_channels.py``;
here they get bodies without one.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple, Union
from urllib.parse import quote

import pytest

from chalicelib.routes._http import ROUTES, RouteDoc
from tests.conftest import Economy, Resp
from tests.edge_helpers import (
    INPUT_CODES, LONE_SURROGATE, body_cases, changed_tables, economy_records, make_economy, names_field,
    whole_body_cases,
)
from tests.market_helpers import buy, game_server, list_item, put_reward
from tests.integration.spending_helpers import place_hold, put_content

pytestmark = pytest.mark.integration

# HTML pages (not ``endpoint()``): their own error page, a 4xx with text/html.
HTML_ROUTES = {
    ("GET", "/local/checkout/{purchase_id}"), ("POST", "/local/checkout/{purchase_id}/pay"),
    ("POST", "/local/checkout/{purchase_id}/refund"), ("POST", "/local/checkout/{purchase_id}/cancel"),
    ("GET", "/checkout/success"), ("GET", "/checkout/cancel"),
}
# The signed channels: without a valid signature they refuse everything (walked signed elsewhere).
SIGNED = {("POST", "/v1/webhooks/stripe"), ("POST", "/v1/webhooks/redeem"), ("POST", "/discord/interactions")}


def all_routes() -> List[Tuple[str, str]]:
    import app

    return sorted((method, path) for path, methods in app.app.routes.items() for method in methods)


def _doc(method: str, path: str) -> Optional[RouteDoc]:
    return next((r for r in ROUTES if r.method == method and r.path == path), None)


def test_every_route_is_an_endpoint_or_a_known_page() -> None:
    endpoints = {(r.method, r.path) for r in ROUTES}
    assert set(all_routes()) == endpoints | HTML_ROUTES
    assert SIGNED <= endpoints


@dataclass
class World:
    economy: Economy
    ids: Dict[str, str]


@pytest.fixture(scope="module")
def world(ddb_local_endpoint: str) -> Iterator[World]:
    """One world for every route of this module (each route's walk must leave it as it was: it is checked)."""
    from chalice.test import Client

    from app import app
    from chalicelib.core import config
    from chalicelib.runtime import queue
    from chalicelib.db import engine as db_engine
    from chalicelib.db.schema import create_tables
    from tests import conftest
    from tests.market_helpers import PluginStandIn, use_plugin

    with pytest.MonkeyPatch.context() as mp, PluginStandIn() as fake, Client(app, stage_name="local") as client:
        conftest._apply_env(mp, COINS_DYNAMODB_ENDPOINT=ddb_local_endpoint, COINS_TABLE_PREFIX="test-")
        if not conftest._created.get(ddb_local_endpoint):
            create_tables()
            conftest._created[ddb_local_endpoint] = True
        use_plugin(mp, fake)
        e = make_economy(client)
        yield World(e, _furnish(e))
        assert queue.drain(30), "queued work still running at the end of the module"
    config.reset_settings()  # as the function-scoped engine fixtures do on their way out
    db_engine.reset()


def _furnish(e: Economy) -> Dict[str, str]:
    """Real things for the routes' paths to name; returns their ids by path parameter."""
    from chalicelib.runtime import queue

    credited = e.credit("alice", 5000).body
    put_content(e, "chapter-1", 50)
    put_reward(e, "pet", price=40, fulfilment="voucher", category="cosmetic", stock=10, payload={"pet": "cat"})
    listing = list_item(e, "alice", "pet", qty=2, unit_price=30).body
    hold = place_hold(e, "alice", 100).body
    escrow = e.api.post("/v1/escrows", {"client_id": "alice", "freelancer_id": "bob", "amount": 100, "job_ref": "j"},
                        key=uuid.uuid4().hex, token=e.write_token).body
    placed = buy(e, "alice", "pet").body
    server = game_server(e)
    course = e.api.request("PUT", "/v1/admin/courses/python-101", body=json.dumps({"title": "Python", "reward": 50}),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {e.admin_token}"})
    assert course.status == 201, course.body
    event = e.api.post("/v1/admin/events", {"name": "E", "kind": "shop_discount", "discount_bps": 100,
                                            "starts_at": "2031-01-01T00:00:00Z", "ends_at": "2031-01-02T00:00:00Z"})
    assert event.status == 201, event.body
    assert queue.drain(30)  # the market's log lines and notifications, before any snapshot
    return {"user_id": "alice", "content_id": "chapter-1", "sku": "pet", "listing_id": listing["listing_id"],
            "hold_id": hold["hold_id"], "escrow_id": escrow["escrow_id"], "order_id": placed["order_id"],
            "server_id": server["server_id"], "pack_id": "coins_100", "course_id": "python-101",
            "event_id": event.body["event_id"], "question_id": "q_planet",
            "purchase_id": "pur_01ARZ3NDEKTSV4RRFFQ69G5FAV", "transaction_id": credited["transaction_id"]}


def _token(w: World, doc: Optional[RouteDoc]) -> str:
    scope = ("admin" if doc.action else doc.scope) if doc else None  # the admin token's role may do every action
    e = w.economy
    return {"admin": e.admin_token, "write": e.write_token, "read": e.read_token,
            "rewards": e.rewards_token}.get(scope or "", "")


def send(w: World, method: str, path: str, doc: Optional[RouteDoc], raw: Union[str, bytes, None] = None,
         query: str = "") -> Resp:
    # With a reason: an admin write's body and path are what is walked here (test_operator_roles.py: no reason).
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"walk-{uuid.uuid4().hex}",
               "X-Audit-Reason": "walk"}
    token = _token(w, doc)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return w.economy.api._wrap(w.economy.api.client.http.request(method, path + query, headers=headers,
                                                                 body=body or b""))


def fill(path: str, ids: Dict[str, str], bad: Optional[Tuple[str, str]] = None) -> str:
    """``path`` with its parameters named after the world's things (one of them ``bad`` instead)."""
    def value(match: "re.Match[str]") -> str:
        name = match.group(1)
        return bad[1] if bad and bad[0] == name else ids[name]

    return re.sub(r"{(\w+)}", value, path)


BAD_PATH_VALUES = {
    "huge": "x" * 5000, "space": "a b", "unicode": "ａｌｉｃｅ\u200b", "lone-surrogate": "\ud800",
    "nul": "a\x00b", "percent": "%ED%A0%80", "emoji": "\U0001F4B0" * 10,
}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


BAD_CURSORS = {
    "garbage": "garbage", "huge": "A" * 5000, "not-base64": "!!!!", "unicode": "ü" * 10,
    "list": _b64("[1, 2]"), "string": _b64('"x"'), "number": _b64("1"), "null": _b64("null"),
    "nested": _b64("[" * 5000 + "]" * 5000), "nan": _b64('{"s": NaN, "p": {}}'),
    "no-position": _b64('{"s": "x"}'), "position-list": _b64('{"s": "x", "p": [1]}'),
    "forged-scope": _b64('{"s": "orders:other#alice:*", "p": {"order_id": "x", "created_at": "y"}}'),
    "surrogate": _b64('{"s": "x", "p": {"k": "' + LONE_SURROGATE + '"}}'),
    "half-padded": "eyJzIjoi=", "empty-json": _b64("{}"),
}
BAD_VALUES = {  # other query parameters
    "limit": ["0", "-1", "100000", "1e2", "١٢", "9" * 30, " 5", "5.0", "\ud800", "x" * 5000],
    "status": ["nope", "x" * 5000, "\ud800", "ACTIVE"],
    "category": ["nope", "x" * 5000, "\ud800"],
    "sku": ["bad*sku", "x" * 5000, "\ud800"],
    "user_id": ["a b", "x" * 5000, "\ud800"],
}


def _query_value(value: str) -> str:
    # A lone surrogate goes as it is: percent-encoded, the gateway would decode it to U+FFFD.
    return value if "\ud800" in value else quote(value, safe="")


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    raw: Union[str, bytes, None]
    query: str
    field: Optional[str]
    must_refuse: bool  # False: the route reads no input here; it must only not fail or change anything


def cases_for(method: str, path: str, ids: Dict[str, str]) -> List[Case]:
    doc = _doc(method, path)
    params = re.findall(r"{(\w+)}", path)
    cases: List[Case] = []
    if doc is not None and doc.body is not None:
        for c in body_cases(doc.body):
            if c.name == "empty" and not doc.body_required:
                continue  # an absent body is the model's defaults: valid
            cases.append(Case(f"body/{c.name}", fill(path, ids), c.raw, "", c.field, True))
    for param in params:
        for name, value in BAD_PATH_VALUES.items():
            raw = "{}" if doc is not None and doc.body is not None else None
            cases.append(Case(f"path/{param}/{name}", fill(path, ids, (param, value)), raw, "", None, True))
    query = dict(doc.query) if doc else ({"purchase_id": ""} if (method, path) in HTML_ROUTES and not params else {})
    for name in query:
        values = list(BAD_CURSORS.values()) if name == "cursor" else BAD_VALUES.get(name, ["x" * 5000, "\ud800"])
        for i, value in enumerate(values):
            field = name if doc is not None and name != "cursor" else None
            cases.append(Case(f"query/{name}/{i}", fill(path, ids), None, f"?{name}={_query_value(value)}", field, True))
    if doc is None or doc.body is None:  # a body the route never reads: ignored, never a failure
        for c in whole_body_cases():
            signed = (method, path) in SIGNED
            cases.append(Case(f"ignored-body/{c.name}", fill(path, ids, (params[0], "x" * 300) if params and
                                                               method != "GET" else None),
                              c.raw, "", None, signed or bool(params and method != "GET")))
    return cases


def _check(w: World, method: str, path: str, case: Case, resp: Resp) -> Optional[str]:
    """What is wrong with ``resp`` for ``case`` (None: it is right)."""
    if (method, path) in HTML_ROUTES:
        if resp.status >= 500 or (case.must_refuse and not 400 <= resp.status < 500):
            return f"{resp.status} {str(resp.body)[:200]}"
        return None
    if resp.status >= 500:
        return f"{resp.status} {resp.body}"
    if not case.must_refuse:
        if resp.status >= 400 and resp.code not in INPUT_CODES and not (resp.status == 404 and
                                                                       resp.code.endswith("_not_found")):
            return f"{resp.status} {resp.code}"
        return None
    if not 400 <= resp.status < 500 or resp.code not in INPUT_CODES:
        return f"{resp.status} {resp.code}: {str(resp.body)[:300]}"
    if case.field is not None and not names_field(resp.body["error"], case.field):
        return f"does not name {case.field}: {resp.body['error']}"
    return None


def _route_id(route: Tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


@pytest.mark.parametrize("route", all_routes(), ids=_route_id)
def test_malformed_input_is_a_4xx_and_changes_nothing(world: World, route: Tuple[str, str]) -> None:
    method, path = route
    doc = _doc(method, path)
    cases = cases_for(method, path, world.ids)
    assert cases, f"{method} {path}: no case was generated"
    before = economy_records(world.economy.id)
    wrong = {}
    for case in cases:
        problem = _check(world, method, path, case, send(world, method, case.path, doc, case.raw, case.query))
        if problem:
            wrong[case.name] = problem
    assert wrong == {}, f"{len(wrong)} of {len(cases)} cases answered wrongly: " + json.dumps(wrong, indent=1)[:6000]
    assert changed_tables(before, economy_records(world.economy.id)) == {}
    world.economy.check()
