"""Every role x every admin endpoint: allowed -> 2xx; refused -> 403 ``forbidden`` naming the action, and not one
record of the economy changed. Then the reason every write needs, and what the audit row keeps.

The routes come from the app (every ``endpoint(..., action=...)``); each has a ``Spec`` here that builds what
its path names and sends a valid request. A new admin route without a spec fails
``test_every_admin_route_has_a_spec``, so none escapes the table.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import pytest

import app  # noqa: F401  (importing the app declares its routes into ROUTES)
from chalicelib.ledger import MAX_BALANCE
from chalicelib.routes._http import ROUTES, RouteDoc
from chalicelib.tenancy import apikeys, roles
from tests import purchase_helpers as ph
from tests.conftest import Economy, Resp
from tests.edge_helpers import changed_tables, economy_records
from tests.integration.spending_helpers import put_content
from tests.market_helpers import game_server, put_reward

pytestmark = pytest.mark.integration

Ids = Dict[str, str]


def _new(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _wallet(e: Economy) -> Ids:
    user = _new("u")
    e.credit(user, 100)
    return {"user_id": user}


def _credited(e: Economy) -> Ids:
    """An operation to reverse: a credit of 100."""
    return {"transaction_id": e.credit(_new("u"), 100).body["transaction_id"]}


def _in_debt(e: Economy) -> Ids:
    """A wallet that owes 70 (a refund clawed back coins it had spent) and has 10 to pay with."""
    user = _new("debtor")
    purchase = e.api.post("/v1/checkout", {"user_id": user, "pack_id": "coins_100"}).body
    assert ph.deliver(e.api, ph.completed(purchase)).body["outcome"] == "paid"
    assert e.api.post(f"/v1/users/{user}/spend", {"amount": 70, "reason": "sword"}, key=_new("k"),
                      token=e.write_token).status == 200
    assert ph.deliver(e.api, ph.refunded(purchase, purchase["price"]["amount"])).status == 200
    e.credit(user, 10)
    return {"user_id": user}


def _in_review(e: Economy) -> Ids:
    """A paid purchase whose credit the wallet's balance limit refused: it waits in needs_review."""
    from tests.integration.test_purchases_review import fill

    user = _new("full")
    fill(e, user, MAX_BALANCE - 50)
    purchase = e.api.post("/v1/checkout", {"user_id": user, "pack_id": "coins_100"}).body
    assert ph.deliver(e.api, ph.completed(purchase)).body["outcome"] == "needs_review"
    return {"purchase_id": purchase["purchase_id"]}


def _paid(e: Economy) -> Ids:
    """A credited purchase: a refund's local provider sends its event to the app served over HTTP (``_served``)."""
    purchase = e.api.post("/v1/checkout", {"user_id": _new("buyer"), "pack_id": "coins_100"}).body
    assert ph.deliver(e.api, ph.completed(purchase)).body["outcome"] == "paid"
    return {"purchase_id": purchase["purchase_id"]}


def _content(e: Economy) -> Ids:
    content_id = _new("c")
    put_content(e, content_id, 10)
    return {"content_id": content_id}


def _reward(e: Economy) -> Ids:
    sku = _new("sku")
    put_reward(e, sku, price=10, fulfilment="voucher", category="cosmetic")
    return {"sku": sku}


def _server(e: Economy) -> Ids:
    from chalicelib.tenancy.game_servers import create_server

    return {"server_id": create_server(e.id, "test", label="roles")["server_id"]}


def _pack(e: Economy) -> Ids:
    pack_id = _new("p")
    assert e.api.request("PUT", f"/v1/admin/packs/{pack_id}", body=json.dumps(PACK), headers=_json(e)).status == 200
    return {"pack_id": pack_id}


def _course(e: Economy) -> Ids:
    course_id = _new("course")
    made = e.api.request("PUT", f"/v1/admin/courses/{course_id}", body=json.dumps({"title": "T", "reward": 5}),
                         headers=_json(e))
    assert made.status == 201, made.body
    return {"course_id": course_id}


def _event_body() -> Dict[str, Any]:
    """A one-hour multiplier at a random hour years ahead: windows of different calls never overlap."""
    import random
    from datetime import datetime, timedelta, timezone

    start = datetime(2031, 1, 1, tzinfo=timezone.utc) + timedelta(hours=random.randrange(1_000_000))
    return {"name": "E", "kind": "reward_multiplier", "multiplier_bps": 20_000,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}


def _event(e: Economy) -> Ids:
    made = e.api.post("/v1/admin/events", _event_body())
    assert made.status == 201, made.body
    return {"event_id": made.body["event_id"]}


def _question(e: Economy) -> Ids:
    made = e.api.post("/v1/admin/quests", {"question": "Q?", "answer": "A", "wrong": ["B"]})
    assert made.status == 201, made.body
    return {"question_id": made.body["question_id"]}


def _order(e: Economy) -> Ids:
    """A pending voucher order (coins in escrow)."""
    buyer, sku = _new("buyer"), _new("sku")
    e.credit(buyer, 100)
    put_reward(e, sku, price=10, fulfilment="voucher", category="cosmetic")
    placed = e.api.post("/v1/orders", {"buyer_id": buyer, "sku": sku, "qty": 1}, key=_new("k"), token=e.write_token)
    assert placed.status == 201, placed.body
    return {"order_id": placed.body["order_id"]}


def _listing(e: Economy) -> Ids:
    sku = _reward(e)["sku"]
    listed = e.api.post("/v1/listings", {"seller_id": _new("seller"), "sku": sku, "qty": 1, "unit_price": 10,
                                         "expires_in": 3600}, token=e.write_token)
    assert listed.status == 201, listed.body
    return {"listing_id": listed.body["listing_id"]}


def _json(e: Economy) -> Dict[str, str]:
    return {"Authorization": f"Bearer {e.admin_token}", "Content-Type": "application/json"}


def _nothing(e: Economy) -> Ids:
    return {}


PACK = {"name": "Roles pack", "coins": 10, "price": {"amount": 199, "currency": "usd"}}


@dataclass(frozen=True)
class Spec:
    prepare: Callable[[Economy], Ids] = _nothing
    body: Optional[Dict[str, Any]] = None
    ids: Callable[[], Ids] = dict  # path ids the call makes up itself (a PUT that creates)
    ok: Tuple[int, ...] = (200, 201)
    idempotency: bool = False


SPECS: Dict[Tuple[str, str], Spec] = {
    ("POST", "/v1/admin/users/{user_id}/adjust"): Spec(_wallet, {"amount": 5, "reason": "r"}, idempotency=True),
    ("POST", "/v1/admin/users/{user_id}/freeze"): Spec(_wallet, {"reason": "r"}),
    ("POST", "/v1/admin/operations/{transaction_id}/reverse"): Spec(_credited, {"amount": 5, "reason": "r"},
                                                                    idempotency=True),
    ("POST", "/v1/admin/users/{user_id}/unfreeze"): Spec(_wallet, {"reason": "r"}),
    ("POST", "/v1/admin/users/{user_id}/settle-debt"): Spec(_in_debt, idempotency=True),
    ("GET", "/v1/admin/audit"): Spec(),
    ("GET", "/v1/admin/reports/transactions"): Spec(),
    ("GET", "/v1/admin/reports/economy"): Spec(),
    ("GET", "/v1/admin/users"): Spec(),
    ("GET", "/v1/admin/users/{user_id}"): Spec(_wallet),
    ("GET", "/v1/admin/users/{user_id}/activity"): Spec(_wallet),
    ("GET", "/v1/admin/users/{user_id}/notes"): Spec(_wallet),
    ("POST", "/v1/admin/users/{user_id}/notes"): Spec(_wallet, {"text": "asked about a refund"}),
    ("PUT", "/v1/admin/content/{content_id}"): Spec(body={"title": "T", "price": 10, "creator_id": "creator"},
                                                    ids=lambda: {"content_id": _new("c")}),
    ("GET", "/v1/admin/spending-rates"): Spec(),
    ("PUT", "/v1/admin/spending-rates"): Spec(body={"creator_share_bps": 7000}),
    ("POST", "/v1/admin/game-servers"): Spec(body={"label": "a server"}),
    ("GET", "/v1/admin/game-servers"): Spec(),
    ("GET", "/v1/admin/game-servers/{server_id}"): Spec(_server),
    ("POST", "/v1/admin/game-servers/{server_id}/rotate"): Spec(_server, {"grace_seconds": 0}),
    ("POST", "/v1/admin/game-servers/{server_id}/revoke"): Spec(_server, {}),
    ("GET", "/v1/admin/rewards/{sku}"): Spec(_reward),
    ("PUT", "/v1/admin/rewards/{sku}"): Spec(body={"name": "Pet", "category": "cosmetic", "price": 5,
                                                   "fulfilment": "voucher"}, ids=lambda: {"sku": _new("sku")}),
    ("DELETE", "/v1/admin/rewards/{sku}"): Spec(_reward),
    ("POST", "/v1/admin/purchases/{purchase_id}/retry-credit"): Spec(_in_review, {"reason": "r"}, idempotency=True),
    ("GET", "/v1/admin/purchases"): Spec(),
    ("GET", "/v1/admin/purchases/{purchase_id}"): Spec(_paid),
    ("POST", "/v1/admin/purchases/{purchase_id}/refund"): Spec(_paid, {"amount": 100, "reason": "r"}, idempotency=True),
    ("GET", "/v1/admin/packs"): Spec(),
    ("PUT", "/v1/admin/packs/{pack_id}"): Spec(body=PACK, ids=lambda: {"pack_id": _new("p")}),
    ("DELETE", "/v1/admin/packs/{pack_id}"): Spec(_pack),
    ("PUT", "/v1/admin/courses/{course_id}"): Spec(body={"title": "T", "reward": 5},
                                                   ids=lambda: {"course_id": _new("course")}),
    ("GET", "/v1/admin/courses/{course_id}"): Spec(_course),
    ("DELETE", "/v1/admin/courses/{course_id}"): Spec(_course),
    ("GET", "/v1/admin/courses"): Spec(),
    # the body is made once: a second allowed create of the same window is 409 event_overlap
    ("POST", "/v1/admin/events"): Spec(body=_event_body(), ok=(200, 201, 409)),
    ("GET", "/v1/admin/events"): Spec(),
    ("GET", "/v1/admin/events/{event_id}"): Spec(_event),
    ("POST", "/v1/admin/events/{event_id}/start"): Spec(_event, {"reason": "r"}),
    ("POST", "/v1/admin/events/{event_id}/stop"): Spec(_event, {"reason": "r"}),
    ("GET", "/v1/admin/quests"): Spec(),
    ("POST", "/v1/admin/quests"): Spec(body={"question": "Q?", "answer": "A", "wrong": ["B"]}),
    ("GET", "/v1/admin/quests/{question_id}"): Spec(_question),
    ("PATCH", "/v1/admin/quests/{question_id}"): Spec(_question, {"question": "Q2?"}),
    ("DELETE", "/v1/admin/quests/{question_id}"): Spec(_question),
    ("GET", "/v1/admin/orders"): Spec(),
    ("GET", "/v1/admin/orders/{order_id}"): Spec(_order),
    ("POST", "/v1/admin/orders/{order_id}/refund"): Spec(_order, {"reason": "r"}, idempotency=True),
    ("POST", "/v1/admin/orders/{order_id}/fulfil"): Spec(_order, {"mode": "delivered", "reason": "r"},
                                                          idempotency=True),
    ("GET", "/v1/admin/listings"): Spec(),
    ("GET", "/v1/admin/listings/{listing_id}"): Spec(_listing),
    ("POST", "/v1/admin/listings/{listing_id}/cancel"): Spec(_listing, {"reason": "r"}),
    ("PUT", "/v1/admin/listings/{listing_id}/price"): Spec(_listing, {"unit_price": 12, "reason": "r"}),
    ("GET", "/v1/admin/pricing"): Spec(),
    ("PUT", "/v1/admin/pricing"): Spec(body={"market_fee_bps": 900}),
    ("GET", "/v1/admin/reward-settings"): Spec(),
    ("PUT", "/v1/admin/reward-settings"): Spec(body={"daily_base": 10}),
}


# Routes whose allowed call needs the app served over HTTP (a local-mode refund posts its event to our webhook).
SERVED = {("POST", "/v1/admin/purchases/{purchase_id}/refund")}


@pytest.fixture(autouse=True)
def _served(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("route") not in SERVED:
        yield
        return
    from chalicelib.core import config
    from tests.integration.test_purchases_live import LiveApp

    request.getfixturevalue("shop")  # the engine's settings first: this one is added to them
    live = LiveApp()
    monkeypatch.setenv("COINS_PUBLIC_URL", live.url)
    config.reset_settings()
    yield
    live.close()
    config.reset_settings()


def admin_routes() -> Dict[Tuple[str, str], RouteDoc]:
    return {(r.method, r.path): r for r in ROUTES if r.action}


def test_every_admin_route_has_a_spec() -> None:
    assert sorted(set(admin_routes()) - set(SPECS)) == [], "give each new admin route a Spec above"
    assert sorted(set(SPECS) - set(admin_routes())) == [], "a Spec for a route that is gone"


def test_every_admin_route_asks_the_matrix() -> None:
    # No admin route is left on a bare scope check: the matrix is the only door.
    assert [r.path for r in ROUTES if r.path.startswith("/v1/admin") and not r.action] == []


def role_tokens(e: Economy) -> Dict[str, str]:
    return {role: apikeys.create_key(e.id, (), label=f"{role} key", role=role)[0] for role in roles.ROLES}


def call(e: Economy, doc: RouteDoc, spec: Spec, ids: Ids, token: str, reason: Optional[str] = "table") -> Resp:
    path = doc.path
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "X-Audit-Reason": reason}
    if spec.idempotency:
        headers["Idempotency-Key"] = _new("idem")
    body = json.dumps(spec.body) if spec.body is not None else (b"" if doc.method in ("GET", "DELETE") else "{}")
    if doc.body is None:
        body = b""
    return e.api.request(doc.method, path, headers=headers, body=body)


CASES = [(route, role) for route in sorted(SPECS) for role in roles.ROLES]


@pytest.mark.parametrize("route,role", CASES, ids=[f"{m} {p} as {r}" for (m, p), r in CASES])
def test_each_role_on_each_admin_route(shop: Economy, route: Tuple[str, str], role: str) -> None:
    doc, spec = admin_routes()[route], SPECS[route]
    token = role_tokens(shop)[role]
    ids = {**spec.prepare(shop), **spec.ids()}
    allowed = role in roles.MATRIX[doc.action]
    before = economy_records(shop.id)
    resp = call(shop, doc, spec, ids, token)
    if allowed:
        assert resp.status in spec.ok, (role, resp.status, resp.body)
        return
    assert resp.status == 403, (role, resp.status, resp.body)
    assert resp.body["error"]["code"] == "forbidden"
    assert resp.body["error"]["details"]["required_action"] == doc.action
    assert resp.body["error"]["details"]["roles"] == [role]
    assert changed_tables(before, economy_records(shop.id)) == {}


WRITES = sorted(route for route, doc in admin_routes().items() if roles.is_write(doc.action))


@pytest.mark.parametrize("route", WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_a_write_without_a_reason_is_refused_and_changes_nothing(shop: Economy, route: Tuple[str, str]) -> None:
    doc, spec = admin_routes()[route], SPECS[route]
    ids = {**spec.prepare(shop), **spec.ids()}
    unreasoned = Spec(spec.prepare, {k: v for k, v in (spec.body or {}).items() if k != doc.reason_field}
                      if spec.body is not None else None, spec.ids, spec.ok, spec.idempotency)
    before = economy_records(shop.id)
    resp = call(shop, doc, unreasoned, ids, shop.admin_token, reason=None)
    assert (resp.status, resp.code) == (400, "reason_required"), resp.body
    assert changed_tables(before, economy_records(shop.id)) == {}
    blank = call(shop, doc, unreasoned, ids, shop.admin_token, reason="   ")
    assert (blank.status, blank.code) == (400, "reason_required"), blank.body
    assert changed_tables(before, economy_records(shop.id)) == {}


def test_the_audit_row_keeps_the_role_and_the_reason_of_the_header_or_the_body(shop: Economy) -> None:
    tokens = role_tokens(shop)
    user = _wallet(shop)["user_id"]
    # SUPPORT freezes with the body's reason; the header's is ignored then.
    frozen = shop.api.post(f"/v1/admin/users/{user}/freeze", {"reason": "looks like a stolen card"},
                           token=tokens["SUPPORT"], headers={"X-Audit-Reason": "not this one"})
    assert frozen.status == 200, frozen.body
    # ADMIN puts a pack: the header is the reason, percent-encoded UTF-8 decoded.
    pack = shop.api.request("PUT", "/v1/admin/packs/roles-pack", body=json.dumps(PACK),
                            headers={"Authorization": f"Bearer {tokens['ADMIN']}", "Content-Type": "application/json",
                                     "X-Audit-Reason": "caf%C3%A9 week"})
    assert pack.status == 200, pack.body
    rows = shop.api.get("/v1/admin/audit?limit=5", token=tokens["AUDITOR"]).body["items"]
    by_action = {row["action"]: row for row in rows}
    freeze, put = by_action["wallet.freeze"], by_action["pack.put"]
    assert (freeze["role"], freeze["reason"], freeze["target"]) == ("SUPPORT", "looks like a stolen card",
                                                                    f"user:{user}")
    assert freeze["before"]["frozen"] is False and freeze["after"]["frozen"] is True
    assert freeze["actor"] == f"api_key:{apikeys.key_id_for(tokens['SUPPORT'])}"
    assert (put["role"], put["reason"]) == ("ADMIN", "café week")


@pytest.mark.parametrize("header,code", [("%FF%FE", "validation_error"), ("x" * 501, "validation_error"),
                                         ("%20%20", "reason_required"), ("%", "validation_error"),
                                         ("100% sure", "validation_error")],
                         ids=["not-utf8", "too-long", "blank-encoded", "bare-percent", "percent-not-escaped"])
def test_a_bad_reason_header_is_a_400_and_changes_nothing(shop: Economy, header: str, code: str) -> None:
    before = economy_records(shop.id)
    resp = shop.api.request("PUT", "/v1/admin/packs/never", body=json.dumps(PACK),
                            headers={**_json(shop), "X-Audit-Reason": header})
    assert (resp.status, resp.code) == (400, code), resp.body
    assert changed_tables(before, economy_records(shop.id)) == {}


def test_a_legacy_admin_scope_key_is_an_admin_and_a_role_key_needs_no_scope(shop: Economy) -> None:
    legacy, _ = apikeys.create_key(shop.id, {"read", "admin"}, label="old admin")
    assert shop.api.get("/v1/admin/packs", token=legacy).status == 200
    auditor = role_tokens(shop)["AUDITOR"]
    assert shop.api.get("/v1/admin/audit", token=auditor).status == 200
    # A role grants no host-app scope: an operator key cannot spend a user's coins.
    user = _wallet(shop)["user_id"]
    spent = shop.api.post(f"/v1/users/{user}/spend", {"amount": 1, "reason": "x"}, key=_new("k"), token=auditor)
    assert (spent.status, spent.code) == (403, "forbidden")
    assert spent.body["error"]["details"]["required_scope"] == "write"


def test_a_key_cannot_be_made_with_an_unknown_role_or_nothing() -> None:
    with pytest.raises(ValueError):
        apikeys.create_key("e-roles", (), role="JANITOR")
    with pytest.raises(ValueError):
        apikeys.create_key("e-roles", ())
