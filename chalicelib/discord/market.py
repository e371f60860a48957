"""The market in Discord: Shop, Sell, and Buy on a listing. Every answer is ephemeral.

* **Shop** (hub button ``hub:market``): category select -> item select -> the
  item with a Confirm button -> receipt. Confirm carries the id of the
  interaction that showed it, so a double click (or Discord's retry) buys once:
  the order's ledger key is ``discord:shop:<that id>``. The price shown is the
  price charged (a change in between is refused as ``price_changed``).
* **Sell** (``hub:sell``): item select -> modal (price, quantity, expiry hours,
  min and max per buyer) -> the price floor and fee guards -> the listing, keyed
  by the modal's interaction id; its card with a Buy button is posted to
  ``#shop`` by the queue (``market.shop``, ``notices.post_listing``), never
  inside the 3-second answer.
* **Buy** on a ``#shop`` card (``m:lb:<listing>``): quote -> quantity modal ->
  receipt (a voucher code, if any, is in the receipt only the buyer sees). The
  quote's price rides along (``m:lq:<listing>:<price>``, ``m:lbq:...``) and is
  the price charged: a seller's reprice in between is refused as
  ``price_changed``, and the buyer reads the new price, that nothing was
  charged, and a button to buy at it.

Orders made here remember the interaction (guild, user, token), so the buyer
is told in Discord when the game server delivered or the coins came back.
Everything here only touches DynamoDB: well inside Discord's 3 seconds.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.discord import market_views
from chalicelib.discord.interaction import Interaction
from chalicelib.ledger.limits import MAX_LISTING_QTY, MAX_UNIT_PRICE
from chalicelib.ledger.wallets import find_wallet
from chalicelib.market import catalog, listings, pricing
from chalicelib.market.fulfilment import minecraft
from chalicelib.tenancy.guilds import Guild


def _origin(ix: Interaction, guild: Guild) -> Dict[str, str]:
    return {"guild_id": guild.guild_id, "user_id": ix.user_id, "application_id": ix.application_id,
            "token": ix.token, "interaction_id": ix.id}


def _one_value(ix: Interaction, what: str) -> str:
    if len(ix.values) != 1 or not 0 < len(ix.values[0]) <= 64:
        raise errors.ValidationFailedError(f"Pick one {what}.", field=what)
    return ix.values[0]


def _number(fields: Dict[str, str], name: str, label: str, low: int, high: int, required: bool = True) -> Optional[int]:
    raw = (fields.get(name) or "").strip().replace(",", "").replace("_", "")
    if not raw and not required:
        return None
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise errors.ValidationFailedError(f"{label} must be a whole number from {low:,} to {high:,}.", field=name)
    return int(raw)


# -- Shop -------------------------------------------------------------------------------


def categories(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    return market_views.categories(catalog.list_items(guild.economy))


def _parts(custom_id: str) -> Tuple[str, ...]:
    """The parts of an ``m:`` custom id (``keys.split``); ValidationFailedError for one we never made."""
    try:
        return keys.split(custom_id)
    except ValueError:
        raise errors.ValidationFailedError("This button is not known (any more).") from None


def component(ix: Interaction, guild: Guild, custom_id: str) -> Dict[str, Any]:
    """Route an ``m:`` button or select."""
    parts = _parts(custom_id)
    kind = parts[1] if len(parts) > 1 else ""
    if kind == "cat":
        return _category(guild, _one_value(ix, "category"))
    if kind == "sku":
        return _item(ix, guild, _one_value(ix, "item"))
    if kind == "ok" and len(parts) == 5 and parts[2].isdigit() and parts[3].isdigit():
        return _confirm(ix, guild, parts[2], int(parts[3]), parts[4])
    if kind == "sellsku":
        return _sell_modal(guild, _one_value(ix, "item"))
    if kind == "lb" and len(parts) == 3:
        return _quote(ix, guild, parts[2])
    if kind == "lq" and len(parts) in (3, 4):
        return _quantity(ix, guild, parts[2], _shown_price(parts))
    raise errors.ValidationFailedError("This button is not known (any more).")


def modal(ix: Interaction, guild: Guild, custom_id: str) -> Dict[str, Any]:
    """Route an ``m:`` modal submit."""
    parts = _parts(custom_id)
    if len(parts) == 3 and parts[1] == "sell":
        return _sell(ix, guild, parts[2])
    if len(parts) in (3, 4) and parts[1] == "lbq":
        return _buy(ix, guild, parts[2], _shown_price(parts))
    raise errors.ValidationFailedError("This form is not known (any more).")


def _category(guild: Guild, category: str) -> Dict[str, Any]:
    if category not in catalog.CATEGORIES:
        raise errors.ValidationFailedError("Pick a category from the list.", field="category")
    return market_views.sku_list(category, catalog.list_items(guild.economy, category))


def _item(ix: Interaction, guild: Guild, sku: str) -> Dict[str, Any]:
    if not catalog.valid_sku(sku):
        raise errors.ValidationFailedError("Pick an item from the list.", field="sku")
    return market_views.sku_view(catalog.get_item(guild.economy, sku), ix.id, minecraft.configured())


def _confirm(ix: Interaction, guild: Guild, view_id: str, price: int, sku: str) -> Dict[str, Any]:
    outcome = catalog.buy(guild.economy, ix.user_id, sku, 1, None, price, keys.join("shop", view_id),
                  key_namespace="discord", discord=_origin(ix, guild))
    return market_views.receipt(outcome.result, outcome.replayed)


# -- Sell ---------------------------------------------------------------------------------


def sell_start(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    return market_views.sell_pick(catalog.list_items(guild.economy))


def _sell_modal(guild: Guild, sku: str) -> Dict[str, Any]:
    item = catalog.get_item(guild.economy, sku)
    return market_views.sell_modal(sku, item["name"], pricing.current(guild.economy, sku))


def _sell(ix: Interaction, guild: Guild, sku: str) -> Dict[str, Any]:
    fields = ix.modal_fields
    price = _number(fields, "price", "The price", 1, MAX_UNIT_PRICE)
    qty = _number(fields, "qty", "The quantity", 1, MAX_LISTING_QTY)
    hours = _number(fields, "hours", "The expiry", 1, 720)
    low = _number(fields, "min", "The minimum per buyer", 1, MAX_LISTING_QTY, required=False)
    high = _number(fields, "max", "The maximum per buyer", 1, MAX_LISTING_QTY, required=False)
    assert price is not None and qty is not None and hours is not None
    listing, created = listings.create_listing(guild.economy, ix.user_id, sku, qty, price, hours * 3600, low, high,
                                      keys.join("discord-sell", ix.id), guild_id=guild.guild_id, key_namespace="discord")
    return market_views.listed(listing, created)


# -- Buy on a listing -------------------------------------------------------------------------


def _listing(guild: Guild, listing_id: str) -> Dict[str, Any]:
    if not listings.valid_listing_id(listing_id):
        raise errors.ValidationFailedError("This listing is not known.", field="listing_id")
    return listings.get_listing(guild.economy, listing_id)


def _quote(ix: Interaction, guild: Guild, listing_id: str) -> Dict[str, Any]:
    listing = _listing(guild, listing_id)
    if listing["status"] != "active" or listing["expires_at"] <= now_iso():
        return market_views.closed({**listing, "status": "closed" if listing["status"] == "active"
                                    else listing["status"]})
    wallet = find_wallet(guild.economy, ix.user_id)
    return market_views.listing_quote(listing, wallet.available if wallet else 0)


def _shown_price(parts: Tuple[str, ...]) -> Optional[int]:
    """The unit price the quote showed (``m:lq``/``m:lbq`` ids); None for an id made before it rode along."""
    if len(parts) < 4:
        return None
    raw = parts[3]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or not 1 <= int(raw) <= MAX_UNIT_PRICE:
        raise errors.ValidationFailedError("This button is not known (any more).")
    return int(raw)


def _quantity(ix: Interaction, guild: Guild, listing_id: str, shown: Optional[int] = None) -> Dict[str, Any]:
    listing = _listing(guild, listing_id)
    if listing["status"] != "active":
        return market_views.closed(listing)
    if shown is not None and listing["unit_price"] != shown:
        return market_views.price_changed(listing, shown)
    least, most = listings.quantity_range(guild.economy, listing, ix.user_id)
    if most < least:  # units are left, but not for this buyer
        return market_views.limit_reached(listing)
    return market_views.quantity_modal(listing, least, most)


def _buy(ix: Interaction, guild: Guild, listing_id: str, shown: Optional[int] = None) -> Dict[str, Any]:
    qty = _number(ix.modal_fields, "qty", "The quantity", 1, MAX_LISTING_QTY)
    assert qty is not None
    listing = _listing(guild, listing_id)
    try:
        outcome = listings.buy(guild.economy, listing_id, ix.user_id, qty, None, keys.join("listing", ix.id),
                               key_namespace="discord", discord=_origin(ix, guild), unit_price=shown)
    except errors.PriceChangedError as exc:
        # The router would show the bare message; the buyer needs the new price, that nothing was charged,
        # and a way to buy at it. The refusal carries the listing as it is now.
        now = exc.details.get("listing") or {**listing, "unit_price": exc.details["unit_price"]}
        return market_views.price_changed(now, shown if shown is not None else listing["unit_price"])
    return market_views.receipt(outcome.result, outcome.replayed)
