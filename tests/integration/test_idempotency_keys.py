"""One rule for Idempotency-Key on every route that takes it: a key is one request of one economy.

Table-driven over every route that reads the header (``call.idempotency_key()``
in ``chalicelib/routes``; the README's endpoint tables). For each route:

* a replay (same route, same body) answers with the first result and
  ``Idempotent-Replayed: true``, and changes nothing;
* the same key with another body (or another path parameter) is 409
  ``idempotency_key_reused``, and changes nothing;
* a key first used on another route (a spend, a checkout) is 409
  ``idempotency_key_reused`` here, changes nothing, and still replays there.

"Nothing changes" is every record of the economy the routes can touch: all
accounts (balances, versions, freeze reasons; system shards), holds, escrows,
orders, listings, rewards, purchases, the audit trail and the key's own record.
"""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec
from tests import purchase_helpers as ph
from tests.conftest import Economy, Resp
from tests.market_helpers import put_reward, use_plugin

pytestmark = pytest.mark.integration


def new_key() -> str:
    return f"k-{uuid.uuid4().hex}"


@dataclass
class World:
    """One economy and the things the routes act on, made on first use (each with its own unrelated key)."""

    economy: Economy
    made: Dict[str, Any] = field(default_factory=dict)
    monkeypatch: Any = None

    @property
    def api(self) -> Any:
        return self.economy.api

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.made:
            self.made[name] = make()
        return self.made[name]

    def created(self, resp: Resp, id_field: str) -> str:
        assert resp.status == 201, resp.body
        return resp.body[id_field]

    def hold(self, n: int) -> str:
        return self.once(f"hold{n}", lambda: self.created(self.api.post(
            "/v1/holds", {"user_id": "alice", "amount": 20, "purpose": "call", "expires_in": 3600}, key=new_key()),
            "hold_id"))

    def escrow(self, n: int) -> str:
        return self.once(f"escrow{n}", lambda: self.created(self.api.post(
            "/v1/escrows", {"client_id": "alice", "freelancer_id": "bob", "amount": 30, "job_ref": f"job-{n}"},
            key=new_key()), "escrow_id"))

    def voucher_order(self, n: int) -> str:
        return self.once(f"order{n}", lambda: self.created(self.api.post(
            "/v1/orders", {"buyer_id": "alice", "sku": "pet", "qty": 1}, key=new_key()), "order_id"))

    def listing(self) -> str:
        return self.once("listing", lambda: self.created(self.api.post(
            "/v1/listings", {"seller_id": "seller", "sku": "pet", "qty": 10, "unit_price": 40, "expires_in": 3600},
            key=new_key()), "listing_id"))

    def review(self, n: int) -> str:
        """A paid purchase waiting in needs_review: its stored terms no credit can carry (2.5 coins)."""
        def make() -> str:
            bought = self.api.post("/v1/checkout", {"user_id": f"rev{n}", "pack_id": "coins_100"}, key=new_key())
            assert bought.status == 201, bought.body
            get_client().update_item(TableName=table_name("purchases"),
                                     Key={"purchase_id": {"S": bought.body["purchase_id"]}},
                                     UpdateExpression="SET coins = :c", ExpressionAttributeValues={":c": {"N": "2.5"}})
            paid = ph.deliver(self.api, ph.completed(bought.body))
            assert (paid.status, paid.body["outcome"]) == (200, "needs_review"), paid.body
            return bought.body["purchase_id"]

        return self.once(f"review{n}", make)

    def paid(self, n: int) -> str:
        """A credited purchase (local mode: its refund's event goes to the app served over HTTP)."""
        def live() -> Any:
            from chalicelib.core import config
            from tests.integration.test_purchases_live import LiveApp

            server = LiveApp()
            self.monkeypatch.setenv("COINS_PUBLIC_URL", server.url)
            config.reset_settings()
            return server

        def make() -> str:
            self.once("live", live)
            bought = self.api.post("/v1/checkout", {"user_id": f"payer{n}", "pack_id": "coins_100"}, key=new_key())
            assert bought.status == 201, bought.body
            assert ph.deliver(self.api, ph.completed(bought.body)).status == 200
            return bought.body["purchase_id"]

        return self.once(f"paid{n}", make)
    def credited(self, n: int) -> str:
        """An operation to reverse: a credit of 100 to bob."""
        return self.once(f"credited{n}", lambda: self.economy.credit("bob", 100).body["transaction_id"])

    def debtor(self, user: str) -> str:
        """A user who owes 70 coins (bought 100, spent 70, refunded in full) and now holds 100 more."""
        def make() -> str:
            bought = self.api.post("/v1/checkout", {"user_id": user, "pack_id": "coins_100"})
            assert bought.status == 201, bought.body
            assert ph.deliver(self.api, ph.completed(bought.body)).status == 200
            spent = self.api.post(f"/v1/users/{user}/spend", {"amount": 70, "reason": "sword"}, key=new_key())
            assert spent.status == 200, spent.body
            assert ph.deliver(self.api, ph.refunded(bought.body, 999)).status == 200
            self.economy.credit(user, 100)
            return user

        return self.once(f"debtor:{user}", make)


@pytest.fixture
def world(economy: Economy, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from chalicelib.purchases.packs import seed_packs

    use_plugin(monkeypatch, None)  # vouchers only: no game server needed
    seed_packs(economy.id)
    economy.credit("alice", 10_000)
    put_reward(economy, "pet", price=50, fulfilment="voucher", category="cosmetic")
    made = World(economy, monkeypatch=monkeypatch)
    yield made
    if "live" in made.made:
        made.made["live"].close()


@dataclass(frozen=True)
class Route:
    """One route that takes Idempotency-Key: a request, and the same request with other parameters."""

    method: str
    path: str  # as declared
    name: str
    request: Callable[[World, str], Resp]
    other: Callable[[World, str], Resp]
    status: int  # of the first answer
    replay_status: int  # of a replay (checkout and listing creation answer 200: "the one you made")
    prepare: Callable[[World], Any] = lambda w: None  # make what both requests act on, under keys of their own


def _post(path: str, body: Optional[Dict[str, Any]] = None) -> Callable[[World, str], Resp]:
    return lambda w, k: w.api.post(path, body, key=k)


def _on(make: Callable[[World], str], path: str, body: Optional[Dict[str, Any]] = None
        ) -> Callable[[World, str], Resp]:
    return lambda w, k: w.api.post(path.format(make(w)), body, key=k)


_LISTING = {"sku": "pet", "qty": 2, "unit_price": 45, "expires_in": 3600}
_ESCROW = {"client_id": "alice", "freelancer_id": "bob", "job_ref": "j"}
ROUTES: List[Route] = [
    Route("POST", "/v1/users/{user_id}/spend", "spend",
          _post("/v1/users/alice/spend", {"amount": 5, "reason": "hat"}),
          _post("/v1/users/alice/spend", {"amount": 6, "reason": "hat"}), 200, 200),
    Route("POST", "/v1/admin/users/{user_id}/adjust", "adjust",
          _post("/v1/admin/users/alice/adjust", {"amount": 5, "reason": "bonus"}),
          _post("/v1/admin/users/alice/adjust", {"amount": -5, "reason": "bonus"}), 200, 200),
    Route("POST", "/v1/admin/users/{user_id}/settle-debt", "settle-debt",
          _on(lambda w: w.debtor("dan"), "/v1/admin/users/{}/settle-debt"),
          _on(lambda w: w.debtor("dora"), "/v1/admin/users/{}/settle-debt"), 200, 200,
          lambda w: (w.debtor("dan"), w.debtor("dora"))),
    Route("POST", "/v1/admin/operations/{transaction_id}/reverse", "reverse",
          _on(lambda w: w.credited(1), "/v1/admin/operations/{}/reverse", {"amount": 1, "reason": "typo"}),
          _on(lambda w: w.credited(1), "/v1/admin/operations/{}/reverse", {"amount": 2, "reason": "typo"}), 200, 200,
          lambda w: w.credited(1)),
    Route("POST", "/v1/admin/events", "create-event",
          _post("/v1/admin/events", {"name": "E", "kind": "reward_multiplier", "multiplier_bps": 20_000,
                                     "starts_at": "2031-01-01T00:00:00Z", "ends_at": "2031-01-02T00:00:00Z"}),
          _post("/v1/admin/events", {"name": "F", "kind": "reward_multiplier", "multiplier_bps": 20_000,
                                     "starts_at": "2031-02-01T00:00:00Z", "ends_at": "2031-02-02T00:00:00Z"}),
          201, 200),
    Route("POST", "/v1/checkout", "checkout",
          _post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}),
          _post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_500"}), 201, 200),
    Route("POST", "/v1/admin/purchases/{purchase_id}/retry-credit", "retry-credit",
          _on(lambda w: w.review(1), "/v1/admin/purchases/{}/retry-credit", {"reason": "looked at it"}),
          _on(lambda w: w.review(1), "/v1/admin/purchases/{}/retry-credit", {"reason": "looked again"}), 200, 200,
          lambda w: w.review(1)),
    Route("POST", "/v1/admin/purchases/{purchase_id}/refund", "refund-purchase",
          _on(lambda w: w.paid(1), "/v1/admin/purchases/{}/refund", {"amount": 100, "reason": "goodwill"}),
          _on(lambda w: w.paid(1), "/v1/admin/purchases/{}/refund", {"amount": 101, "reason": "goodwill"}), 201, 200,
          lambda w: w.paid(1)),
    Route("POST", "/v1/holds", "place-hold",
          _post("/v1/holds", {"user_id": "alice", "amount": 10, "purpose": "call", "expires_in": 60}),
          _post("/v1/holds", {"user_id": "alice", "amount": 11, "purpose": "call", "expires_in": 60}), 201, 201),
    Route("POST", "/v1/holds/{hold_id}/settle", "settle-hold",
          _on(lambda w: w.hold(1), "/v1/holds/{}/settle", {"amount": 5}),
          _on(lambda w: w.hold(1), "/v1/holds/{}/settle", {"amount": 6}), 200, 200, lambda w: w.hold(1)),
    Route("POST", "/v1/holds/{hold_id}/release", "release-hold",
          _on(lambda w: w.hold(1), "/v1/holds/{}/release"),
          _on(lambda w: w.hold(2), "/v1/holds/{}/release"), 200, 200, lambda w: (w.hold(1), w.hold(2))),
    Route("POST", "/v1/escrows", "open-escrow",
          _post("/v1/escrows", {**_ESCROW, "amount": 10}), _post("/v1/escrows", {**_ESCROW, "amount": 12}), 201, 201),
    Route("POST", "/v1/escrows/{escrow_id}/release", "release-escrow",
          _on(lambda w: w.escrow(1), "/v1/escrows/{}/release"),
          _on(lambda w: w.escrow(2), "/v1/escrows/{}/release"), 200, 200, lambda w: (w.escrow(1), w.escrow(2))),
    Route("POST", "/v1/escrows/{escrow_id}/refund", "refund-escrow",
          _on(lambda w: w.escrow(1), "/v1/escrows/{}/refund"),
          _on(lambda w: w.escrow(2), "/v1/escrows/{}/refund"), 200, 200, lambda w: (w.escrow(1), w.escrow(2))),
    Route("POST", "/v1/orders", "order",
          _post("/v1/orders", {"buyer_id": "alice", "sku": "pet", "qty": 1}),
          _post("/v1/orders", {"buyer_id": "alice", "sku": "pet", "qty": 2}), 201, 201),
    Route("POST", "/v1/orders/{order_id}/cancel", "cancel-order",
          _on(lambda w: w.voucher_order(1), "/v1/orders/{}/cancel"),
          _on(lambda w: w.voucher_order(2), "/v1/orders/{}/cancel"), 200, 200,
          lambda w: (w.voucher_order(1), w.voucher_order(2))),
    Route("POST", "/v1/admin/orders/{order_id}/refund", "refund-order",
          _on(lambda w: w.voucher_order(1), "/v1/admin/orders/{}/refund", {"reason": "wrong item"}),
          _on(lambda w: w.voucher_order(2), "/v1/admin/orders/{}/refund", {"reason": "wrong item"}), 200, 200,
          lambda w: (w.voucher_order(1), w.voucher_order(2))),
    Route("POST", "/v1/admin/orders/{order_id}/fulfil", "fulfil-order",
          _on(lambda w: w.voucher_order(1), "/v1/admin/orders/{}/fulfil", {"mode": "delivered", "reason": "seen"}),
          _on(lambda w: w.voucher_order(2), "/v1/admin/orders/{}/fulfil", {"mode": "delivered", "reason": "seen"}),
          200, 200, lambda w: (w.voucher_order(1), w.voucher_order(2))),
    Route("POST", "/v1/listings", "create-listing",
          _post("/v1/listings", {"seller_id": "sam", **_LISTING}),
          _post("/v1/listings", {"seller_id": "sue", **_LISTING}), 201, 200),  # another seller, the same key
    Route("POST", "/v1/listings/{listing_id}/buy", "buy-listing",
          _on(lambda w: w.listing(), "/v1/listings/{}/buy", {"buyer_id": "alice", "qty": 1}),
          _on(lambda w: w.listing(), "/v1/listings/{}/buy", {"buyer_id": "alice", "qty": 2}), 201, 201,
          lambda w: w.listing()),
]
BY_NAME = {r.name: r for r in ROUTES}
DONORS = ("spend", "checkout")  # a ledger-first route and one whose first write is not a ledger operation


def test_every_route_that_takes_the_header_is_in_the_table() -> None:
    import app  # noqa: F401 (registers every route)
    from chalicelib.routes._http import ROUTES as DECLARED

    taking = {(r.method, r.path) for r in DECLARED if r.idempotency in ("required", "optional")}
    assert taking == {(r.method, r.path) for r in ROUTES}


def _items(table: str, economy: str, index: Optional[str] = None) -> List[Dict[str, Any]]:
    kwargs: Dict[str, Any] = {"TableName": table_name(table), "KeyConditionExpression": "economy = :e",
                              "ExpressionAttributeValues": {":e": {"S": economy}}}
    if index:
        kwargs["IndexName"] = index
    else:
        kwargs["ConsistentRead"] = True
    items: List[Dict[str, Any]] = []
    while True:
        page = get_client().query(**kwargs)
        items += [codec.decode_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=repr)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def state(w: World, key: str) -> Dict[str, Any]:
    """Every record these routes write, and the key's own record."""
    economy = w.economy.id
    found = {t: _items(t, economy) for t in ("accounts", "holds", "orders", "listings", "rewards", "audit")}
    found["purchases"] = _items("purchases", economy, index="by_economy")
    record = get_client().get_item(TableName=table_name("operations"), Key={"op_key": {"S": f"{economy}#api:{key}"}},
                                   ConsistentRead=True).get("Item")
    found["key_record"] = codec.decode_item(record) if record else None
    return found


def _first(w: World, route: Route, key: str) -> Resp:
    resp = route.request(w, key)
    assert resp.status == route.status, resp.body
    assert resp.headers["idempotent-replayed"] == "false"
    return resp


def _refused(resp: Resp) -> None:
    assert (resp.status, resp.code) == (409, "idempotency_key_reused"), resp.body


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_a_replay_answers_the_first_result_and_changes_nothing(world: World, route: Route) -> None:
    route.prepare(world)
    key = new_key()
    first = _first(world, route, key)
    before = state(world, key)
    again = route.request(world, key)
    assert (again.status, again.headers["idempotent-replayed"]) == (route.replay_status, "true")
    assert again.body == first.body
    assert state(world, key) == before
    world.economy.check()


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_the_same_key_with_another_body_is_refused_and_changes_nothing(world: World, route: Route) -> None:
    route.prepare(world)
    key = new_key()
    first = _first(world, route, key)
    before = state(world, key)
    _refused(route.other(world, key))
    assert state(world, key) == before
    replay = route.request(world, key)  # the key still belongs to its first request
    assert (replay.headers["idempotent-replayed"], replay.body) == ("true", first.body)
    world.economy.check()


@pytest.mark.parametrize("donor,route", [(d, r) for r in ROUTES for d in DONORS if d != r.name],
                         ids=[f"{d}-then-{r.name}" for r in ROUTES for d in DONORS if d != r.name])
def test_a_key_first_used_on_another_route_is_refused_and_changes_nothing(world: World, donor: str,
                                                                          route: Route) -> None:
    route.prepare(world)
    key = new_key()
    first = _first(world, BY_NAME[donor], key)
    before = state(world, key)
    _refused(route.request(world, key))
    assert state(world, key) == before
    replay = BY_NAME[donor].request(world, key)
    assert (replay.headers["idempotent-replayed"], replay.body) == ("true", first.body)
    world.economy.check()


def test_one_key_names_one_listing_whoever_lists(world: World) -> None:
    """Listing ids were derived per seller: the same key made a second listing for another seller."""
    key = new_key()
    assert BY_NAME["create-listing"].request(world, key).status == 201
    _refused(BY_NAME["create-listing"].other(world, key))  # seller "sue" this time
    assert [i["seller_id"] for i in _items("listings", world.economy.id)] == ["sam"]


def test_discord_keys_are_not_api_keys(world: World) -> None:
    """An API key that spells a Discord key names another request: both are made."""
    from chalicelib.market.listings import create_listing
    from chalicelib.purchases.checkout import create_checkout

    api_key = "discord-sell:123"
    made = world.api.post("/v1/listings", {"seller_id": "sam", "sku": "pet", "qty": 1, "unit_price": 45,
                                           "expires_in": 3600}, key=api_key)
    listing, created = create_listing(world.economy.id, "sue", "pet", 1, 45, 3600, None, None, api_key,
                                      key_namespace="discord")
    assert made.status == 201 and created and listing["listing_id"] != made.body["listing_id"]
    via_api = world.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}, key="123")
    via_discord = create_checkout(world.economy.id, "alice", "coins_100", idempotency_key="123",
                                  key_namespace="discord")
    assert via_api.status == 201 and not via_discord["replayed"]
    assert via_discord["purchase_id"] != via_api.body["purchase_id"]


def test_one_key_sent_at_once_to_two_routes_is_taken_by_one_request_only(world: World) -> None:
    """Four spends and four checkouts race with one key: one route wins it, the other is refused every time."""
    key, start = new_key(), threading.Barrier(8)
    before = world.api.get("/v1/users/alice/wallet").body["available"]

    def send(route: str) -> Resp:
        start.wait()
        return BY_NAME[route].request(world, key)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, ["spend", "checkout"] * 4))
    spends, checkouts = answers[0::2], answers[1::2]
    winners = [group for group in (spends, checkouts) if any(a.status in (200, 201) for a in group)]
    assert len(winners) == 1
    losers = checkouts if winners[0] is spends else spends
    assert {(a.status, a.code) for a in losers} == {(409, "idempotency_key_reused")}
    assert sorted(a.headers["idempotent-replayed"] for a in winners[0]) == ["false", "true", "true", "true"]
    assert len({a.body["purchase_id" if winners[0] is checkouts else "transaction_id"] for a in winners[0]}) == 1
    charged = before - world.api.get("/v1/users/alice/wallet").body["available"]
    purchases = _items("purchases", world.economy.id, index="by_economy")
    assert (charged, len(purchases)) == ((5, 0) if winners[0] is spends else (0, 1))
    world.economy.check()
