"""The market's events, told in Discord: the consumers of the topics ``market/events.py`` publishes.

* ``market.log`` -> ``post_event``: formats the line (type, users, SKU, qty,
  price, fee, coin deltas, order and listing ids) and hands it to the hub's
  ``#coin-transactions`` poster (once per event);
* ``market.notify`` -> ``notify_buyer``: tells a buyer who ordered from Discord
  whether the order was delivered or refunded: as a private follow-up while
  the interaction token lives (15 minutes), else as a direct message;
* ``market.shop`` -> ``post_listing``: posts a new listing's card with a Buy
  button to the guild's ``#shop``.

Which guild: the one the order (or listing) came from, else the economy's own
guild (``discord-<guild_id>``), else the guild an operator linked to the
economy; an economy with no guild gets no lines. Each notice is said once
(``market.events.claim``, given back when Discord failed so the retry says it).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from chalicelib.core import errors, keys
from chalicelib.core.ids import utc_now
from chalicelib.discord import market_views, views
from chalicelib.discord.hub import log_transaction
from chalicelib.discord.interaction import snowflake_time
from chalicelib.discord.post_once import nonce, post_once
from chalicelib.discord.rest import get_rest
from chalicelib.market.events import claim, said, unclaim
from chalicelib.market.orders import find_order
from chalicelib.tenancy.guilds import ECONOMY_PREFIX, Guild, find_guild, linked_guild_id, valid_snowflake

log = logging.getLogger("coinhall.discord.notices")

_TOKEN_SECONDS = 14 * 60  # Discord's 15 minutes, with a margin


# -- which guild ------------------------------------------------------------------------


def guild_of(economy: str, guild_id: Optional[str]) -> Optional[Guild]:
    """The guild to tell: the one named, else the economy's own (``discord-<id>``), else the linked one.

    None when none exists or it does not belong to this economy.
    """
    if guild_id is None and economy.startswith(ECONOMY_PREFIX):
        guild_id = economy[len(ECONOMY_PREFIX):]
    if guild_id is None:
        guild_id = linked_guild_id(economy)
    if not guild_id or not valid_snowflake(guild_id):
        return None
    guild = find_guild(guild_id)
    return guild if guild is not None and guild.economy == economy else None


# -- #coin-transactions ---------------------------------------------------------------


def _who(user_id: Optional[str]) -> str:
    if not user_id:
        return "-"
    return f"<@{user_id}>" if valid_snowflake(user_id) else f"`{user_id}`"


def _ids(data: Dict[str, Any]) -> str:
    parts = [f"order `{data['order_id']}`"] if data.get("order_id") else []
    if data.get("listing_id"):
        parts.append(f"listing `{data['listing_id']}`")
    return " · ".join(parts)


def describe(event: str, d: Dict[str, Any]) -> str:
    """One line for ``#coin-transactions``."""
    if event.startswith("listing."):
        what = event.split(".", 1)[1]
        left = f", {d['available']} unsold returned" if what in ("cancelled", "expired") else ""
        return (f"**market {what}** listing · seller {_who(d['seller_id'])} · `{d['sku']}` x{d['qty']} @ "
                f"{d['unit_price']:,} · fee {d['fee_bps']} bps{left} · listing `{d['listing_id']}`")
    kind, total = d["kind"], d["total"]
    head = (f"`{d['sku']}` x{d['qty']} @ {d['unit_price']:,} = {total:,} · buyer {_who(d['buyer_id'])}"
            + (f" · seller {_who(d.get('seller_id'))}" if d.get("seller_id") else ""))
    if event == "order.placed":
        deltas = f"buyer available -{total:,}, held +{total:,} (escrow)"
        return f"**{kind} order placed** · {head} · {deltas} · {_ids(d)}"
    if event == "order.fulfilled":
        fee = d.get("treasury_amount") or 0
        if d.get("seller_id"):
            deltas = (f"buyer held -{total:,}, seller earnings +{d.get('seller_amount') or 0:,}, "
                      f"treasury +{fee:,} (fee {d['fee_bps']} bps)")
        else:
            deltas = f"buyer held -{total:,}, treasury +{fee:,} (shop revenue)"
        return f"**{kind} order fulfilled** ({d.get('resolution')}) · {head} · {deltas} · {_ids(d)}"
    status = d.get("status", event.split(".", 1)[1])
    deltas = f"buyer held -{total:,}, available +{total:,}"
    reason = f" ({d['last_error']})" if d.get("last_error") else ""
    return f"**{kind} order {status}**{reason} · {head} · {deltas} · {_ids(d)}"


def post_event(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Consumer of ``market.log``: queue the line for the guild's ``#coin-transactions`` (if it has one)."""
    data = payload["data"]
    guild_id = payload.get("guild_id")
    if guild_id is None and data.get("order_id"):
        order = find_order(payload["economy"], data["order_id"]) or {}
        guild_id = (order.get("discord") or {}).get("guild_id")
    guild = guild_of(payload["economy"], guild_id)
    if guild is None:
        return
    log_transaction(guild, describe(payload["event"], data), dedupe_id)


# -- telling the buyer -------------------------------------------------------------------


def notice_text(order: Dict[str, Any]) -> str:
    what = f"**{order['name']}** x{order['qty']} ({views.coins(order['total'])}, order `{order['order_id']}`)"
    if order["status"] == "fulfilled":
        return f"Delivered: {what} has arrived in game."
    if order["status"] == "cancelled":
        return f"Cancelled: {what}. Your coins are back in your wallet."
    return f"Refunded: {what} could not be delivered. Your coins are back in your wallet."


def notify_buyer(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Consumer of ``market.notify``: tell a Discord buyer how the order ended, once.

    Raises DiscordApiError (so the queue retries) unless Discord refuses for good.
    """
    order = find_order(payload["economy"], payload["order_id"])
    origin = (order or {}).get("discord") or {}
    if not order or not origin.get("user_id"):
        return
    body = views.message(notice_text(order), ephemeral=True)

    def tell() -> None:
        rest = get_rest()
        try:
            fresh = origin.get("interaction_id") and origin.get("token") and (
                (utc_now() - snowflake_time(origin["interaction_id"])).total_seconds() < _TOKEN_SECONDS)
            if fresh:  # an interaction follow-up takes no nonce: a worker dying right after may say it twice
                rest.post(f"webhooks/{origin['application_id']}/{origin['token']}", body, auth=False)
            else:
                channel = rest.post("users/@me/channels", {"recipient_id": origin["user_id"]})
                rest.post(f"channels/{channel['id']}/messages",
                          {**{k: v for k, v in body.items() if k != "flags"}, **nonce(dedupe_id)})
        except errors.DiscordApiError as exc:
            if exc.details.get("discord_status") not in (400, 403, 404):
                raise
            # Refused for good (DMs closed, the user gone): done, as far as we ever can.
            log.warning("could not tell %s about order %s: %s", origin["user_id"], order["order_id"], exc.message)

    post_once(claim(dedupe_id), tell, lambda: said(dedupe_id), lambda: unclaim(dedupe_id))


# -- #shop ---------------------------------------------------------------------------------


def post_listing(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Consumer of ``market.shop``: post a new listing's card to the guild's ``#shop``, once.

    Raises DiscordApiError (the queue retries).
    """
    guild = guild_of(payload["economy"], payload.get("guild_id"))
    channel = guild.channels.get("shop") if guild else None
    if not channel:
        return
    claimed = keys.join("shop", dedupe_id)
    card = {**market_views.listing_card(payload["listing"]), **nonce(claimed)}
    post_once(claim(claimed), lambda: get_rest().post(f"channels/{channel}/messages", card),
              lambda: said(claimed), lambda: unclaim(claimed))
