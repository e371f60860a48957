"""Every route body field that becomes money is bounded where it enters, by what the ledger can carry.

One table walks each such field (and each product of a price and a quantity):
the largest accepted value works end to end, exactly (the ledger carries
MAX_AMOUNT in one operation, and a fee is taken out of an amount, never added
to it); one past it, MAX_AMOUNT + 1 and an overflowing product are refused
with 400 ``validation_error`` naming the field, and nothing changed: the
books (wallets, treasury, entries, audit trail, holds, unlocks, the ledger
check) and the catalog, listings, orders, courses and reward settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from chalicelib.ledger import limits
from chalicelib.ledger import MAX_AMOUNT, system
from chalicelib.ledger.wallets import system_balance
from tests.conftest import Economy, Resp
from tests.integration.spending_helpers import assert_error, books, key, treasury, wallet
from tests.market_helpers import put, signed_redeem, use_plugin

pytestmark = pytest.mark.integration

M = MAX_AMOUNT
USERS = ("rich", "fresh", "seller", "creator", "dev")


@dataclass
class World:
    economy: Economy
    ids: Dict[str, str] = field(default_factory=dict)  # what ``prepare`` made (a hold, a listing)

    @property
    def api(self) -> Any:
        return self.economy.api


@pytest.fixture
def world(economy: Economy, monkeypatch: pytest.MonkeyPatch) -> World:
    use_plugin(monkeypatch, None)  # the redeem webhook's secret; voucher SKUs only (no game server)
    return World(economy)


def _fund(w: World, amount: int = M) -> None:
    w.economy.credit("rich", amount)


def _sku(w: World, price: int = limits.MAX_SHOP_PRICE, sku: str = "gem") -> None:
    resp = put(w.economy, f"/v1/admin/rewards/{sku}", {"name": "Gem", "category": "cosmetic", "price": price,
                                                      "fulfilment": "voucher"})
    assert resp.status == 201, resp.body


def _listing(w: World, qty: int, unit_price: int) -> Resp:
    return w.api.post("/v1/listings", {"seller_id": "seller", "sku": "gem", "qty": qty, "unit_price": unit_price,
                                       "expires_in": 3600}, token=w.economy.write_token)


def _settings(w: World, body: Dict[str, Any]) -> Resp:
    return put(w.economy, "/v1/admin/reward-settings", body)


def _redeemed(w: World, placed: Resp) -> Dict[str, Any]:
    assert placed.status == 201, placed.body
    done = signed_redeem(w.economy, placed.body["voucher_code"], "Player")
    assert done.status == 200 and done.body["order"]["status"] == "fulfilled", done.body
    return done.body["order"]


# --------------------------------------------------------------------------- what each field's edge does


def _spent(w: World, r: Resp) -> None:
    assert r.status == 200 and r.body["amount"] == M, r.body
    assert wallet(w.economy, "rich") == {"available": 0, "held": 0, "earnings": 0}
    assert system_balance(w.economy.id, system("burn")) == M


def _credited(w: World, r: Resp) -> None:
    assert r.status == 200, r.body
    assert wallet(w.economy, "fresh") == {"available": M, "held": 0, "earnings": 0}


def _debited(w: World, r: Resp) -> None:
    assert r.status == 200, r.body
    assert wallet(w.economy, "rich") == {"available": 0, "held": 0, "earnings": 0}


def _checked(w: World, r: Resp) -> None:
    assert r.status == 200 and (r.body["amount"], r.body["sufficient"]) == (M, True), r.body


def _unlocked(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["price"] == M, r.body
    unlocked = w.api.post("/v1/users/rich/unlocks", {"content_id": "big"}, token=w.economy.write_token)
    assert unlocked.status == 201 and unlocked.body["price"] == M, unlocked.body
    share = M * 7000 // 10_000
    assert (unlocked.body["creator_amount"], unlocked.body["platform_amount"]) == (share, M - share)
    assert wallet(w.economy, "rich") == {"available": 0, "held": 0, "earnings": 0}
    assert wallet(w.economy, "creator")["earnings"] == share and treasury(w.economy) == M - share


def _held(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["amount"] == M, r.body
    assert wallet(w.economy, "rich") == {"available": 0, "held": M, "earnings": 0}


def _settled(w: World, r: Resp) -> None:
    assert r.status == 200 and (r.body["settled_amount"], r.body["returned_amount"]) == (M, 0), r.body
    assert wallet(w.economy, "rich") == {"available": 0, "held": 0, "earnings": 0} and treasury(w.economy) == M


def _escrowed(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["amount"] == M, r.body
    released = w.api.post(f"/v1/escrows/{r.body['escrow_id']}/release", token=w.economy.write_token)
    fee = M - M * 9000 // 10_000  # ESCROW_FEE_BPS 1000, out of the amount
    assert (released.body["freelancer_amount"], released.body["fee_amount"]) == (M - fee, fee), released.body
    assert wallet(w.economy, "dev")["earnings"] == M - fee and treasury(w.economy) == fee


def _sku_priced(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["price"] == limits.MAX_SHOP_PRICE, r.body


def _sku_stocked(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["stock"] == limits.MAX_STOCK, r.body


def _sku_limited(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["daily_limit"] == limits.MAX_ORDER_QTY, r.body


def _shop_order_of_max_amount(w: World, r: Resp) -> None:
    assert r.body["total"] == M and wallet(w.economy, "rich") == {"available": 0, "held": M, "earnings": 0}
    fulfilled = _redeemed(w, r)
    assert fulfilled["treasury_amount"] == M and treasury(w.economy) == M
    assert wallet(w.economy, "rich") == {"available": 0, "held": 0, "earnings": 0}


def _confirmed_price(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["total"] == limits.MAX_SHOP_PRICE, r.body


def _listed_max_amount(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["qty"] * r.body["unit_price"] == M, r.body


def _listing_bought_and_settled(w: World, r: Resp) -> None:
    assert r.body["total"] == M and wallet(w.economy, "rich") == {"available": 0, "held": M, "earnings": 0}
    fulfilled = _redeemed(w, r)
    fee_bps = w.api.get(f"/v1/listings/{w.ids['listing']}").body["fee_bps"]
    seller = M * (10_000 - fee_bps) // 10_000  # the fee comes out of the total
    assert (fulfilled["seller_amount"], fulfilled["treasury_amount"]) == (seller, M - seller)
    assert wallet(w.economy, "seller")["earnings"] == seller and treasury(w.economy) == M - seller


def _course_paid(w: World, r: Resp) -> None:
    assert r.status == 201 and r.body["reward"] == M, r.body
    paid = w.api.post("/v1/users/rich/rewards", {"type": "course_completion", "ref": "c1"},
                      token=w.economy.rewards_token)
    assert paid.status == 200 and paid.body["amount"] == M, paid.body
    assert wallet(w.economy, "rich") == {"available": M, "held": 0, "earnings": 0}


def _daily_pays(amount: int) -> Callable[[World, Resp], None]:
    def check(w: World, r: Resp) -> None:
        assert r.status == 200, r.body
        paid = w.api.post("/v1/users/rich/rewards", {"type": "daily"}, token=w.economy.rewards_token)
        assert paid.status == 200 and paid.body["amount"] == amount, paid.body

    return check


def _pays(type_: str, ref: Optional[str]) -> Callable[[World, Resp], None]:
    def check(w: World, r: Resp) -> None:
        assert r.status == 200, r.body
        body = {"type": type_, **({"ref": ref} if ref else {})}
        paid = w.api.post("/v1/users/rich/rewards", body, token=w.economy.rewards_token)
        assert paid.status == 200 and paid.body["amount"] == M, paid.body

    return check


def _setting_is(name: str) -> Callable[[World, Resp], None]:
    def check(w: World, r: Resp) -> None:
        assert r.status == 200 and r.body["settings"][name] == M, r.body

    return check


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Probe:
    """One route body field that becomes money: the largest value it takes, and values past it."""

    name: str
    field: str  # named in the 400
    edge: int  # the largest accepted value (MAX_AMOUNT, or the field's derived cap)
    refused: Tuple[int, ...]  # one past the edge, MAX_AMOUNT + 1, an overflowing product
    send: Callable[[World, int], Resp]
    check_edge: Callable[[World, Resp], None]
    prepare: Callable[[World], None] = lambda w: None


def _prepare_hold(w: World) -> None:
    _fund(w)
    placed = w.api.post("/v1/holds", {"user_id": "rich", "amount": M, "purpose": "call", "expires_in": 600},
                        key=key(), token=w.economy.write_token)
    assert placed.status == 201, placed.body
    w.ids["hold"] = placed.body["hold_id"]


def _prepare_listing(w: World) -> None:
    _fund(w)
    _sku(w)
    listed = _listing(w, limits.MAX_LISTING_QTY, limits.MAX_UNIT_PRICE)
    assert listed.status == 201, listed.body
    w.ids["listing"] = listed.body["listing_id"]


def _prepare_referral(w: World) -> None:
    _fund(w, 1)
    w.economy.credit("fresh", 1)
    assert _settings(w, {"grant_daily_budget": M}).status == 200


def _content(w: World, v: int) -> Resp:
    return put(w.economy, "/v1/admin/content/big", {"title": "Big", "price": v, "creator_id": "creator"})


def _course(w: World, v: int) -> Resp:
    return put(w.economy, "/v1/admin/courses/c1", {"title": "Course", "reward": v})


def _order(w: World, qty: int, **extra: Any) -> Resp:
    return w.api.post("/v1/orders", {"buyer_id": "rich", "sku": "gem", "qty": qty, **extra}, key=key(),
                      token=w.economy.write_token)


def _sku_with(w: World, **fields: Any) -> Resp:
    return put(w.economy, "/v1/admin/rewards/gem", {"name": "Gem", "category": "cosmetic", "price": 10,
                                                   "fulfilment": "voucher", **fields})


W = limits
PROBES: List[Probe] = [
    Probe("spend.amount", "amount", M, (M + 1,),
          lambda w, v: w.api.post("/v1/users/rich/spend", {"amount": v, "reason": "x"}, key=key(),
                                  token=w.economy.write_token), _spent, _fund),
    Probe("adjust.amount (credit)", "amount", M, (M + 1,),
          lambda w, v: w.api.post("/v1/admin/users/fresh/adjust", {"amount": v, "reason": "x"}, key=key()),
          _credited),
    Probe("adjust.amount (debit)", "amount", -M, (-(M + 1),),
          lambda w, v: w.api.post("/v1/admin/users/rich/adjust", {"amount": v, "reason": "x"}, key=key()),
          _debited, _fund),
    Probe("check-balance.amount", "amount", M, (M + 1,),
          lambda w, v: w.api.post("/v1/users/rich/check-balance", {"amount": v}, token=w.economy.read_token),
          _checked, _fund),
    Probe("content.price", "price", M, (M + 1,), _content, _unlocked, _fund),
    Probe("hold.amount", "amount", M, (M + 1,),
          lambda w, v: w.api.post("/v1/holds", {"user_id": "rich", "amount": v, "purpose": "call",
                                                "expires_in": 600}, key=key(), token=w.economy.write_token),
          _held, _fund),
    Probe("settle.amount", "amount", M, (M + 1,),
          lambda w, v: w.api.post(f"/v1/holds/{w.ids['hold']}/settle", {"amount": v}, token=w.economy.write_token),
          _settled, _prepare_hold),
    Probe("escrow.amount", "amount", M, (M + 1,),
          lambda w, v: w.api.post("/v1/escrows", {"client_id": "rich", "freelancer_id": "dev", "amount": v,
                                                  "job_ref": "j"}, key=key(), token=w.economy.write_token),
          _escrowed, _fund),
    Probe("shop.price", "price", W.MAX_SHOP_PRICE, (W.MAX_SHOP_PRICE + 1, M, M + 1),
          lambda w, v: _sku_with(w, price=v), _sku_priced),
    Probe("shop.stock", "stock", W.MAX_STOCK, (W.MAX_STOCK + 1, M + 1),
          lambda w, v: _sku_with(w, stock=v), _sku_stocked),
    Probe("shop.daily_limit", "daily_limit", W.MAX_ORDER_QTY, (W.MAX_ORDER_QTY + 1, M + 1),
          lambda w, v: _sku_with(w, daily_limit=v), _sku_limited),
    # price x qty of a shop order: the largest price times one unit more than fits
    Probe("order.qty x MAX_SHOP_PRICE", "qty", W.MAX_ORDER_QTY, (W.MAX_ORDER_QTY + 1, M + 1),
          lambda w, v: _order(w, v), _shop_order_of_max_amount, lambda w: (_fund(w), _sku(w))),
    Probe("order.expected_price", "expected_price", W.MAX_SHOP_PRICE, (W.MAX_SHOP_PRICE + 1, M + 1),
          lambda w, v: _order(w, 1, expected_price=v), _confirmed_price, lambda w: (_fund(w), _sku(w))),
    Probe("listing.qty x MAX_UNIT_PRICE", "qty", W.MAX_LISTING_QTY, (W.MAX_LISTING_QTY + 1, M + 1),
          lambda w, v: _listing(w, v, W.MAX_UNIT_PRICE), _listed_max_amount, _sku),
    Probe("listing.unit_price x MAX_LISTING_QTY", "unit_price", W.MAX_UNIT_PRICE, (W.MAX_UNIT_PRICE + 1, M + 1),
          lambda w, v: _listing(w, W.MAX_LISTING_QTY, v), _listed_max_amount, _sku),
    Probe("listing-buy.qty x unit_price", "qty", W.MAX_LISTING_QTY, (W.MAX_LISTING_QTY + 1, M + 1),
          lambda w, v: w.api.post(f"/v1/listings/{w.ids['listing']}/buy", {"buyer_id": "rich", "qty": v},
                                  key=key(), token=w.economy.write_token),
          _listing_bought_and_settled, _prepare_listing),
    Probe("course.reward", "reward", M, (M + 1,), _course, _course_paid,
          lambda w: _settings(w, {"grant_daily_budget": M}) and None),
    Probe("reward-settings.daily_base", "daily_base", M, (M + 1,),
          lambda w, v: _settings(w, {"daily_base": v, "daily_cap": M, "grant_daily_budget": M}), _daily_pays(M)),
    Probe("reward-settings.daily_cap", "daily_cap", M, (M + 1,),
          lambda w, v: _settings(w, {"daily_base": M, "daily_cap": v, "grant_daily_budget": M}), _daily_pays(M)),
    Probe("reward-settings.daily_streak_bonus", "daily_streak_bonus", M, (M + 1,),
          lambda w, v: _settings(w, {"daily_streak_bonus": v}), _daily_pays(10)),
    Probe("reward-settings.quest_reward", "quest_reward", M, (M + 1,),
          lambda w, v: _settings(w, {"quest_reward": v, "grant_daily_budget": M}), _pays("quest", None)),
    Probe("reward-settings.referral_reward", "referral_reward", M, (M + 1,),
          lambda w, v: _settings(w, {"referral_reward": v}), _pays("referral", "fresh"), _prepare_referral),
    Probe("reward-settings.grant_daily_budget", "grant_daily_budget", M, (M + 1,),
          lambda w, v: _settings(w, {"grant_daily_budget": v}), _setting_is("grant_daily_budget")),
]

CASES = [pytest.param(p, p.edge, id=f"{p.name}={p.edge}") for p in PROBES] + [
    pytest.param(p, v, id=f"{p.name}={v}") for p in PROBES for v in p.refused
]


def _state(w: World) -> Dict[str, Any]:
    """Everything a refused request must leave as it was."""
    api = w.api
    return {
        "books": books(w.economy, *USERS),
        "sku": api.get("/v1/admin/rewards/gem").body,
        "content": api.get("/v1/content/big").body,
        "listings": api.get("/v1/listings?limit=100").body,
        "orders": {u: api.get(f"/v1/users/{u}/orders?limit=100").body for u in USERS},
        "courses": api.get("/v1/admin/courses").body,
        "reward_settings": api.get("/v1/admin/reward-settings").body,
        "minted": system_balance(w.economy.id, system("rewards")),
    }


@pytest.mark.parametrize("probe, value", CASES)
def test_every_money_field_is_bounded_where_it_enters(world: World, probe: Probe, value: int) -> None:
    probe.prepare(world)
    if value == probe.edge:
        probe.check_edge(world, probe.send(world, value))
    else:
        before = _state(world)
        assert_error(probe.send(world, value), 400, "validation_error", probe.field)
        assert _state(world) == before
    world.economy.check()


def test_the_table_covers_every_money_field_of_every_route_body() -> None:
    """A new money field in a body model must get a row here (or say why not)."""
    from chalicelib.routes import market_models, models, rewards_models, spending_models

    money = {"amount", "price", "unit_price", "expected_price", "qty", "stock", "daily_limit", "reward",
             "min_per_buyer", "max_per_buyer", "coins", "bonus_coins", "daily_base", "daily_cap",
             "daily_streak_bonus", "quest_reward", "referral_reward", "grant_daily_budget"}
    not_here = {
        # the coin packs' coins and bonus (and their sum) belong to the purchases' own checks
        ("PackBody", "coins"), ("PackBody", "bonus_coins"), ("PriceBody", "amount"),
        # per-buyer limits are units of one listing, bounded by its qty (listing.qty row)
        ("ListingBody", "min_per_buyer"), ("ListingBody", "max_per_buyer"),
    }
    covered = {p.field for p in PROBES}
    for module in (models, spending_models, market_models, rewards_models):
        for name in dir(module):
            model = getattr(module, name)
            if not (isinstance(model, type) and name.endswith("Body") and hasattr(model, "model_fields")):
                continue
            for field_name in model.model_fields:
                if field_name in money and (name, field_name) not in not_here:
                    assert field_name in covered, f"{name}.{field_name} has no row in PROBES"


def test_the_derived_caps_fit_one_operation() -> None:
    assert limits.MAX_SHOP_PRICE * limits.MAX_ORDER_QTY == MAX_AMOUNT
    assert limits.MAX_UNIT_PRICE * limits.MAX_LISTING_QTY == MAX_AMOUNT
    assert limits.check_total(limits.MAX_ORDER_QTY, limits.MAX_SHOP_PRICE) == MAX_AMOUNT
    with pytest.raises(Exception) as refused:
        limits.check_total(2, MAX_AMOUNT // 2 + 1, field="qty")
    assert getattr(refused.value, "code", None) == "validation_error" and refused.value.details["field"] == "qty"


def test_a_product_past_the_ledger_is_refused_by_the_domain_whatever_the_adapter(world: World) -> None:
    """The caps make an overflowing product unreachable through the bodies; the domain checks it anyway.

    A price written to the catalog by hand (an import, an old record) or a
    listing made by another adapter still gets a 400 naming ``qty``, never the
    ledger's refusal (a 500) after the order was half-built.
    """
    from chalicelib.core import errors
    from chalicelib.market import listings
    from chalicelib.db.engine import get_client, table_name

    _fund(world)
    _sku(world)
    get_client().update_item(TableName=table_name("rewards"),
                             Key={"economy": {"S": world.economy.id}, "sku": {"S": "gem"}},
                             UpdateExpression="SET price = :p", ExpressionAttributeValues={":p": {"N": str(10**10)}})
    before = _state(world)
    assert_error(_order(world, limits.MAX_ORDER_QTY), 400, "validation_error", "qty")
    with pytest.raises(errors.ValidationFailedError) as refused:
        listings.create_listing(world.economy.id, "seller", "gem", 2, M // 2 + 1, 3600, None, None, None)
    assert refused.value.details["field"] == "qty"
    assert _state(world) == before
    world.economy.check()
