"""What players see of the market in Discord: pure builders over ``views``' primitives.

Custom ids are ``keys.join("m", <kind>, ...)`` (``market.py`` routes them and
parses them back with ``keys.split``, so a SKU's ``:`` round-trips) and stay
within Discord's 100 characters: a SKU is at most 64.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

from chalicelib.core import keys
from chalicelib.discord import views
from chalicelib.discord.views import BLUE, GOLD, GREEN, GREY, PRIMARY, SECONDARY, SUCCESS, coins, embed

CATEGORY_LABELS = {"money": "In-game money", "rank": "Ranks", "cosmetic": "Cosmetics", "voucher": "Vouchers"}
# The market's codes in the words a player reads (pricing.BANDS, names.LISTING_STATES, names.ORDER_STATES).
FEE_BANDS = {"undercut": "below the market price", "market": "at the market price",
             "premium": "above the market price", "far_over": "far above the market price",
             "no_history": "no recent sales"}
SCARCE = "few for sale"
LISTING_STATUS = {"active": "for sale", "sold_out": "sold out", "cancelled": "withdrawn by the seller",
                  "expired": "expired", "closed": "closed"}
ORDER_STATUS = {"fulfilled": "delivered", "refunded": "refunded", "cancelled": "cancelled"}


def _who(user_id: str) -> str:
    return f"<@{user_id}>" if user_id.isdigit() else user_id


def _stock(item: Dict[str, Any]) -> str:
    return "unlimited" if item.get("stock") is None else f"{item['stock']:,} left"


def categories(items: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    counts: Dict[str, int] = {}
    for item in items:
        counts[item["category"]] = counts.get(item["category"], 0) + 1
    if not counts:
        return views.error("Nothing is on sale here yet.", "Shop")
    options = [(c, CATEGORY_LABELS.get(c, c), views.count(n, "item")) for c, n in sorted(counts.items())]
    return views.ephemeral(embeds=[embed("Shop", "Rewards for your coins; each item says how you get it. "
                                         "Pick a category.", GOLD)],
                           components=[views.row([views.select("m:cat", "Choose a category", options)])])


def sku_list(category: str, items: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    if not items:
        return views.error("Nothing in this category is on sale right now.", "Shop")
    options = [(i["sku"], f"{i['name']} - {coins(i['price'])}", _stock(i)) for i in items]
    fields = [(i["name"], f"{coins(i['price'])} · {_stock(i)}", True) for i in items[:25]]
    return views.ephemeral(embeds=[embed(CATEGORY_LABELS.get(category, category), "Pick an item to see it.", GOLD,
                                         fields)],
                           components=[views.row([views.select("m:sku", "Choose an item", options)])])


def sku_view(item: Dict[str, Any], view_id: str, delivery_ready: bool) -> Dict[str, Any]:
    """One item and its Confirm; ``delivery_ready``: the game server can be called (``minecraft.configured``).

    An item the game server delivers cannot be ordered without it (the order is
    refused), so it is shown without Confirm and says why.
    """
    fields = [("Price", coins(item["price"]), True), ("Stock", _stock(item), True)]
    back = views.button("hub:market", "Back", SECONDARY)
    if item["fulfilment"] == "api" and not delivery_ready:
        fields.append(("Delivery", "not set up here yet", True))
        text = (f"**{item['name']}** is delivered by the game server, and delivery to it is not set up here yet, "
                "so it cannot be bought for now. A server admin can set it up.")
        return views.ephemeral(embeds=[embed(item["name"], text, GREY, fields)], components=[views.row([back])])
    how = "delivered in game right away" if item["fulfilment"] == "api" else "a code you redeem in game"
    fields.append(("Delivery", how, True))
    if item.get("daily_limit"):
        fields.append(("Limit", f"{item['daily_limit']} per day", True))
    confirm = keys.join("m", "ok", view_id, str(item["price"]), item["sku"])
    return views.ephemeral(embeds=[embed(item["name"], f"Buy **{item['name']}** for {coins(item['price'])}? "
                                         "The coins are held until it is delivered, and come back if it is not.",
                                         BLUE, fields)],
                           components=[views.row([views.button(confirm, "Confirm", SUCCESS), back])])


def receipt(order: Dict[str, Any], replayed: bool) -> Dict[str, Any]:
    fields = [("Item", f"{order['name']} x{order['qty']}", True), ("Paid", coins(order["total"]), True),
              ("Status", _order_status(order), True), ("Balance", coins(order["balance"]["available"]), True)]
    if order.get("voucher_code"):
        fields.append(("Your voucher code", f"`{order['voucher_code']}` (only you see this; redeem it in game)",
                       False))
        note = "Redeem the code in game before it expires, or the coins come back."
    else:
        note = "It is on its way to the game server; you will be told when it arrives."
    title = "Already bought" if replayed else "Receipt"
    return views.ephemeral(embeds=[embed(title, note, GREEN, fields, footer=f"Order {order['order_id']}")])


def _said(code: str, words: Dict[str, str]) -> str:
    return words.get(code, code.replace("_", " "))  # a code added later still reads as words


def _order_status(order: Dict[str, Any]) -> str:
    if order["status"] != "pending":
        return _said(order["status"], ORDER_STATUS)
    return "waiting for you to redeem the code" if order["fulfilment"] == "voucher" else "on its way to the game server"


def fee_reason(fee: Dict[str, Any]) -> str:
    """Why a listing pays its fee, in words: "no recent sales, few for sale"."""
    words = [_said(fee["band"], FEE_BANDS)] if fee.get("band") else []
    return ", ".join(words + [SCARCE] if fee.get("scarce") else words)


def sell_pick(items: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    if not items:
        return views.error("There is nothing you can list here yet.", "Sell")
    options = [(i["sku"], i["name"], CATEGORY_LABELS.get(i["category"], i["category"])) for i in items]
    return views.ephemeral(embeds=[embed("Sell", "Which item do you want to list?", GOLD)],
                           components=[views.row([views.select("m:sellsku", "Choose an item", options)])])


def _field(custom_id: str, label: str, placeholder: str, required: bool = True, max_length: int = 9) -> Dict[str, Any]:
    return {"type": 4, "custom_id": custom_id, "label": label, "style": 1, "min_length": 1 if required else 0,
            "max_length": max_length, "required": required, "placeholder": placeholder}


def sell_modal(sku: str, name: str, market: Dict[str, Any]) -> Dict[str, Any]:
    hint = f"7-day median {market['median_7d']:,}" if market.get("median_7d") else "no sales yet"
    return views.modal(keys.join("m", "sell", sku), f"Sell {name}"[:45], [
        _field("price", "Price per unit (coins)", hint),
        _field("qty", "Quantity", "e.g. 5", max_length=6),
        _field("hours", "Expires in (hours)", "1 to 720", max_length=3),
        _field("min", "Minimum per buyer (optional)", "e.g. 1", required=False, max_length=6),
        _field("max", "Maximum per buyer (optional)", "e.g. 3", required=False, max_length=6),
    ])


def listed(listing: Dict[str, Any], created: bool) -> Dict[str, Any]:
    reason = fee_reason(listing["fee"])
    fields = [("Item", f"{listing['name']} x{listing['qty']}", True), ("Price", coins(listing["unit_price"]), True),
              ("Fee", f"{listing['fee_bps'] / 100:g}%" + (f" ({reason})" if reason else ""), True),
              ("Expires", views.when(listing["expires_at"]), True)]
    text = "Your listing is up in #shop." if created else "This listing was already made."
    return views.ephemeral(embeds=[embed("Listed", text, GREEN, fields, footer=f"Listing {listing['listing_id']}")])


def listing_card(listing: Dict[str, Any]) -> Dict[str, Any]:
    """The public #shop message of a listing, with its Buy button."""
    limits = []
    if listing.get("min_per_buyer"):
        limits.append(f"min {listing['min_per_buyer']}")
    if listing.get("max_per_buyer"):
        limits.append(f"max {listing['max_per_buyer']} per buyer")
    fields = [("Price", coins(listing["unit_price"]) + " each", True), ("Quantity", str(listing["qty"]), True),
              ("Seller", _who(listing["seller_id"]), True),
              ("Ends", views.when(listing["expires_at"]), True)]
    if limits:
        fields.append(("Limits", ", ".join(limits), True))
    return views.message(embeds=[embed(f"For sale: {listing['name']}", "", GOLD, fields,
                                       footer=f"Listing {listing['listing_id']}")],
                         components=[views.row([views.button(keys.join("m", "lb", listing["listing_id"]), "Buy",
                                                             SUCCESS)])])


def listing_quote(listing: Dict[str, Any], balance: int) -> Dict[str, Any]:
    fields = [("Price", coins(listing["unit_price"]) + " each", True), ("Available", str(listing["available"]), True),
              ("Your balance", coins(balance), True)]
    if listing.get("min_per_buyer"):
        fields.append(("Minimum", str(listing["min_per_buyer"]), True))
    if listing.get("max_per_buyer"):
        fields.append(("Maximum per buyer", str(listing["max_per_buyer"]), True))
    text = (f"**{listing['name']}** from {_who(listing['seller_id'])}. The coins are held until the item arrives, "
            "and come back if it does not.")
    return views.ephemeral(embeds=[embed("Quote", text, BLUE, fields, footer=f"Listing {listing['listing_id']}")],
                           components=[views.row([_choose_quantity(listing, "Choose quantity")])])


def _choose_quantity(listing: Dict[str, Any], label: str) -> Dict[str, Any]:
    # The price shown rides in the id: the order is placed at it or refused (market.py).
    return views.button(keys.join("m", "lq", listing["listing_id"], str(listing["unit_price"])), label, PRIMARY)


def quantity_modal(listing: Dict[str, Any], least: int, most: int) -> Dict[str, Any]:
    """The quantity form; ``least`` and ``most`` are what this buyer may order (``listings.quantity_range``)."""
    label = f"Quantity ({least:,} to {most:,})" if least < most else f"Quantity ({most:,})"
    return views.modal(keys.join("m", "lbq", listing["listing_id"], str(listing["unit_price"])),
                       f"Buy {listing['name']}"[:45], [_field("qty", label, str(least), max_length=6)])


def price_changed(listing: Dict[str, Any], shown: int) -> Dict[str, Any]:
    """The seller repriced since the quote: the new price, that nothing was charged, and a button to buy at it."""
    now = listing["unit_price"]
    text = (f"The seller changed the price of **{listing['name']}** from {coins(shown)} to {coins(now)} each. "
            "Nothing was charged.")
    return views.ephemeral(embeds=[embed("Price changed", text, GOLD, [("New price", coins(now) + " each", True)],
                                         footer=f"Listing {listing['listing_id']}")],
                           components=[views.row([_choose_quantity(listing, f"Buy at {coins(now)} each")])])


def limit_reached(listing: Dict[str, Any]) -> Dict[str, Any]:
    limit = listing.get("max_per_buyer")
    text = (f"You have bought as many as this listing allows ({limit:,} per buyer)." if limit
            else "You cannot buy from this listing.")
    return views.error(text, "Limit reached")


def closed(listing: Dict[str, Any]) -> Dict[str, Any]:
    status = _said(listing["status"], LISTING_STATUS)
    return views.ephemeral(embeds=[embed("Not for sale", f"This listing is {status}.", GREY)])

