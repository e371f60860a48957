"""Market routes: the rewards catalog, shop orders, player listings, prices, and the redeem webhook."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.ledger.accounts import USER_ID_PATTERN, valid_user_id
from chalicelib.market.names import (
    CATEGORIES, LISTING_STATES, ORDER_STATES, SKU_PATTERN, valid_listing_id, valid_order_id, valid_sku,
)
from chalicelib.routes._http import (
    CURSOR, Call, Reply, endpoint, optional_key, parse_body, path_param, query_choice, query_int, query_limit,
    query_pattern, query_value, replied,
)
from chalicelib.routes.market_models import (
    BuyListingBody, CancelListingBody, Listing, ListingBody, ListingPage, MarketPrice, Order, OrderBody, OrderPage,
    ForceFulfilBody, OperatorReasonBody, PricingBody, PricingResult, RedeemBody, Redeemed, RepriceBody, Reward,
    RewardBody, RewardList,
)

bp = Blueprint(__name__)
_READ = [400, 401, 403, 404]
_WRITE = [400, 401, 403, 404, 409, 422, 503]
_PAGE = {"limit": query_limit(100, 25), "cursor": CURSOR}


_choice = query_value  # the shared reader of a query_choice() parameter


# -- the catalog --------------------------------------------------------------------------


@endpoint(bp, "/v1/admin/rewards/{sku}", "GET", summary="A SKU in any state (hidden, deleted).", action="config.read",
          response=Reward, tags=["market", "admin"], error_statuses=_READ)
def admin_get_reward(call: Call, sku: str) -> Reply:
    from chalicelib.market.catalog import get_item as get_reward

    return Reply(get_reward(call.principal.economy, path_param("sku", sku, valid_sku), admin=True))


@endpoint(bp, "/v1/admin/rewards/{sku}", "PUT", summary="Create (201) or replace (200) a SKU, audited.",
          action="catalog.write", body=RewardBody, response=Reward, status=201, also_ok=[200], tags=["market", "admin"],
          error_statuses=[400, 401, 403, 409])
def put_reward(call: Call, sku: str) -> Reply:
    from chalicelib.market.catalog import put_item as put

    path_param("sku", sku, valid_sku)
    view, created = put(call.principal.economy, sku, call.body.model_dump(), call.principal.actor)
    return Reply(view, 201 if created else 200)


@endpoint(bp, "/v1/admin/rewards/{sku}", "DELETE", summary="Take a SKU off sale for good, audited.", action="catalog.write",
          response=Reward, tags=["market", "admin"], error_statuses=_READ + [409])
def delete_reward(call: Call, sku: str) -> Reply:
    from chalicelib.market.catalog import delete_item as delete

    return Reply(delete(call.principal.economy, path_param("sku", sku, valid_sku), call.principal.actor))


@endpoint(bp, "/v1/rewards", "GET", summary="What the shop sells now.", scope="read", response=RewardList,
          query={"category": query_choice(CATEGORIES)}, tags=["market"], error_statuses=[400, 401, 403])
def rewards(call: Call) -> Reply:
    from chalicelib.market.catalog import list_items as list_rewards

    return Reply({"items": list_rewards(call.principal.economy, _choice(call, "category", CATEGORIES))})


@endpoint(bp, "/v1/rewards/{sku}", "GET", summary="One SKU on sale.", scope="read", response=Reward,
          tags=["market"], error_statuses=_READ)
def reward(call: Call, sku: str) -> Reply:
    from chalicelib.market.catalog import get_item as get_reward

    return Reply(get_reward(call.principal.economy, path_param("sku", sku, valid_sku)))


# -- orders -------------------------------------------------------------------------------------


@endpoint(bp, "/v1/orders", "POST", summary="Buy from the shop: coins to escrow until the game server delivers.",
          scope="write", body=OrderBody, response=Order, status=201, idempotency="required", tags=["market"],
          error_statuses=_WRITE)
def buy_reward(call: Call) -> Reply:
    from chalicelib.market.catalog import buy

    b = call.body
    return replied(buy(call.principal.economy, b.buyer_id, b.sku, b.qty, b.player_id, b.expected_price,
                        call.idempotency_key()))


@endpoint(bp, "/v1/orders/{order_id}", "GET", summary="An order's state.", scope="read", response=Order,
          tags=["market"], error_statuses=_READ)
def order(call: Call, order_id: str) -> Reply:
    from chalicelib.market.orders import get_order

    return Reply(get_order(call.principal.economy, path_param("order_id", order_id, valid_order_id)))


@endpoint(bp, "/v1/orders/{order_id}/cancel", "POST", summary="Cancel an unredeemed voucher order; refunds it.",
          scope="write", response=Order, idempotency="optional", tags=["market"], error_statuses=_WRITE)
def cancel_order(call: Call, order_id: str) -> Reply:
    from chalicelib.market.settlement import cancel

    path_param("order_id", order_id, valid_order_id)
    return replied(cancel(call.principal.economy, order_id, optional_key(call)))


@endpoint(bp, "/v1/users/{user_id}/orders", "GET", summary="A buyer's orders, newest first.", scope="read",
          response=OrderPage, query={"status": query_choice(ORDER_STATES), **_PAGE}, tags=["market"],
          error_statuses=[400, 401, 403])
def user_orders(call: Call, user_id: str) -> Reply:
    from chalicelib.market.orders import list_orders

    path_param("user_id", user_id, valid_user_id)
    status = _choice(call, "status", ORDER_STATES)
    limit = query_int(call, "limit", default=25, low=1, high=100)
    items, cursor = list_orders(call.principal.economy, user_id, status, limit, call.query.get("cursor") or None)
    return Reply({"items": items, "next_cursor": cursor})


# -- listings ---------------------------------------------------------------------------------------


@endpoint(bp, "/v1/listings", "POST", summary="List units of a SKU for sale (price floor and fee bands apply).",
          scope="write", body=ListingBody, response=Listing, status=201, also_ok=[200], idempotency="optional",
          tags=["market"],
          error_statuses=_WRITE)
def create_listing(call: Call) -> Reply:
    from chalicelib.market.listings import create_listing as create

    b = call.body
    view, created = create(call.principal.economy, b.seller_id, b.sku, b.qty, b.unit_price, b.expires_in,
                           b.min_per_buyer, b.max_per_buyer, optional_key(call))
    return Reply(view, 201 if created else 200, {"Idempotent-Replayed": "false" if created else "true"})


@endpoint(bp, "/v1/listings", "GET", summary="Listings, newest first.", scope="read", response=ListingPage,
          query={"sku": query_pattern(SKU_PATTERN, "one SKU"), "status": query_choice(LISTING_STATES), **_PAGE},
          tags=["market"],
          error_statuses=[400, 401, 403])
def listings(call: Call) -> Reply:
    from chalicelib.market.listings import list_listings

    sku = call.query.get("sku") or None
    if sku is not None:
        path_param("sku", sku, valid_sku)
    status = _choice(call, "status", LISTING_STATES)
    limit = query_int(call, "limit", default=25, low=1, high=100)
    items, cursor = list_listings(call.principal.economy, sku, status, limit, call.query.get("cursor") or None)
    return Reply({"items": items, "next_cursor": cursor})


@endpoint(bp, "/v1/listings/{listing_id}", "GET", summary="A listing.", scope="read", response=Listing,
          tags=["market"], error_statuses=_READ)
def listing(call: Call, listing_id: str) -> Reply:
    from chalicelib.market.listings import get_listing

    return Reply(get_listing(call.principal.economy, path_param("listing_id", listing_id, valid_listing_id)))


@endpoint(bp, "/v1/listings/{listing_id}/cancel", "POST", summary="Withdraw a listing (body optional: {seller_id}).",
          scope="write", body=CancelListingBody, body_required=False, response=Listing, tags=["market"],
          error_statuses=_WRITE)
def cancel_listing(call: Call, listing_id: str) -> Reply:
    from chalicelib.market.listings import cancel_listing as cancel

    path_param("listing_id", listing_id, valid_listing_id)
    return Reply(cancel(call.principal.economy, listing_id, call.body.seller_id))


@endpoint(bp, "/v1/listings/{listing_id}/buy", "POST", summary="Buy units of a listing: coins to escrow.",
          scope="write", body=BuyListingBody, response=Order, status=201, idempotency="required", tags=["market"],
          error_statuses=_WRITE)
def buy_listing(call: Call, listing_id: str) -> Reply:
    from chalicelib.market.listings import buy

    path_param("listing_id", listing_id, valid_listing_id)
    b = call.body
    return replied(buy(call.principal.economy, listing_id, b.buyer_id, b.qty, b.player_id, call.idempotency_key(),
                       unit_price=b.expected_price))


@endpoint(bp, "/v1/market/prices/{sku}", "GET", summary="A SKU's 7-day median/average, 24-hour volume and floor.",
          scope="read", response=MarketPrice, tags=["market"], error_statuses=[400, 401, 403])
def prices(call: Call, sku: str) -> Reply:
    from chalicelib.market import pricing
    from chalicelib.market.pricing_config import get_pricing

    path_param("sku", sku, valid_sku)
    economy = call.principal.economy
    current, terms = pricing.current(economy, sku), get_pricing(economy)
    return Reply({**current, "price_floor": pricing.floor_price(current["median_7d"], terms.price_floor_bps),
                  "base_fee_bps": terms.market_fee_bps, "history": pricing.history(economy, sku)})


@endpoint(bp, "/v1/admin/pricing", "GET", summary="The economy's market pricing: base fee, floor, bands, scarcity.",
          action="config.read", response=PricingResult, tags=["market", "admin"])
def get_pricing_config(call: Call) -> Reply:
    from chalicelib.market.pricing_config import get_pricing

    return Reply({"pricing": get_pricing(call.principal.economy, fresh=True).as_dict(), "changed": False})


@endpoint(bp, "/v1/admin/pricing", "PUT",
          summary="Set some of the economy's market pricing (validated, audited; applies to new listings).",
          action="config.write", body=PricingBody, response=PricingResult, tags=["market", "admin"],
          error_statuses=[400, 401, 403, 404, 422])
def put_pricing_config(call: Call) -> Reply:
    from chalicelib.market.pricing_config import set_pricing

    return Reply(set_pricing(call.principal.economy, call.body.model_dump(exclude_unset=True), call.principal.actor))


# -- the game server's webhook ---------------------------------------------------------------


# -- operators: orders and listings -----------------------------------------------------------


@endpoint(bp, "/v1/admin/orders", "GET", summary="The economy's orders (or one buyer's), newest first.",
          action="market.read", response=OrderPage,
          query={"status": query_choice(ORDER_STATES), "buyer_id": query_pattern(USER_ID_PATTERN, "one buyer"),
                 **_PAGE},
          tags=["market", "admin"], error_statuses=[400, 401, 403])
def admin_orders(call: Call) -> Reply:
    from chalicelib.operations.market_admin import list_orders

    buyer = call.query.get("buyer_id") or None
    if buyer is not None:
        path_param("buyer_id", buyer, valid_user_id)
    limit = query_int(call, "limit", default=25, low=1, high=100)
    items, cursor = list_orders(call.principal.economy, _choice(call, "status", ORDER_STATES), buyer, limit,
                                call.query.get("cursor") or None)
    return Reply({"items": items, "next_cursor": cursor})


@endpoint(bp, "/v1/admin/orders/{order_id}", "GET", summary="An order, any buyer's.", action="market.read",
          response=Order, tags=["market", "admin"], error_statuses=_READ)
def admin_order(call: Call, order_id: str) -> Reply:
    from chalicelib.market.orders import get_order

    return Reply(get_order(call.principal.economy, path_param("order_id", order_id, valid_order_id)))


@endpoint(bp, "/v1/admin/orders/{order_id}/refund", "POST",
          summary="Refund a pending order: its escrow back to the buyer, its units back (audited).",
          action="orders.fulfil", body=OperatorReasonBody, response=Order, idempotency="required",
          tags=["market", "admin"], error_statuses=_WRITE)
def admin_refund_order(call: Call, order_id: str) -> Reply:
    from chalicelib.operations.market_admin import refund_order

    path_param("order_id", order_id, valid_order_id)
    return replied(refund_order(call.principal.economy, order_id, call.body.reason, call.principal.actor,
                                call.idempotency_key()))


@endpoint(bp, "/v1/admin/orders/{order_id}/fulfil", "POST",
          summary="Force-fulfil a pending order: queue one more delivery try, or settle it as delivered (audited).",
          action="orders.fulfil", body=ForceFulfilBody, response=Order, idempotency="required",
          tags=["market", "admin"], error_statuses=_WRITE)
def admin_fulfil_order(call: Call, order_id: str) -> Reply:
    from chalicelib.operations.market_admin import force_fulfil

    path_param("order_id", order_id, valid_order_id)
    view, replayed, created = force_fulfil(call.principal.economy, order_id, call.body.mode, call.body.reason,
                                           call.principal.actor, call.idempotency_key())
    return Reply(view, 201 if created else 200, {"Idempotent-Replayed": "true" if replayed else "false"})


@endpoint(bp, "/v1/admin/listings", "GET", summary="Listings, newest first (an operator's view of GET /v1/listings).",
          action="market.read", response=ListingPage,
          query={"sku": query_pattern(SKU_PATTERN, "one SKU"), "status": query_choice(LISTING_STATES), **_PAGE},
          tags=["market", "admin"], error_statuses=[400, 401, 403])
def admin_listings(call: Call) -> Reply:
    return listings.__wrapped__(call)  # the public route's view (``endpoint`` wraps it with functools.wraps)


@endpoint(bp, "/v1/admin/listings/{listing_id}", "GET", summary="A listing.", action="market.read",
          response=Listing, tags=["market", "admin"], error_statuses=_READ)
def admin_listing(call: Call, listing_id: str) -> Reply:
    return listing.__wrapped__(call, listing_id)


@endpoint(bp, "/v1/admin/listings/{listing_id}/price", "PUT",
          summary="Change an active listing's unit price (the floor applies, the fee is worked out again), audited.",
          action="listings.manage", body=RepriceBody, response=Listing, tags=["market", "admin"],
          error_statuses=_WRITE)
def admin_reprice_listing(call: Call, listing_id: str) -> Reply:
    from chalicelib.operations.market_admin import reprice_listing

    path_param("listing_id", listing_id, valid_listing_id)
    view, _changed = reprice_listing(call.principal.economy, listing_id, call.body.unit_price, call.body.reason,
                                     call.principal.actor)
    return Reply(view)


@endpoint(bp, "/v1/admin/listings/{listing_id}/cancel", "POST",
          summary="Cancel a player's listing (its unsold units stay the seller's; placed orders go on), audited.",
          action="listings.manage", body=OperatorReasonBody, response=Listing, tags=["market", "admin"],
          error_statuses=_WRITE)
def admin_cancel_listing(call: Call, listing_id: str) -> Reply:
    from chalicelib.operations.market_admin import cancel_listing as cancel

    path_param("listing_id", listing_id, valid_listing_id)
    return Reply(cancel(call.principal.economy, listing_id, call.body.reason, call.principal.actor))


@endpoint(bp, "/v1/webhooks/redeem", "POST",
          summary="A game server redeems one of its economy's vouchers (X-Coinhall-Server, X-Coinhall-Signature).",
          response=Redeemed, authenticated=False, tags=["market"], error_statuses=[400, 401, 404, 409])
def redeem(call: Call) -> Reply:
    from chalicelib.market.fulfilment.redeem import redeem as do_redeem
    from chalicelib.tenancy.game_servers import verify_redeem

    # The signature covers the raw bytes: check it before parsing anything.
    economy = verify_redeem(call.headers, call.raw_body)
    body = parse_body(call.raw_body, RedeemBody)
    result = do_redeem(economy, body.code, body.player_id)
    return Reply(result, 200, {"Idempotent-Replayed": "true" if result["replayed"] else "false"})
