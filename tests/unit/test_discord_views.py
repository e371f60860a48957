"""Views: every player response is ephemeral and within Discord's limits."""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from chalicelib.discord import commands, render, views
from chalicelib.discord.interaction import Interaction, snowflake_time
from chalicelib.discord.rest import route_key
from chalicelib.rewards.quests import DEFAULT_QUESTIONS, Question

pytestmark = pytest.mark.unit

NOW = "2024-02-29T10:00:00.000Z"
PACKS = [{"id": "coins_100", "name": "100 coins", "coins": 100, "bonus_coins": 0, "total_coins": 100,
          "price": {"amount": 999, "currency": "usd"}, "active": True},
         {"id": "coins_500", "name": "500 coins +10%", "coins": 500, "bonus_coins": 50, "total_coins": 550,
          "price": {"amount": 4499, "currency": "usd"}, "active": True}]
RESULT = {"transaction_id": "op_1", "amount": 12, "streak": 2, "balance": {"available": 22, "held": 0, "earnings": 0},
          "new_badges": ["streak_7"], "next_claim_at": NOW, "next_quest_at": NOW, "to_user_id": "42"}
ROWS = [{"user_id": str(10 + i), "total": 100 - i, "rank": i + 1} for i in range(12)]


def player_views() -> Dict[str, Dict[str, Any]]:
    q = Question(*DEFAULT_QUESTIONS[0])
    return {
        "card": views.card("42", {"available": 5, "held": 1, "earnings": 0}, 3, ["streak_7"], 2, 10,
                           [{"amount": 5, "type": "reward", "reason": "daily reward", "created_at": NOW}]),
        "daily_claimed": views.daily_claimed(RESULT),
        "daily_already": views.daily_already(NOW, 3),
        "quest_question": views.quest_question(q.question, q.choices("seed"), "quest:answer:2024-02-29:q_ledger", 15),
        "quest_won": views.quest_won(RESULT),
        "quest_lost": views.quest_lost("Zero", NOW),
        "quest_done": views.quest_done(NOW, True),
        "leaderboard": views.leaderboard(ROWS, 12, NOW),
        "buy_menu": views.buy_menu(PACKS),
        "no_packs": views.buy_menu([]),
        "give_confirm": views.give_confirm("1", "42", 5, "thanks", "1234567890123456789"),
        "give_done": views.give_done(RESULT),
        "give_cancelled": views.give_cancelled(),
        "help": views.help_view([(c["name"], c["description"]) for c in commands.COMMANDS],
                                commands.ADMIN_COMMANDS),
        "error": views.error("nope"),
        "not_allowed": views.not_allowed(),
    }


def all_components(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [c for row in data.get("components") or [] for c in row["components"]]


@pytest.mark.parametrize("name", sorted(player_views()))
def test_every_player_view_is_an_ephemeral_message(name: str) -> None:
    response = player_views()[name]
    assert response["type"] == views.CHANNEL_MESSAGE
    assert response["data"]["flags"] == views.EPHEMERAL
    assert response["data"]["allowed_mentions"] == {"parse": []}  # mentions never ping anyone
    json.dumps(response)  # plain JSON, no Decimal or datetime


@pytest.mark.parametrize("name", sorted(player_views()))
def test_components_stay_within_discord_limits(name: str) -> None:
    data = player_views()[name]["data"]
    assert len(data["components"]) <= 5
    for row in data["components"]:
        assert row["type"] == 1 and 1 <= len(row["components"]) <= 5
    for component in all_components(data):
        if "custom_id" in component:
            assert len(component["custom_id"]) <= 100
        if component["type"] == 3:
            assert 1 <= len(component["options"]) <= 25
            assert all(len(o["label"]) <= 100 and len(o["value"]) <= 100 for o in component["options"])
    for embed in data["embeds"]:
        assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096 and len(embed["fields"]) <= 25


def test_the_hub_has_its_buttons_on_a_public_message() -> None:
    hub = views.public_hub()
    assert "flags" not in hub
    labels = [c["label"] for c in all_components(hub)]
    # the six of this issue come first; other features may add theirs after them
    assert labels[:6] == ["My Card", "Buy Coins", "Quests", "Claim Daily", "Leaderboard", "Help"]


def test_deferred_and_pong() -> None:
    assert views.deferred() == {"type": 5, "data": {"flags": 64}}
    assert views.pong() == {"type": 1}


def test_modal_asks_for_a_reason() -> None:
    m = views.modal("admin:adjust:1:2:5", "Adjust coins", [views.text_input("reason", "Reason")])
    assert m["type"] == 9 and m["data"]["custom_id"] == "admin:adjust:1:2:5"
    assert m["data"]["components"][0]["components"][0]["custom_id"] == "reason"


def test_leaderboard_shows_the_top_ten_only() -> None:
    text = views.leaderboard(ROWS, 12, NOW)["data"]["embeds"][0]["description"]
    assert text.count("\n") == 9 and "<@10>" in text and "<@20>" not in text


def test_quest_choices_hide_the_answer_position() -> None:
    q = Question(*DEFAULT_QUESTIONS[0])
    orders = {tuple(v for v, _ in q.choices(str(seed))) for seed in range(40)}
    assert len(orders) > 1  # shuffled per seed
    for seed in range(10):
        choices = dict(q.choices(str(seed)))
        right = next(v for v, label in q.choices(str(seed)) if label == q.answer)
        assert q.is_correct(right, str(seed)) and sum(q.is_correct(v, str(seed)) for v, _ in q.choices(str(seed))) == 1


def test_render_shows_what_a_player_reads() -> None:
    text = render.render_response(views.daily_claimed(RESULT))
    assert "(only you can see this)" in text and "Daily reward claimed" in text and "12 coins" in text
    assert "2024-02-29" in render.render_response(views.daily_already(NOW, 1))  # <t:...:R> as a date
    assert "[Confirm](give:ok:" in render.render_response(views.give_confirm("1", "42", 5, None, "99"))


def test_interaction_parsing_flattens_subcommand_options() -> None:
    ix = Interaction.parse({"id": "1210000000000000000", "type": 2, "token": "t", "application_id": "9",
                            "guild_id": "5", "member": {"user": {"id": "7"}, "roles": ["3"], "permissions": "8"},
                            "data": {"name": "coins-admin", "options": [{"name": "adjust", "type": 1, "options": [
                                {"name": "user", "type": 6, "value": "8"}, {"name": "amount", "type": 4, "value": -5}]}]}})
    assert (ix.command, ix.subcommand, ix.options) == ("coins-admin", "adjust", {"user": "8", "amount": -5})
    assert ix.permissions == 8 and ix.role_ids == ("3",) and ix.user_id == "7"
    assert snowflake_time("175928847299117063").year == 2016  # Discord's documented example id


def test_route_keys_never_contain_tokens_or_ids() -> None:
    assert route_key("patch", "webhooks/123456789012345678/secret-token/messages/@original") == \
        "PATCH /webhooks/{id}/{token}/messages/@original"
    assert route_key("GET", "/channels/123456789012345678/messages/223456789012345678") == \
        "GET /channels/{id}/messages/{id}"


def test_command_definitions_are_valid_for_discord() -> None:
    names = [c["name"] for c in commands.COMMANDS]
    assert len(names) == len(set(names))
    assert set(names) == {"coins", "daily", "quest", "leaderboard", "buy-coins", "shop", "sell", "give", "help",
                          "coins-setup", "coins-admin"}
    for c in commands.COMMANDS:
        assert 1 <= len(c["description"]) <= 100 and c["name"] == c["name"].lower()
    admin = next(c for c in commands.COMMANDS if c["name"] == "coins-admin")
    assert [s["name"] for s in admin["options"]] == ["adjust", "freeze", "unfreeze", "lookup", "history", "note",
                                                     "role"]
    for sub in admin["options"]:
        assert 1 <= len(sub["description"]) <= 100
        if sub["name"] in ("lookup", "history", "note"):
            assert sub["options"] == [{"type": 6, "name": "user", "description": sub["options"][0]["description"],
                                       "required": True}]


# --- wording -----------------------------------------------------------------------------


def test_counts_of_one_are_singular_everywhere_a_player_reads_them() -> None:
    from chalicelib.discord.notices import notice_text

    assert (views.coins(0), views.coins(1), views.coins(2), views.coins(1000)) == (
        "0 coins", "1 coin", "2 coins", "1,000 coins")
    assert (views.count(1, "coin", sign=True), views.count(-1, "coin", sign=True),
            views.count(-250, "coin", sign=True)) == ("+1 coin", "-1 coin", "-250 coins")
    one = views.leaderboard(ROWS[:1], 1, NOW)["data"]["embeds"][0]
    assert one["footer"]["text"] == f"1 player - updated {NOW}"
    assert one["description"] == "1. <@10> - 100 coins"
    two = views.leaderboard(ROWS[:2], 2, None)["data"]["embeds"][0]
    assert two["footer"]["text"] == "2 players"
    ask = views.give_confirm("1", "42", 1, None, "99")["data"]["embeds"][0]
    assert ask["description"] == "Send 1 coin to <@42>?"
    streak = views.daily_claimed({**RESULT, "amount": 1, "streak": 1})["data"]["embeds"][0]["fields"]
    assert [f["value"] for f in streak] == ["1 coin", "1 day", "22 coins"]
    order = {"name": "Hat", "qty": 1, "total": 1, "order_id": "ord_1", "status": "fulfilled"}
    assert notice_text(order) == "Delivered: **Hat** x1 (1 coin, order `ord_1`) has arrived in game."


def test_every_registered_command_is_routed_and_listed_in_help() -> None:
    from chalicelib.discord import router
    from chalicelib.discord.interaction import Interaction
    from chalicelib.discord.player import help as help_command

    registered = [c["name"] for c in commands.COMMANDS]
    assert set(router.COMMANDS) == set(registered)  # nothing Discord shows is "not known", nothing routed is hidden
    ix = Interaction.parse({"id": "1210000000000000000", "type": 2, "token": "t", "application_id": "9",
                            "guild_id": "5", "member": {"user": {"id": "7"}}, "data": {"name": "help"}})
    shown = help_command(ix, None)["data"]["embeds"][0]  # type: ignore[arg-type] - help reads no guild
    fields = {f["name"]: f["value"] for f in shown["fields"]}
    assert fields["/shop"] == "Spend coins on rewards in the shop."
    assert fields["/sell"] == "List an item of yours for other members to buy."
    assert shown["footer"]["text"] == "Admins: /coins-setup, /coins-admin"
    for name in registered:  # every command, a field for players or in the admins' footer
        assert f"/{name}" in fields or f"/{name}" in shown["footer"]["text"].split(": ")[1].split(", "), name
    assert sorted(fields) == sorted(f"/{n}" for n in registered if n not in ("coins-setup", "coins-admin"))


def test_market_codes_reach_players_as_words() -> None:
    from chalicelib.discord import market_views
    from chalicelib.market import pricing
    from chalicelib.market.names import LISTING_STATES, ORDER_STATES

    listing = {"name": "Gem", "qty": 5, "unit_price": 40, "fee_bps": 1000, "expires_at": NOW, "listing_id": "lst_1",
               "fee": {"band": "no_history", "scarce": True}}
    fields = {f["name"]: f["value"] for f in market_views.listed(listing, True)["data"]["embeds"][0]["fields"]}
    assert fields["Fee"] == "10% (no recent sales, few for sale)"
    plain = {**listing, "fee_bps": 800, "fee": {"band": "market", "scarce": False}}
    fields = {f["name"]: f["value"] for f in market_views.listed(plain, True)["data"]["embeds"][0]["fields"]}
    assert fields["Fee"] == "8% (at the market price)"
    # every code the market can send has its words, none of them the code itself
    for band in pricing.BANDS:
        assert market_views.fee_reason({"band": band, "scarce": False}) == market_views.FEE_BANDS[band]
    assert set(LISTING_STATES) <= set(market_views.LISTING_STATUS)
    assert set(ORDER_STATES) - {"pending"} <= set(market_views.ORDER_STATUS)
    for words in (*market_views.FEE_BANDS.values(), *market_views.LISTING_STATUS.values(),
                  *market_views.ORDER_STATUS.values()):
        assert "_" not in words
    closed = market_views.closed({"status": "sold_out"})["data"]["embeds"][0]
    assert closed["description"] == "This listing is sold out."
    order = {"name": "Hat", "qty": 1, "total": 50, "order_id": "ord_1", "status": "pending", "fulfilment": "voucher",
             "balance": {"available": 0}, "voucher_code": "ABC"}
    status = {f["name"]: f["value"] for f in market_views.receipt(order, False)["data"]["embeds"][0]["fields"]}
    assert status["Status"] == "waiting for you to redeem the code"
    api = {**order, "fulfilment": "api", "voucher_code": None}
    status = {f["name"]: f["value"] for f in market_views.receipt(api, False)["data"]["embeds"][0]["fields"]}
    assert status["Status"] == "on its way to the game server"


# --- /coins-admin lookup | history -------------------------------------------------------------


def test_operator_views_cut_member_text_to_one_line_within_discords_limits() -> None:
    from chalicelib.discord import support_views

    long_note = {"note_id": "note_1", "text": "line one\nline two " + "x" * 3000, "actor": "discord:42",
                 "role": "SUPPORT", "created_at": NOW}
    user = {"user_id": "7", "wallet": {"available": 1, "held": 2, "earnings": 3, "debt": 4},
            "flags": {"frozen": True, "freeze_reasons": ["debt"]}, "notes": [long_note] * 5,
            "last_activity_at": None, "created_at": NOW}
    embed = support_views.lookup(user, 9)["data"]["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Flags"] == "frozen (debt); owes 4 coins" and fields["Last activity"] == "none yet"
    assert fields["Notes (9)"].count("\n") == 2 and len(fields["Notes (9)"]) <= 1024
    assert "<@42> (SUPPORT): line one line two x" in fields["Notes (9)"]
    items = [{"at": NOW, "kind": "audit", "id": str(n), "action": "users.note", "actor": "api_key:key_1",
              "reason": "y" * 5000} for n in range(10)]
    page = support_views.history("7", items, 0, None, "ah:1:1")
    assert len(page["data"]["embeds"][0]["description"]) <= 4096
    assert [(b["label"], b["disabled"]) for b in page["data"]["components"][0]["components"]] == [
        ("Newer", True), ("Older", False)]
