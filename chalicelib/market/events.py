"""What the market tells people: a line in ``#coin-transactions`` per event, and the buyer's outcome.

The money path only enqueues (``publish``), after its transaction committed,
and swallows a queue failure: a lost line must never turn a sale into an
error. Two consumers do the talking:

* ``market.log`` -> ``post_event``: formats the line (type, users, SKU, qty,
  price, fee, coin deltas, order and listing ids) and hands it to the Discord
  hub's ``#coin-transactions`` poster (once per event);
* ``market.notify`` -> ``notify_buyer``: tells a buyer who ordered from Discord
  whether the order was delivered or refunded: as a private follow-up while
  the interaction token lives (15 minutes), else as a direct message.

Which guild: the one the order came from, else the economy's own guild
(``discord-<guild_id>``), else the guild an operator linked to the economy;
an economy with no guild gets no lines.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional

from chalicelib.core import keys
from chalicelib.tenancy.guilds import valid_snowflake

log = logging.getLogger("coinhall.market.events")

LOG_TOPIC = "market.log"
NOTIFY_TOPIC = "market.notify"
SHOP_TOPIC = "market.shop"
_OUTCOMES = ("order.fulfilled", "order.refunded", "order.cancelled")
_TOKEN_SECONDS = 14 * 60  # Discord's 15 minutes, with a margin


def publish(economy: str, event: str, data: Dict[str, Any], dedupe: str, guild_id: Optional[str] = None) -> None:
    """Queue the event's line (and, for an order's outcome, the buyer's notice). Never raises."""
    from chalicelib.runtime.queue import enqueue

    data = {k: v for k, v in data.items() if k != "balance"}
    try:
        enqueue(LOG_TOPIC, {"economy": economy, "event": event, "data": data, "guild_id": guild_id},
                dedupe_id=keys.join("market", event, dedupe))
        if event in _OUTCOMES:
            enqueue(NOTIFY_TOPIC, {"economy": economy, "event": event, "order_id": data["order_id"]},
                    dedupe_id=keys.join("notice", data["order_id"]))
        if event == "listing.created":
            enqueue(SHOP_TOPIC, {"economy": economy, "guild_id": guild_id, "listing": data},
                    dedupe_id=keys.join("shop", data["listing_id"]))
    except Exception:  # the coins moved; the line is the lesser loss
        log.exception("could not queue market event %s", event)


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


def _linked_guild(economy: str) -> Optional[str]:
    """The guild an operator linked to this economy (``discord link``), if any."""
    from chalicelib.db.engine import get_client, table_name

    item = get_client().get_item(TableName=table_name("economies"), Key={"economy_id": {"S": economy}},
                                 ProjectionExpression="discord_guild_id").get("Item") or {}
    return (item.get("discord_guild_id") or {}).get("S")


def guild_of(economy: str, guild_id: Optional[str]) -> Any:
    """The guild to tell: the one named, else the economy's own (``discord-<id>``).

    None when neither exists or belongs to this economy.
    """
    from chalicelib.tenancy.guilds import ECONOMY_PREFIX, find_guild

    if guild_id is None and economy.startswith(ECONOMY_PREFIX):
        guild_id = economy[len(ECONOMY_PREFIX):]
    if guild_id is None:
        guild_id = _linked_guild(economy)
    if not guild_id or not valid_snowflake(guild_id):
        return None
    guild = find_guild(guild_id)
    return guild if guild is not None and guild.economy == economy else None


def post_event(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Consumer of ``market.log``: queue the line for the guild's ``#coin-transactions`` (if it has one)."""
    from chalicelib.discord.hub import log_transaction

    data = payload["data"]
    guild_id = payload.get("guild_id")
    if guild_id is None and data.get("order_id"):
        from chalicelib.market.orders import find_order

        order = find_order(payload["economy"], data["order_id"]) or {}
        guild_id = (order.get("discord") or {}).get("guild_id")
    guild = guild_of(payload["economy"], guild_id)
    if guild is None:
        return
    log_transaction(guild, describe(payload["event"], data), dedupe_id)


# -- telling the buyer -------------------------------------------------------------------


def notice_text(order: Dict[str, Any]) -> str:
    what = f"**{order['name']}** x{order['qty']} ({order['total']:,} coins, order `{order['order_id']}`)"
    if order["status"] == "fulfilled":
        return f"Delivered: {what} has arrived in game."
    if order["status"] == "cancelled":
        return f"Cancelled: {what}. Your coins are back in your wallet."
    return f"Refunded: {what} could not be delivered. Your coins are back in your wallet."


def notify_buyer(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Consumer of ``market.notify``: tell a Discord buyer how the order ended, once.

    Raises DiscordApiError (so the queue retries) unless Discord refuses for good.
    """
    from chalicelib.core import errors
    from chalicelib.discord import views
    from chalicelib.discord.interaction import snowflake_time
    from chalicelib.discord.rest import get_rest
    from chalicelib.market.orders import find_order

    order = find_order(payload["economy"], payload["order_id"])
    origin = (order or {}).get("discord") or {}
    if not order or not origin.get("user_id"):
        return
    if not claim(dedupe_id):
        return
    body = views.message(notice_text(order), ephemeral=True)
    rest = get_rest()
    try:
        fresh = origin.get("interaction_id") and origin.get("token") and (
            time.time() - snowflake_time(origin["interaction_id"]).timestamp() < _TOKEN_SECONDS)
        if fresh:
            rest.post(f"webhooks/{origin['application_id']}/{origin['token']}", body, auth=False)
        else:
            channel = rest.post("users/@me/channels", {"recipient_id": origin["user_id"]})
            rest.post(f"channels/{channel['id']}/messages", {k: v for k, v in body.items() if k != "flags"})
    except errors.DiscordApiError as exc:
        if exc.details.get("discord_status") in (400, 403, 404):
            log.warning("could not tell %s about order %s: %s", origin["user_id"], order["order_id"], exc.message)
            return
        unclaim(dedupe_id)
        raise


def claim(dedupe_id: str) -> bool:
    """Take the right to say something once (a conditional put, kept a week); False if taken."""
    from chalicelib.db.engine import get_client, table_name

    client = get_client()
    try:
        client.put_item(TableName=table_name("market_counters"),
                        Item={"counter": {"S": keys.join("notice", dedupe_id)}, "n": {"N": "1"},
                              "expires_epoch": {"N": str(int(time.time()) + 7 * 86_400)}},
                        ConditionExpression="attribute_not_exists(#c)", ExpressionAttributeNames={"#c": "counter"})
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def unclaim(dedupe_id: str) -> None:
    """Give the right back after a failed attempt, so the queue's retry can say it."""
    from chalicelib.db.engine import get_client, table_name

    get_client().delete_item(TableName=table_name("market_counters"),
                             Key={"counter": {"S": keys.join("notice", dedupe_id)}})
