"""The market through real signed Discord interactions, with Discord's REST API and the plugin as local servers.

Shop: category -> item -> Confirm -> receipt, then the buyer is told in
Discord when the game server delivered. Sell: item -> modal -> guards ->
the card in #shop. Buy: quote -> quantity modal -> receipt. Every market
transaction gets a line in #coin-transactions.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Tuple

import pytest

from chalicelib.core import config
from chalicelib.runtime import queue
from chalicelib.tenancy.guilds import remember
from scripts.discord_standin import DiscordStandIn, snowflake
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.discord_helpers import assert_ephemeral, custom_ids, discord, embed_text  # noqa: F401
from tests.integration.spending_helpers import treasury, wallet
from tests.market_helpers import plugin, put_reward, wait_for, wait_resolved  # noqa: F401

# A stopped app clock: a daily limit's day, an order's deadline and a listing's expiry are
# where the test put them, not wherever the machine's speed (or UTC midnight) moved them.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clock")]


class MarketDiscord(DiscordStandIn):
    """Discord's REST API plus what the market calls: interaction follow-ups and direct messages."""

    def __init__(self) -> None:
        super().__init__()
        self.followups: List[Tuple[str, Dict[str, Any]]] = []
        self.dms: Dict[str, str] = {}  # user id -> DM channel id

    def _route(self, method: str, r: List[str], body: Any) -> Tuple[int, Any, Dict[str, str]]:
        if r[0] == "webhooks" and len(r) == 3 and method == "POST":
            self.followups.append((r[2], body))
            return 200, {"id": snowflake(), **(body or {})}, {}
        if r[:3] == ["users", "@me", "channels"] and method == "POST":
            user = body["recipient_id"]
            if user not in self.dms:
                channel = {"id": snowflake(), "guild_id": None, "name": f"dm-{user}", "type": 1}
                self.channels[channel["id"]] = channel
                self.messages[channel["id"]] = {}
                self.dms[user] = channel["id"]
            return 200, self.channels[self.dms[user]], {}
        return super()._route(method, r, body)

    def posted(self, channel_id: str) -> List[Dict[str, Any]]:
        with self.lock:
            return sorted(self.messages.get(channel_id, {}).values(), key=lambda m: int(m["id"]))


@pytest.fixture
def world(discord, plugin, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tuple[Any, MarketDiscord, Dict[str, str]]]:
    """A guild with #shop and #coin-transactions, Discord's API and the plugin stand-ins."""
    with MarketDiscord() as fake:
        monkeypatch.setenv("DISCORD_API_BASE", fake.api_base)
        monkeypatch.setenv("DISCORD_BOT_TOKEN", fake.bot_token)
        config.reset_settings()
        channels = {}
        for key, name in (("shop", "shop"), ("transactions", "coin-transactions")):
            channels[key] = fake.add_guild_channel(discord.guild_id, name)["id"]
            remember(discord.guild_id, "channels", key, channels[key])
        yield discord, fake, channels
        assert queue.drain(30)


def _option_values(resp: Any) -> List[str]:
    data = resp.body["data"]
    return [o["value"] for row in data["components"] for c in row["components"] for o in c.get("options", [])]


def _text_of(messages: List[Dict[str, Any]]) -> str:
    return "\n".join((m.get("content") or "") + " ".join(e.get("title", "") for e in m.get("embeds") or [])
                     for m in messages)


def test_shop_category_item_confirm_receipt_and_delivery_notice(world) -> None:
    discord, fake, channels = world
    economy = discord.economy
    put_reward(economy, "vip", price=300, name="VIP rank", category="rank", stock=2)
    put_reward(economy, "hat", price=50, name="Top hat", category="cosmetic", fulfilment="voucher")
    steve = discord.player()
    economy.credit(steve.user_id, 1000)

    menu = steve.click("hub:market")
    assert_ephemeral(menu)
    assert _option_values(menu) == ["cosmetic", "rank"]
    items = steve.choose("m:cat", "rank")
    assert_ephemeral(items)
    assert _option_values(items) == ["vip"]
    view = steve.choose("m:sku", "vip")
    assert_ephemeral(view)
    assert "Delivery: delivered in game right away" in embed_text(view)  # the plugin is set up here
    confirm = next(c for c in custom_ids(view) if c.startswith("m:ok:"))
    assert confirm == f"m:ok:{steve.last_id}:300:vip"
    receipt = steve.click(confirm)
    assert_ephemeral(receipt)
    assert "Receipt" in embed_text(receipt) and "VIP rank x1" in embed_text(receipt)
    again = steve.click(confirm)  # a double click buys once
    assert "Already bought" in embed_text(again)
    order_id = receipt.body["data"]["embeds"][0]["footer"]["text"].split()[-1]
    assert again.body["data"]["embeds"][0]["footer"]["text"].endswith(order_id)

    final = wait_resolved(economy, order_id)
    assert final["status"] == "fulfilled" and final["player_id"] == steve.user_id
    assert wallet(economy, steve.user_id)["available"] == 700 and treasury(economy) == 300
    assert queue.drain(20)
    followups = wait_for(lambda: fake.followups)
    assert "Delivered" in followups[0][1]["content"] and order_id in followups[0][1]["content"]
    assert followups[0][1]["flags"] & 64  # only the buyer sees it
    lines = wait_for(lambda: [m for m in fake.posted(channels["transactions"]) if order_id in (m.get("content") or "")])
    text = _text_of(lines)
    assert "shop order placed" in text and "shop order fulfilled" in text
    assert "`vip` x1 @ 300" in text and f"<@{steve.user_id}>" in text and "treasury +300" in text
    economy.check()


def test_price_changed_between_view_and_confirm_is_refused(world) -> None:
    discord, _, _ = world
    economy = discord.economy
    put_reward(economy, "vip", price=300, category="rank")
    alex = discord.player()
    economy.credit(alex.user_id, 1000)
    view = alex.choose("m:sku", "vip")
    confirm = next(c for c in custom_ids(view) if c.startswith("m:ok:"))
    put_reward(economy, "vip", price=400, category="rank")
    refused = alex.click(confirm)
    assert_ephemeral(refused)
    assert "price changed" in embed_text(refused).lower()
    assert wallet(economy, alex.user_id) == {"available": 1000, "held": 0, "earnings": 0}


def test_sell_modal_guards_then_listing_card_and_buy_with_quantity(world) -> None:
    discord, fake, channels = world
    economy = discord.economy
    put_reward(economy, "gem", price=100, name="Gem", category="cosmetic", fulfilment="voucher")
    seller, buyer = discord.player(), discord.player()
    economy.credit(buyer.user_id, 1000)

    pick = seller.click("hub:sell")
    assert_ephemeral(pick)
    form = seller.choose("m:sellsku", "gem")
    assert form.body["type"] == 9 and form.body["data"]["custom_id"] == "m:sell:gem"
    bad = seller.submit("m:sell:gem", {"price": "abc", "qty": "5", "hours": "24", "min": "", "max": ""})
    assert "whole number" in embed_text(bad)
    done = seller.submit("m:sell:gem", {"price": "40", "qty": "5", "hours": "24", "min": "", "max": "3"})
    assert_ephemeral(done)
    assert "Listed" in embed_text(done)
    # 8% base, no sales yet (x1), 5 units listed, fewer than 10 (x5/4): 10%, said in words
    assert "Fee: 10% (no recent sales, few for sale)" in embed_text(done)
    listing_id = done.body["data"]["embeds"][0]["footer"]["text"].split()[-1]

    cards = wait_for(lambda: fake.posted(channels["shop"]))
    assert cards[0]["embeds"][0]["title"] == "For sale: Gem"
    buy_button = cards[0]["components"][0]["components"][0]["custom_id"]
    assert buy_button == f"m:lb:{listing_id}"

    quote = buyer.click(buy_button)
    assert_ephemeral(quote)
    assert "Quote" in embed_text(quote) and "1,000 coins" in embed_text(quote)
    assert custom_ids(quote) == [f"m:lq:{listing_id}:40"]  # the price shown rides along
    modal = buyer.click(f"m:lq:{listing_id}:40")
    assert modal.body["type"] == 9 and modal.body["data"]["custom_id"] == f"m:lbq:{listing_id}:40"
    too_many = buyer.submit(f"m:lbq:{listing_id}:40", {"qty": "4"})
    assert "limit" in embed_text(too_many).lower()
    receipt = buyer.submit(f"m:lbq:{listing_id}:40", {"qty": "2"})
    assert_ephemeral(receipt)
    text = embed_text(receipt)
    assert "Receipt" in text and "Your voucher code" in text
    assert "Status: waiting for you to redeem the code" in text
    assert wallet(economy, buyer.user_id) == {"available": 920, "held": 80, "earnings": 0}
    lines = wait_for(lambda: [m for m in fake.posted(channels["transactions"]) if listing_id in (m.get("content") or "")
                              and "order placed" in (m.get("content") or "")])
    assert "listing order placed" in lines[0]["content"] and "x2 @ 40 = 80" in lines[0]["content"]
    economy.check()


def test_below_floor_listing_is_refused_in_discord_with_the_floor(world) -> None:
    from chalicelib.market import pricing

    discord, _, _ = world
    economy = discord.economy
    put_reward(economy, "ore", price=100, category="money", fulfilment="voucher")
    # a price history: the rollup's row says the 7-day median is 100
    from chalicelib.db.engine import get_client, table_name

    get_client().put_item(TableName=table_name("prices"), Item={
        "sku_key": {"S": pricing.sku_key(economy.id, "ore")}, "economy": {"S": economy.id}, "sku": {"S": "ore"},
        "median_7d": {"N": "100"}, "avg_7d": {"N": "100"}, "units_7d": {"N": "10"}, "rev": {"N": "0"}})
    seller = discord.player()
    refused = seller.submit("m:sell:ore", {"price": "30", "qty": "1", "hours": "1"})
    assert_ephemeral(refused)
    assert "lowest price allowed is 50" in embed_text(refused)


def test_a_buyer_whose_token_expired_is_told_by_direct_message(world, clock) -> None:
    from tests.market_helpers import signed_redeem

    discord, fake, _ = world
    economy = discord.economy
    put_reward(economy, "hat", price=50, name="Top hat", category="cosmetic", fulfilment="voucher")
    kid = discord.player()
    economy.credit(kid.user_id, 100)
    view = kid.choose("m:sku", "hat")
    receipt = kid.click(next(c for c in custom_ids(view) if c.startswith("m:ok:")))
    code = next(f["value"] for f in receipt.body["data"]["embeds"][0]["fields"] if f["name"] == "Your voucher code")
    # The 15 minutes are over. (The stopped clock is behind the interaction's snowflake, made
    # later in real time: by seconds when this test runs first and pays for the imports.)
    clock.advance(15 * 60)
    assert signed_redeem(economy, code.split("`")[1], "KidPlayer").status == 200
    assert queue.drain(20)
    dm = wait_for(lambda: fake.posted(fake.dms.get(kid.user_id, "")) if kid.user_id in fake.dms else None)
    assert "Delivered" in dm[0]["content"] and "Top hat" in dm[0]["content"]
    assert not fake.followups


def test_a_host_app_economy_linked_to_a_guild_reaches_its_channels(economy) -> None:
    """Orders placed through the HTTP API of a linked economy still find the guild."""
    from chalicelib.discord import notices as market_events
    from chalicelib.discord.guild_setup import link_guild

    assert market_events.guild_of(economy.id, None) is None
    link_guild("123456789012345678", economy.id)
    guild = market_events.guild_of(economy.id, None)
    assert guild is not None and guild.guild_id == "123456789012345678" and guild.economy == economy.id


def _list(seller: Any, sku: str, qty: int, maximum: str = "", minimum: str = "") -> str:
    done = seller.submit(f"m:sell:{sku}", {"price": "10", "qty": str(qty), "hours": "24", "min": minimum,
                                           "max": maximum})
    assert "Listed" in embed_text(done), embed_text(done)
    return done.body["data"]["embeds"][0]["footer"]["text"].split()[-1]


def test_a_sold_out_listing_is_said_in_words(world) -> None:
    discord, _, _ = world
    economy = discord.economy
    put_reward(economy, "gem", price=100, name="Gem", category="cosmetic", fulfilment="voucher")
    seller, first, late = discord.player(), discord.player(), discord.player()
    economy.credit(first.user_id, 100)
    economy.credit(late.user_id, 100)
    listing_id = _list(seller, "gem", 1)
    assert "Receipt" in embed_text(first.submit(f"m:lbq:{listing_id}", {"qty": "1"}))
    closed = late.click(f"m:lq:{listing_id}")
    assert_ephemeral(closed)
    assert closed.body["data"]["embeds"][0]["description"] == "This listing is sold out."
    assert wallet(economy, late.user_id) == {"available": 100, "held": 0, "earnings": 0}
    economy.check()


def _quantity_label(resp: Any) -> str:
    assert resp.body["type"] == 9, resp.body  # the form, not a refusal
    return resp.body["data"]["components"][0]["components"][0]["label"]


def test_the_quantity_form_offers_what_this_buyer_may_still_buy(world) -> None:
    discord, _, _ = world
    economy = discord.economy
    put_reward(economy, "gem", price=100, name="Gem", category="cosmetic", fulfilment="voucher")
    seller, buyer, other = discord.player(), discord.player(), discord.player()
    economy.credit(buyer.user_id, 1000)
    listing_id = _list(seller, "gem", 5, maximum="2")
    form = f"m:lq:{listing_id}"
    assert _quantity_label(buyer.click(form)) == "Quantity (1 to 2)"  # 5 left, at most 2 per buyer
    assert "Receipt" in embed_text(buyer.submit(f"m:lbq:{listing_id}", {"qty": "1"}))
    assert _quantity_label(buyer.click(form)) == "Quantity (1)"  # 2 - 1 bought
    assert "Receipt" in embed_text(buyer.submit(f"m:lbq:{listing_id}", {"qty": "1"}))
    done = buyer.click(form)
    assert_ephemeral(done)
    assert done.body["data"]["embeds"][0]["description"] == "You have bought as many as this listing allows (2 per buyer)."
    assert _quantity_label(other.click(form)) == "Quantity (1 to 2)"  # 3 left, the other buyer's own 2
    least = _list(seller, "gem", 3, minimum="2")
    assert _quantity_label(other.click(f"m:lq:{least}")) == "Quantity (2 to 3)"
    assert wallet(economy, buyer.user_id) == {"available": 980, "held": 20, "earnings": 0}
    economy.check()


def test_without_game_server_delivery_the_shop_says_so_instead_of_promising_it(world, monkeypatch) -> None:
    discord, _, _ = world
    economy = discord.economy
    monkeypatch.delenv("MINECRAFT_API_URL")  # no plugin to deliver to
    config.reset_settings()
    put_reward(economy, "vip", price=300, name="VIP rank", category="rank")
    put_reward(economy, "hat", price=50, name="Top hat", category="cosmetic", fulfilment="voucher")
    steve = discord.player()
    economy.credit(steve.user_id, 1000)

    menu = steve.click("hub:market")
    assert menu.body["data"]["embeds"][0]["description"] == (
        "Rewards for your coins; each item says how you get it. Pick a category.")
    view = steve.choose("m:sku", "vip")
    assert_ephemeral(view)
    (shown,) = view.body["data"]["embeds"]
    assert shown["description"] == ("**VIP rank** is delivered by the game server, and delivery to it is not set up "
                                    "here yet, so it cannot be bought for now. A server admin can set it up.")
    assert {f["name"]: f["value"] for f in shown["fields"]}["Delivery"] == "not set up here yet"
    assert custom_ids(view) == ["hub:market"]  # Back, and no Confirm
    # which is what the order code does: an order for it is refused, nothing held
    refused = steve.click(f"m:ok:{steve.last_id}:300:vip")
    assert refused.body["data"]["embeds"][0]["description"] == "Delivery to the game server is not configured."
    assert wallet(economy, steve.user_id) == {"available": 1000, "held": 0, "earnings": 0}
    # a voucher needs no call to the game server: it is offered, and bought, as a code
    hat = steve.choose("m:sku", "hat")
    assert "Delivery: a code you redeem in game" in embed_text(hat)
    receipt = steve.click(next(c for c in custom_ids(hat) if c.startswith("m:ok:")))
    assert "Your voucher code" in embed_text(receipt)
    assert wallet(economy, steve.user_id) == {"available": 950, "held": 50, "earnings": 0}
    economy.check()


# -- a listing repriced while the buyer looks at it ------------------------------------------------------


def _reprice(economy: Any, listing_id: str, unit_price: int) -> None:
    resp = economy.api.put(f"/v1/admin/listings/{listing_id}/price", {"unit_price": unit_price, "reason": "test"})
    assert resp.status == 200, resp.body


def _listed(world: Any, price: str = "40") -> Tuple[Any, Any, str]:
    discord, _, _ = world
    put_reward(discord.economy, "gem", price=100, name="Gem", category="cosmetic", fulfilment="voucher")
    seller, buyer = discord.player(), discord.player()
    discord.economy.credit(buyer.user_id, 1000)
    done = seller.submit("m:sell:gem", {"price": price, "qty": "5", "hours": "24", "min": "", "max": ""})
    return discord.economy, buyer, done.body["data"]["embeds"][0]["footer"]["text"].split()[-1]


def _untouched(economy: Any, buyer: Any, listing_id: str) -> None:
    assert wallet(economy, buyer.user_id) == {"available": 1000, "held": 0, "earnings": 0}
    assert economy.api.get(f"/v1/listings/{listing_id}").body["units_left"] == 5


def test_a_reprice_between_the_form_and_its_submit_says_the_new_price_and_charges_nothing(world) -> None:
    economy, buyer, listing_id = _listed(world)
    form = buyer.click(f"m:lq:{listing_id}:40")
    assert form.body["data"]["custom_id"] == f"m:lbq:{listing_id}:40"
    _reprice(economy, listing_id, 55)
    refused = buyer.submit(f"m:lbq:{listing_id}:40", {"qty": "2"})
    assert_ephemeral(refused)
    text = embed_text(refused)
    assert "Price changed" in text and "from 40 coins to 55 coins each" in text and "Nothing was charged" in text
    assert custom_ids(refused) == [f"m:lq:{listing_id}:55"]
    _untouched(economy, buyer, listing_id)
    # The button offers the new price; buying through it pays that, and only that.
    again = buyer.click(f"m:lq:{listing_id}:55")
    assert again.body["data"]["custom_id"] == f"m:lbq:{listing_id}:55"
    receipt = buyer.submit(f"m:lbq:{listing_id}:55", {"qty": "2"})
    assert "Receipt" in embed_text(receipt), embed_text(receipt)
    assert wallet(economy, buyer.user_id) == {"available": 890, "held": 110, "earnings": 0}
    economy.check()


def test_a_reprice_between_the_quote_and_the_form_is_said_before_the_form(world) -> None:
    economy, buyer, listing_id = _listed(world)
    quote = buyer.click(f"m:lb:{listing_id}")
    _reprice(economy, listing_id, 30)
    refused = buyer.click(custom_ids(quote)[0])
    assert refused.body["type"] != 9  # not the form: the price it would have asked about is gone
    assert "from 40 coins to 30 coins each" in embed_text(refused) and "Nothing was charged" in embed_text(refused)
    _untouched(economy, buyer, listing_id)


def test_a_reprice_inside_the_buy_itself_is_said_in_words_too(world, monkeypatch) -> None:
    """A form made before the price rode along (``m:lbq:<id>``): the buy's own condition refuses the old price."""
    import dataclasses

    from chalicelib.market import listings

    economy, buyer, listing_id = _listed(world)
    stale = listings.find_listing(economy.id, listing_id)
    _reprice(economy, listing_id, 45)
    real = listings.find_listing
    monkeypatch.setattr(listings, "find_listing", lambda e, i: stale if i == listing_id else real(e, i))
    refused = buyer.submit(f"m:lbq:{listing_id}", {"qty": "1"})
    text = embed_text(refused)
    assert "from 40 coins to 45 coins each" in text and "Nothing was charged" in text, text
    monkeypatch.setattr(listings, "find_listing", real)
    assert dataclasses.replace(stale, unit_price=45).unit_price == real(economy.id, listing_id).unit_price
    _untouched(economy, buyer, listing_id)


@pytest.mark.parametrize("custom_id", ["m:lq:{id}:0", "m:lq:{id}:x", "m:lq:{id}:" + "9" * 13, "m:lq:{id}:40:1"])
def test_a_forged_price_in_a_button_is_refused(world, custom_id) -> None:
    economy, buyer, listing_id = _listed(world)
    refused = buyer.click(custom_id.format(id=listing_id))
    assert_ephemeral(refused)
    assert "not known" in embed_text(refused)
    _untouched(economy, buyer, listing_id)
