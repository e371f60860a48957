"""Request and response bodies of the market routes: rewards catalog, orders, listings, redeem."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from chalicelib.ledger.limits import MAX_LISTING_QTY, MAX_ORDER_QTY, MAX_STOCK, MAX_UNIT_PRICE
from chalicelib.ledger.limits import MAX_SHOP_PRICE as MAX_PRICE
from chalicelib.market.names import SKU_PATTERN
from chalicelib.routes.models import NOT_BLANK, Balance, _Body, _SomeOf, some_of

_ID = r"^[A-Za-z0-9_.:@|-]{1,128}$"
_SKU = SKU_PATTERN
_PLAYER = r"^[A-Za-z0-9_.:@|-]{1,64}$"
MAX_PAYLOAD_BYTES = 2048


def _payload(value: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """A JSON object of strings, integers, booleans, nulls, lists and objects; no floats (coins and ids are exact)."""
    if value is None:
        return None

    def walk(node: Any, depth: int) -> None:
        if depth > 6:
            raise ValueError("is nested too deeply (at most 6 levels)")
        if isinstance(node, float):
            raise ValueError("may not contain fractional numbers")
        if isinstance(node, dict):
            for key, child in node.items():
                if not key or len(key) > 64:
                    raise ValueError("keys must be 1-64 characters")
                walk(child, depth + 1)
        elif isinstance(node, list):
            for child in node:
                walk(child, depth + 1)

    walk(value, 0)
    if len(json.dumps(value, separators=(",", ":"))) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"must be at most {MAX_PAYLOAD_BYTES} bytes of JSON")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class RewardBody(_Body):
    name: StrictStr = Field(min_length=1, max_length=100, json_schema_extra=NOT_BLANK)
    category: Literal["money", "rank", "cosmetic", "voucher"]
    price: StrictInt = Field(ge=1, le=MAX_PRICE, description="Coins per unit.")
    fulfilment: Literal["api", "voucher"] = Field(description="api: we call the game server; voucher: a code.")
    payload: Optional[Dict[str, Any]] = Field(default=None,
                                              description="What the game server acts on: JSON without fractional "
                                                          "numbers, keys 1-64 characters, nested at most 6 "
                                                          "levels, at most 2048 bytes.")
    daily_limit: Optional[StrictInt] = Field(default=None, ge=1, le=MAX_ORDER_QTY,
                                             description="Units per player per UTC day.")
    stock: Optional[StrictInt] = Field(default=None, ge=0, le=MAX_STOCK, description="Units left; omit for unlimited.")
    visible: StrictBool = True
    expires_at: Optional[StrictStr] = Field(default=None, description="ISO-8601 with a time zone; off sale after it.",
                                            json_schema_extra={"format": "date-time"})

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _not_blank(value)

    @field_validator("payload")
    @classmethod
    def _payload_ok(cls, value: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        return _payload(value)

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: Optional[str]) -> Optional[str]:
        from chalicelib.core.ids import parse_iso

        return None if value is None else parse_iso(value)


class OrderBody(_Body):
    buyer_id: StrictStr = Field(pattern=_ID, description="The wallet that pays.")
    sku: StrictStr = Field(pattern=_SKU)
    qty: StrictInt = Field(default=1, ge=1, le=MAX_ORDER_QTY)
    player_id: Optional[StrictStr] = Field(default=None, pattern=_PLAYER,
                                           description="The game account to deliver to; default: buyer_id.")
    expected_price: Optional[StrictInt] = Field(default=None, ge=1, le=MAX_PRICE,
                                                description="The unit price the buyer confirmed; else today's.")


class ListingBody(_Body):
    seller_id: StrictStr = Field(pattern=_ID)
    sku: StrictStr = Field(pattern=_SKU)
    qty: StrictInt = Field(ge=1, le=MAX_LISTING_QTY)
    unit_price: StrictInt = Field(ge=1, le=MAX_UNIT_PRICE)
    expires_in: StrictInt = Field(ge=60, le=30 * 86_400, description="Seconds until it closes by itself.")
    min_per_buyer: Optional[StrictInt] = Field(default=None, ge=1, le=MAX_LISTING_QTY,
                                               description="Least units per order (unless taking all that is left).")
    max_per_buyer: Optional[StrictInt] = Field(default=None, ge=1, le=MAX_LISTING_QTY,
                                               description="Most units one buyer may buy in all.")


class BuyListingBody(_Body):
    buyer_id: StrictStr = Field(pattern=_ID)
    qty: StrictInt = Field(ge=1, le=MAX_LISTING_QTY)
    player_id: Optional[StrictStr] = Field(default=None, pattern=_PLAYER)
    # Named as the shop order's: the same guard, the same word.
    expected_price: Optional[StrictInt] = Field(default=None, ge=1, le=MAX_UNIT_PRICE,
                                                description="The unit price the buyer confirmed (409 price_changed "
                                                            "if the listing asks another); else the price now.")


class CancelListingBody(_Body):
    seller_id: Optional[StrictStr] = Field(default=None, pattern=_ID, description="When given, must be the seller.")


class RedeemBody(_Body):
    code: StrictStr = Field(min_length=1, max_length=64)
    player_id: StrictStr = Field(pattern=_PLAYER)


class GameServerBody(_Body):
    label: Optional[StrictStr] = Field(default=None, min_length=1, max_length=100,
                                       description="For people: which server this is.")
    reason: StrictStr = Field(min_length=1, max_length=500, json_schema_extra=NOT_BLANK,
                              description="Kept in the audit (or X-Audit-Reason).")


class RotateBody(_Body):
    grace_seconds: StrictInt = Field(default=86_400, ge=0, le=7 * 86_400,
                                     description="How long the replaced secret still verifies (0: not at all).")
    reason: StrictStr = Field(min_length=1, max_length=500, json_schema_extra=NOT_BLANK,
                              description="Kept in the audit (or X-Audit-Reason).")


class RevokeBody(_Body):
    reason: StrictStr = Field(min_length=1, max_length=500, json_schema_extra=NOT_BLANK,
                              description="Kept in the audit (or X-Audit-Reason).")


# -- responses (the OpenAPI document's schemas) -------------------------------------


class ShopEvent(BaseModel):
    event_id: str
    name: str
    discount_bps: int


class Reward(BaseModel):
    sku: str
    name: str
    category: str
    price: int
    fulfilment: str
    payload: Dict[str, Any]
    daily_limit: Optional[int]
    stock: Optional[int] = Field(description="Units left; null = unlimited.")
    sold: int
    visible: bool
    expires_at: Optional[str]
    updated_at: str
    deleted: Optional[bool] = None
    list_price: Optional[int] = Field(default=None, description="While a shop_discount event applies: the price "
                                                                "before it (``price`` is what a buyer pays).")
    event: Optional[ShopEvent] = Field(default=None, description="The shop_discount event that applies now.")


class RewardList(BaseModel):
    items: List[Reward]


class Order(BaseModel):
    order_id: str
    kind: Literal["shop", "listing"]
    status: Literal["pending", "fulfilled", "refunded", "cancelled"]
    buyer_id: str
    player_id: str
    sku: str
    qty: int
    unit_price: int
    total: int
    fee_bps: int
    seller_id: Optional[str]
    listing_id: Optional[str]
    fulfilment: str
    action: str
    payload: Dict[str, Any]
    created_at: str
    expires_at: str = Field(description="Refunded if not fulfilled by then.")
    resolved_at: Optional[str]
    seller_amount: Optional[int]
    treasury_amount: Optional[int]
    attempts: int
    last_error: Optional[str]
    redeemed_by: Optional[str]
    resolution: Optional[str] = Field(default=None, description="How it ended, e.g. `fulfilled:api`, `order-expire`.")
    delivered_after_resolution: bool = Field(
        default=False, description="The game server answered 2xx for it after it was refunded: check the player.")
    delivery_unknown: bool = Field(
        default=False, description="A delivery try got no answer (timeout, dropped connection). On a refunded "
                                   "order: the game server may have delivered it anyway; ask it before granting again.")
    event_id: Optional[str] = Field(default=None, description="The shop_discount event that lowered unit_price.")
    discount_bps: Optional[int] = None
    list_price: Optional[int] = Field(default=None, description="The SKU's price before the event's discount.")
    voucher_code: Optional[str] = Field(default=None, description="Voucher orders, on the purchase response only.")
    transaction_id: Optional[str] = None
    balance: Optional[Balance] = None


class OrderPage(BaseModel):
    items: List[Order]
    next_cursor: Optional[str]


class Listing(BaseModel):
    listing_id: str
    seller_id: str
    sku: str
    status: Literal["active", "sold_out", "cancelled", "expired"]
    qty: int
    units_left: int
    available: int = Field(description="The older name of `units_left` (the same number), kept as an alias.")
    sold: int
    unit_price: int
    fee_bps: int
    fee: Dict[str, Any]
    price_floor: Optional[int]
    min_per_buyer: Optional[int]
    max_per_buyer: Optional[int]
    created_at: str
    expires_at: str
    unsold: Optional[int]
    repriced_at: Optional[str] = Field(None, description="When an operator last changed the price (null: never).")


class ListingPage(BaseModel):
    items: List[Listing]
    next_cursor: Optional[str]


class MarketPrice(BaseModel):
    sku: str
    median_7d: Optional[int]
    avg_7d: Optional[int]
    units_7d: int
    volume_24h: int
    coins_24h: int
    price_floor: Optional[int]
    base_fee_bps: int
    history: List[Dict[str, Any]]


class Redeemed(BaseModel):
    result: Literal["redeemed"]
    replayed: bool = Field(description="true: this code was redeemed before; `player_id` redeemed it.")
    order_id: str
    player_id: str
    order: Order


class GameServer(BaseModel):
    server_id: str
    economy: str
    label: Optional[str]
    status: Literal["active", "revoked"]
    created_at: str
    updated_at: str
    secret_created_at: Optional[str]
    previous_secret_expires_at: Optional[str] = Field(description="Until then the secret before the last "
                                                                  "rotation also verifies.")
    revoked_at: Optional[str]


class GameServerSecret(GameServer):
    secret: str = Field(description="Shown once: sign redeems with it (X-Coinhall-Signature).")


class GameServerList(BaseModel):
    items: List[GameServer]


# -- the economy's pricing (admin) ------------------------------------------------------


class PricingBody(_SomeOf):
    # Absent means "leave it"; an explicit null is not a number (400). At least one is set.
    model_config = ConfigDict(json_schema_extra=some_of)

    market_fee_bps: StrictInt = Field(default=None, ge=0, le=10_000,  # type: ignore[assignment]
                                      description="The base fee (basis points) before band and scarcity.")
    price_floor_bps: StrictInt = Field(default=None, ge=0, le=10_000,  # type: ignore[assignment]
                                       description="The floor as a share of the 7-day median.")
    band_undercut_bps: StrictInt = Field(default=None, ge=0, le=40_000)  # type: ignore[assignment]
    band_market_bps: StrictInt = Field(default=None, ge=0, le=40_000)  # type: ignore[assignment]
    band_premium_bps: StrictInt = Field(default=None, ge=0, le=40_000)  # type: ignore[assignment]
    band_far_over_bps: StrictInt = Field(default=None, ge=0, le=40_000)  # type: ignore[assignment]
    scarcity_target_units: StrictInt = Field(default=None, ge=0, le=1_000_000,  # type: ignore[assignment]
                                             description="Fewer units listed than this: the scarcity multiplier.")
    scarcity_alpha_bps: StrictInt = Field(default=None, ge=0, le=40_000)  # type: ignore[assignment]


class PricingValues(BaseModel):
    market_fee_bps: int
    price_floor_bps: int
    band_undercut_bps: int
    band_market_bps: int
    band_premium_bps: int
    band_far_over_bps: int
    scarcity_target_units: int
    scarcity_alpha_bps: int


class PricingResult(BaseModel):
    pricing: PricingValues
    changed: bool


# -- operators on orders and listings (admin) -------------------------------------------


class OperatorReasonBody(_Body):
    reason: StrictStr = Field(min_length=1, max_length=500, json_schema_extra=NOT_BLANK,
                              description="Why (kept in the audit trail; or X-Audit-Reason).")


class RepriceBody(OperatorReasonBody):
    unit_price: StrictInt = Field(ge=1, le=MAX_UNIT_PRICE, description="The new price of one unit, in coins.")


class ForceFulfilBody(OperatorReasonBody):
    mode: Literal["requeue", "delivered"] = Field(
        description="requeue: one more delivery try (API orders); delivered: settle it as delivered.")
