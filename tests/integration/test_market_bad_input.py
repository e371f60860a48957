"""Bad input to every market endpoint: the exact 4xx and stable code, and proof that nothing changed.

Each case runs against a small world (funded wallets, an API SKU with stock and
a daily limit, a voucher SKU, a hidden and a deleted SKU, a listing with
per-buyer limits, a cancelled listing, a pending voucher order) and compares
the books (wallets, treasury, ledger entries, audit trail, holds) and the
market (catalog, listings, orders, the voucher) before and after.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Optional

import pytest

from chalicelib.core import signing
from chalicelib.ledger.limits import MAX_UNIT_PRICE
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.conftest import Economy, Resp
from tests.integration.spending_helpers import assert_error, books
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    REDEEM_SECRET, buy, delete, list_item, plugin, put_reward, redeem_headers, signed_redeem,
)

# A stopped app clock: a daily limit's day, an order's deadline and a listing's expiry are
# where the test put them, not wherever the machine's speed (or UTC midnight) moved them.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]

MISSING_ORDER = "ord_01ARZ3NDEKTSV4RRFFQ69G5FAV"
MISSING_LISTING = "lst_01ARZ3NDEKTSV4RRFFQ69G5FAV"
REWARD = {"name": "VIP", "category": "rank", "price": 100, "fulfilment": "api"}


@dataclass
class World:
    economy: Economy
    listing: str
    closed: str
    voucher_order: str
    code: str


@pytest.fixture
def world(economy: Economy, plugin) -> World:
    economy.credit("alice", 1000)
    economy.credit("poor", 10)
    economy.credit("frosty", 1000)
    economy.api.post("/v1/admin/users/frosty/freeze", {"reason": "test"})
    put_reward(economy, "rank", price=100, stock=5, daily_limit=2)
    put_reward(economy, "pet", price=50, fulfilment="voucher", category="cosmetic")
    put_reward(economy, "hidden", visible=False)
    put_reward(economy, "gone")
    delete(economy, "/v1/admin/rewards/gone")
    listing = list_item(economy, "seller", "pet", qty=5, unit_price=40, min_per_buyer=2, max_per_buyer=3).body
    closed = list_item(economy, "seller", "pet", qty=1, unit_price=40).body
    economy.api.post(f"/v1/listings/{closed['listing_id']}/cancel")
    placed = buy(economy, "alice", "pet").body
    return World(economy, listing["listing_id"], closed["listing_id"], placed["order_id"], placed["voucher_code"])


def market_state(w: World) -> Dict[str, Any]:
    e = w.economy
    return {
        "rewards": {s: e.api.get(f"/v1/admin/rewards/{s}").body for s in ("rank", "pet", "hidden", "gone")},
        "listings": e.api.get("/v1/listings?limit=100").body,
        "orders": {u: e.api.get(f"/v1/users/{u}/orders?limit=100").body for u in ("alice", "poor", "frosty")},
        "voucher_order": e.api.get(f"/v1/orders/{w.voucher_order}").body,
    }


def call(w: World, method: str, path: str, body: Any = None, token: str = "write", idem: Optional[str] = None,
         raw: Optional[str] = None) -> Resp:
    e = w.economy
    token_value = {"write": e.write_token, "read": e.read_token, "admin": e.admin_token, "none": ""}[token]
    headers = {"Content-Type": "application/json"}
    if token_value:
        headers["Authorization"] = f"Bearer {token_value}"
    if idem is not None:
        headers["Idempotency-Key"] = idem
    path = path.format(listing=w.listing, closed=w.closed, order=w.voucher_order)
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return e.api.request(method, path, headers=headers, body=data)  # with a reason: the body is what is walked


ORDER = {"buyer_id": "alice", "sku": "rank"}
LISTING = {"seller_id": "seller", "sku": "pet", "qty": 2, "unit_price": 40, "expires_in": 3600}

# (id, method, path, body, token, idempotency key, status, code, field)
CASES = [
    # --- the catalog (admin) ---
    ("put-no-token", "PUT", "/v1/admin/rewards/x", REWARD, "none", None, 401, "unauthenticated", None),
    ("put-write-scope", "PUT", "/v1/admin/rewards/x", REWARD, "write", None, 403, "forbidden", None),
    ("put-bad-sku", "PUT", "/v1/admin/rewards/bad*sku", REWARD, "admin", None, 400, "validation_error", "sku"),
    ("put-no-name", "PUT", "/v1/admin/rewards/x", {k: v for k, v in REWARD.items() if k != "name"}, "admin", None,
     400, "validation_error", "name"),
    ("put-blank-name", "PUT", "/v1/admin/rewards/x", {**REWARD, "name": "  "}, "admin", None, 400,
     "validation_error", "name"),
    ("put-category", "PUT", "/v1/admin/rewards/x", {**REWARD, "category": "weapon"}, "admin", None, 400,
     "validation_error", "category"),
    ("put-price-0", "PUT", "/v1/admin/rewards/x", {**REWARD, "price": 0}, "admin", None, 400, "validation_error",
     "price"),
    ("put-price-str", "PUT", "/v1/admin/rewards/x", {**REWARD, "price": "100"}, "admin", None, 400,
     "validation_error", "price"),
    ("put-price-float", "PUT", "/v1/admin/rewards/x", {**REWARD, "price": 1.5}, "admin", None, 400,
     "validation_error", "price"),
    ("put-price-huge", "PUT", "/v1/admin/rewards/x", {**REWARD, "price": 10**9 + 1}, "admin", None, 400,
     "validation_error", "price"),
    ("put-fulfilment", "PUT", "/v1/admin/rewards/x", {**REWARD, "fulfilment": "email"}, "admin", None, 400,
     "validation_error", "fulfilment"),
    ("put-payload-float", "PUT", "/v1/admin/rewards/x", {**REWARD, "payload": {"days": 1.5}}, "admin", None, 400,
     "validation_error", "payload"),
    ("put-payload-list", "PUT", "/v1/admin/rewards/x", {**REWARD, "payload": [1, 2]}, "admin", None, 400,
     "validation_error", "payload"),
    ("put-payload-big", "PUT", "/v1/admin/rewards/x", {**REWARD, "payload": {"k": "x" * 3000}}, "admin", None, 400,
     "validation_error", "payload"),
    ("put-stock-negative", "PUT", "/v1/admin/rewards/x", {**REWARD, "stock": -1}, "admin", None, 400,
     "validation_error", "stock"),
    ("put-daily-0", "PUT", "/v1/admin/rewards/x", {**REWARD, "daily_limit": 0}, "admin", None, 400,
     "validation_error", "daily_limit"),
    ("put-visible-str", "PUT", "/v1/admin/rewards/x", {**REWARD, "visible": "yes"}, "admin", None, 400,
     "validation_error", "visible"),
    ("put-expiry-text", "PUT", "/v1/admin/rewards/x", {**REWARD, "expires_at": "tomorrow"}, "admin", None, 400,
     "validation_error", "expires_at"),
    ("put-expiry-naive", "PUT", "/v1/admin/rewards/x", {**REWARD, "expires_at": "2030-01-01T00:00:00"}, "admin",
     None, 400, "validation_error", "expires_at"),
    ("put-unknown-field", "PUT", "/v1/admin/rewards/x", {**REWARD, "colour": "red"}, "admin", None, 400,
     "validation_error", "colour"),
    ("put-malformed", "PUT", "/v1/admin/rewards/x", "RAW:{", "admin", None, 400, "malformed_json", None),
    ("get-admin-missing", "GET", "/v1/admin/rewards/nope", None, "admin", None, 404, "reward_not_found", None),
    ("get-admin-read", "GET", "/v1/admin/rewards/rank", None, "read", None, 403, "forbidden", None),
    ("delete-missing", "DELETE", "/v1/admin/rewards/nope", None, "admin", None, 404, "reward_not_found", None),
    ("delete-deleted", "DELETE", "/v1/admin/rewards/gone", None, "admin", None, 404, "reward_not_found", None),
    ("delete-write-scope", "DELETE", "/v1/admin/rewards/rank", None, "write", None, 403, "forbidden", None),
    ("rewards-category", "GET", "/v1/rewards?category=weapon", None, "read", None, 400, "validation_error",
     "category"),
    ("reward-hidden", "GET", "/v1/rewards/hidden", None, "read", None, 404, "reward_not_found", None),
    ("reward-bad-sku", "GET", "/v1/rewards/bad*sku", None, "read", None, 400, "validation_error", "sku"),
    ("rewards-no-token", "GET", "/v1/rewards", None, "none", None, 401, "unauthenticated", None),
    # --- shop orders ---
    ("order-no-key", "POST", "/v1/orders", ORDER, "write", None, 400, "idempotency_key_required", None),
    ("order-bad-key", "POST", "/v1/orders", ORDER, "write", "k" * 129, 400, "invalid_idempotency_key", None),
    ("order-read-scope", "POST", "/v1/orders", ORDER, "read", "k1", 403, "forbidden", None),
    ("order-no-buyer", "POST", "/v1/orders", {"sku": "rank"}, "write", "k1", 400, "validation_error", "buyer_id"),
    ("order-bad-buyer", "POST", "/v1/orders", {**ORDER, "buyer_id": "a b"}, "write", "k1", 400, "validation_error",
     "buyer_id"),
    ("order-qty-0", "POST", "/v1/orders", {**ORDER, "qty": 0}, "write", "k1", 400, "validation_error", "qty"),
    ("order-qty-big", "POST", "/v1/orders", {**ORDER, "qty": 1001}, "write", "k1", 400, "validation_error", "qty"),
    ("order-qty-float", "POST", "/v1/orders", {**ORDER, "qty": 1.0}, "write", "k1", 400, "validation_error", "qty"),
    ("order-bad-player", "POST", "/v1/orders", {**ORDER, "player_id": "x" * 65}, "write", "k1", 400,
     "validation_error", "player_id"),
    ("order-unknown-sku", "POST", "/v1/orders", {**ORDER, "sku": "nope"}, "write", "k1", 404, "reward_not_found",
     None),
    ("order-hidden", "POST", "/v1/orders", {**ORDER, "sku": "hidden"}, "write", "k1", 422, "reward_unavailable",
     None),
    ("order-deleted", "POST", "/v1/orders", {**ORDER, "sku": "gone"}, "write", "k1", 422, "reward_unavailable", None),
    ("order-price-changed", "POST", "/v1/orders", {**ORDER, "expected_price": 90}, "write", "k1", 409,
     "price_changed", None),
    ("order-out-of-stock", "POST", "/v1/orders", {**ORDER, "qty": 6}, "write", "k1", 422, "out_of_stock", None),
    ("order-over-daily", "POST", "/v1/orders", {**ORDER, "qty": 3}, "write", "k1", 422, "limit_reached", None),
    ("order-poor", "POST", "/v1/orders", {**ORDER, "buyer_id": "poor"}, "write", "k1", 422, "insufficient_funds",
     None),
    ("order-no-wallet", "POST", "/v1/orders", {**ORDER, "buyer_id": "ghost"}, "write", "k1", 404, "user_not_found",
     None),
    ("order-frozen", "POST", "/v1/orders", {**ORDER, "buyer_id": "frosty"}, "write", "k1", 422, "account_frozen",
     None),
    ("order-malformed", "POST", "/v1/orders", "RAW:[1]", "write", "k1", 400, "malformed_json", None),
    ("get-order-bad-id", "GET", "/v1/orders/123", None, "read", None, 400, "validation_error", "order_id"),
    ("get-order-missing", "GET", f"/v1/orders/{MISSING_ORDER}", None, "read", None, 404, "order_not_found", None),
    ("cancel-missing", "POST", f"/v1/orders/{MISSING_ORDER}/cancel", None, "write", None, 404, "order_not_found",
     None),
    ("cancel-bad-id", "POST", "/v1/orders/nope/cancel", None, "write", None, 400, "validation_error", "order_id"),
    ("cancel-read-scope", "POST", "/v1/orders/{order}/cancel", None, "read", None, 403, "forbidden", None),
    ("orders-bad-user", "GET", "/v1/users/a b/orders", None, "read", None, 400, "validation_error", "user_id"),
    ("orders-bad-status", "GET", "/v1/users/alice/orders?status=lost", None, "read", None, 400, "validation_error",
     "status"),
    ("orders-limit-0", "GET", "/v1/users/alice/orders?limit=0", None, "read", None, 400, "validation_error", "limit"),
    ("orders-bad-cursor", "GET", "/v1/users/alice/orders?cursor=garbage", None, "read", None, 400, "invalid_cursor",
     None),
    # --- listings ---
    ("list-read-scope", "POST", "/v1/listings", LISTING, "read", None, 403, "forbidden", None),
    ("list-qty-0", "POST", "/v1/listings", {**LISTING, "qty": 0}, "write", None, 400, "validation_error", "qty"),
    ("list-price-0", "POST", "/v1/listings", {**LISTING, "unit_price": 0}, "write", None, 400, "validation_error",
     "unit_price"),
    ("list-expiry-short", "POST", "/v1/listings", {**LISTING, "expires_in": 10}, "write", None, 400,
     "validation_error", "expires_in"),
    ("list-min-over-max", "POST", "/v1/listings", {**LISTING, "min_per_buyer": 3, "max_per_buyer": 2}, "write", None,
     400, "validation_error", "min_per_buyer"),
    ("list-min-over-qty", "POST", "/v1/listings", {**LISTING, "min_per_buyer": 3}, "write", None, 400,
     "validation_error", "min_per_buyer"),
    ("list-unknown-sku", "POST", "/v1/listings", {**LISTING, "sku": "nope"}, "write", None, 404, "reward_not_found",
     None),
    ("list-deleted-sku", "POST", "/v1/listings", {**LISTING, "sku": "gone"}, "write", None, 404, "reward_not_found",
     None),
    ("list-unknown-field", "POST", "/v1/listings", {**LISTING, "price": 1}, "write", None, 400, "validation_error",
     "price"),
    ("list-key-reused", "POST", "/v1/listings", {**LISTING, "qty": 3}, "write", "listing-key", 409,
     "idempotency_key_reused", None),
    ("listings-bad-status", "GET", "/v1/listings?status=open", None, "read", None, 400, "validation_error", "status"),
    ("listings-bad-sku", "GET", "/v1/listings?sku=bad*sku", None, "read", None, 400, "validation_error", "sku"),
    ("listings-bad-cursor", "GET", "/v1/listings?cursor=garbage", None, "read", None, 400, "invalid_cursor", None),
    ("listing-bad-id", "GET", "/v1/listings/lst_x", None, "read", None, 400, "validation_error", "listing_id"),
    ("listing-missing", "GET", f"/v1/listings/{MISSING_LISTING}", None, "read", None, 404, "listing_not_found", None),
    ("cancel-listing-seller", "POST", "/v1/listings/{listing}/cancel", {"seller_id": "mallory"}, "write", None, 422,
     "not_listing_seller", None),
    ("cancel-listing-closed", "POST", "/v1/listings/{closed}/cancel", None, "write", None, 409, "listing_not_active",
     None),
    ("cancel-listing-malformed", "POST", "/v1/listings/{listing}/cancel", "RAW:{x", "write", None, 400,
     "malformed_json", None),
    ("cancel-listing-missing", "POST", f"/v1/listings/{MISSING_LISTING}/cancel", None, "write", None, 404,
     "listing_not_found", None),
    ("buy-no-key", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "alice", "qty": 2}, "write", None, 400,
     "idempotency_key_required", None),
    ("buy-self", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "seller", "qty": 2}, "write", "k2", 422,
     "self_payment", None),
    ("buy-below-min", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "alice", "qty": 1}, "write", "k2", 422,
     "below_min_per_buyer", None),
    ("buy-over-max", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "alice", "qty": 4}, "write", "k2", 422,
     "limit_reached", None),
    ("buy-over-available", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "alice", "qty": 6}, "write", "k2", 422,
     "out_of_stock", None),
    ("buy-closed", "POST", "/v1/listings/{closed}/buy", {"buyer_id": "alice", "qty": 1}, "write", "k2", 409,
     "listing_not_active", None),
    ("buy-poor", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "poor", "qty": 2}, "write", "k2", 422,
     "insufficient_funds", None),
    ("buy-qty-0", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "alice", "qty": 0}, "write", "k2", 400,
     "validation_error", "qty"),
    ("buy-missing", "POST", f"/v1/listings/{MISSING_LISTING}/buy", {"buyer_id": "alice", "qty": 2}, "write", "k2",
     404, "listing_not_found", None),
    ("buy-price-changed", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "alice", "qty": 2,
                                                                   "expected_price": 39}, "write", "k2", 409,
     "price_changed", None),
    *[(f"buy-price-{name}", "POST", "/v1/listings/{listing}/buy", {"buyer_id": "alice", "qty": 2,
                                                                    "expected_price": value}, "write", "k2", 400,
       "validation_error", "expected_price")
      for name, value in (("0", 0), ("negative", -40), ("float", 40.0), ("fraction", 40.5), ("string", "40"),
                          ("huge", 10 ** 30), ("over-max", MAX_UNIT_PRICE + 1), ("bool", True))],
    ("prices-bad-sku", "GET", "/v1/market/prices/bad*sku", None, "read", None, 400, "validation_error", "sku"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(world: World, case) -> None:
    _, method, path, body, token, idem, status, code, field = case
    e = world.economy
    if case[0] == "list-key-reused":
        assert call(world, "POST", "/v1/listings", LISTING, idem="listing-key").status == 201
    before_books, before_market = books(e, "alice", "poor", "frosty", "seller"), market_state(world)
    raw = body[4:] if isinstance(body, str) and body.startswith("RAW:") else None
    resp = call(world, method, path, None if raw is not None else body, token, idem, raw)
    assert_error(resp, status, code, field)
    assert books(e, "alice", "poor", "frosty", "seller") == before_books
    assert market_state(world) == before_market


def _redeem_headers(world: World, case: str, raw: str) -> Dict[str, str]:
    import time

    e, now = world.economy, int(time.time())
    if case == "missing":
        return {}
    if case == "wrong-key":
        return redeem_headers(e, raw.encode(), secret="not-the-secret")
    if case == "stale":
        return redeem_headers(e, raw.encode(), timestamp=now - 301)
    if case == "no-timestamp":
        signed = redeem_headers(e, raw.encode())
        del signed[signing.TIMESTAMP_HEADER]
        return signed
    if case == "unknown-server":
        return redeem_headers(e, raw.encode(), server_id="gs_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    if case == "bad-server-id":
        return redeem_headers(e, raw.encode(), server_id="x" * 300)
    if case == "global-secret":  # the deprecated secret sees the default economy only
        return signing.signed_headers(REDEEM_SECRET, raw.encode())
    return redeem_headers(e, raw.encode())


@pytest.mark.parametrize("case,status,code", [
    ("missing", 401, "invalid_signature"), ("wrong-key", 401, "invalid_signature"),
    ("stale", 401, "invalid_signature"), ("tampered", 401, "invalid_signature"),
    ("no-timestamp", 401, "invalid_signature"), ("malformed", 400, "malformed_json"),
    ("no-player", 400, "validation_error"), ("unknown-code", 404, "voucher_not_found"),
    ("not-a-code", 404, "voucher_not_found"), ("unknown-server", 401, "invalid_signature"),
    ("bad-server-id", 401, "invalid_signature"), ("global-secret", 404, "voucher_not_found"),
])
def test_bad_redeems_change_nothing(world: World, case: str, status: int, code: str) -> None:
    e = world.economy
    body = {"code": world.code, "player_id": "Steve"}
    if case == "no-player":
        body = {"code": world.code}
    elif case == "unknown-code":
        body = {"code": "AAAA-BBBB-CCCC-DDDD", "player_id": "Steve"}
    elif case == "not-a-code":
        body = {"code": "hello", "player_id": "Steve"}
    raw = "{not json" if case == "malformed" else json.dumps(body)
    headers = _redeem_headers(world, case, raw)
    sent = raw.replace("Steve", "Alex_") if case == "tampered" else raw
    before_books, before_market = books(e, "alice", "seller"), market_state(world)
    resp = e.api.post("/v1/webhooks/redeem", raw=sent, token="", headers=headers)
    assert_error(resp, status, code)
    assert books(e, "alice", "seller") == before_books
    assert market_state(world) == before_market
    assert market_state(world)["voucher_order"]["status"] == "pending"
    # and the real code still works afterwards
    assert signed_redeem(e, world.code, "Steve").body["replayed"] is False
