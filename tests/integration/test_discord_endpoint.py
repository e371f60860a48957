"""POST /discord/interactions with real Ed25519-signed payloads, every command and button.

Each test ends by checking the economy's books.
"""
from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from nacl.signing import SigningKey

from tests.clock_helpers import Clock, at, clock  # noqa: F401 (fixture)
from tests.ledger_helpers import posting
from chalicelib.rewards import grants as rewards
from chalicelib.tenancy.audit import list_audit
from chalicelib.ledger.wallets import find_wallet, get_wallet
from scripts.discord_standin import snowflake
from tests.discord_helpers import (  # noqa: F401 - fixtures
    MANAGE_GUILD,
    assert_ephemeral,
    components,
    custom_ids,
    discord,
    embed_text,
    quest_answers,
    sign,
    use_public_key,
)

# A stopped app clock: the test's "today" and the app's are the same day even across UTC midnight.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]

PING = {"type": 1, "id": "1", "application_id": "1", "token": "t", "version": 1}


# --- signatures ---------------------------------------------------------------


def post(discord, body: str, headers: dict):
    return discord.economy.api.post("/discord/interactions", raw=body, token="", headers=headers)


def test_ping_with_a_valid_signature_gets_pong(discord) -> None:
    body = json.dumps(PING)
    resp = post(discord, body, sign(body))
    assert resp.status == 200 and resp.body == {"type": 1}


@pytest.mark.parametrize("case", ["missing_both", "missing_signature", "missing_timestamp", "invalid", "other_key",
                                  "stale", "future", "altered_body", "garbage_hex"])
def test_bad_signatures_are_401_and_nothing_is_parsed(discord, case: str) -> None:
    body = json.dumps(PING)
    headers = sign(body)
    if case == "missing_both":
        headers = {}
    elif case == "missing_signature":
        del headers["X-Signature-Ed25519"]
    elif case == "missing_timestamp":
        del headers["X-Signature-Timestamp"]
    elif case == "invalid":
        headers["X-Signature-Ed25519"] = "00" * 64
    elif case == "other_key":
        headers = sign(body, key=SigningKey.generate())
    elif case == "stale":
        headers = sign(body, timestamp=str(int(time.time()) - 360))
    elif case == "future":
        headers = sign(body, timestamp=str(int(time.time()) + 360))  # a minute clear of the window: no race
    elif case == "altered_body":
        body = json.dumps({**PING, "type": 2})
    elif case == "garbage_hex":
        headers["X-Signature-Ed25519"] = "not hex at all"
    resp = post(discord, body, headers)
    assert resp.status == 401, resp.body
    assert resp.code == "invalid_signature"


def test_a_signed_non_json_body_is_a_clear_400(discord) -> None:
    body = "not json"
    resp = post(discord, body, sign(body))
    assert resp.status == 400 and resp.code == "malformed_json"


def test_an_unconfigured_key_refuses_everything(discord, monkeypatch, tmp_path) -> None:
    from chalicelib.discord import devkey

    monkeypatch.setattr(devkey, "KEY_FILE", tmp_path / "none.json")
    use_public_key(monkeypatch, None)
    body = json.dumps(PING)
    resp = post(discord, body, sign(body))
    assert resp.status == 401 and resp.code == "invalid_signature"


# --- player commands ---------------------------------------------------------------


def test_help_and_hub_buttons_answer_ephemerally(discord) -> None:
    alice = discord.player()
    for resp in (alice.command("help"), alice.click("hub:help")):
        assert_ephemeral(resp)
        text = embed_text(resp)
        assert "/daily" in text and "/shop: Spend coins on rewards in the shop." in text
        assert "/sell: List an item of yours for other members to buy." in text
    # the market's commands answer as its hub buttons do
    for command, button in (("shop", "hub:market"), ("sell", "hub:sell")):
        by_command, by_button = alice.command(command), alice.click(button)
        assert_ephemeral(by_command)
        assert by_command.body == by_button.body and "not known" not in embed_text(by_command)
    discord.economy.check()


def test_daily_pays_once_per_day_and_a_repeat_says_when_it_opens(discord) -> None:
    alice = discord.player()
    first = alice.command("daily")
    assert_ephemeral(first)
    assert "Daily reward claimed" in embed_text(first) and "10 coins" in embed_text(first)
    again = alice.click("hub:daily")
    assert_ephemeral(again)
    (shown,) = again.body["data"]["embeds"]
    assert shown["title"] == "Already claimed today"
    tomorrow = datetime.combine(rewards.today_utc() + timedelta(days=1), datetime.min.time(), timezone.utc)
    stamp = int(tomorrow.timestamp())
    assert shown["description"] == (f"Your next daily reward opens <t:{stamp}:R> (midnight UTC).\n"
                                    "Current streak: 1 day.")
    text = embed_text(again)  # the next claim time is said once: no footer repeating it
    assert text.count(str(stamp)) == 1 and tomorrow.date().isoformat() not in text and "footer" not in shown
    assert get_wallet(discord.economy.id, alice.user_id).available == 10
    discord.economy.check()


def test_a_daily_either_side_of_utc_midnight_pays_each_day_once(discord, clock) -> None:
    # Last night's midnight, not tonight's: the app's clock stays at or before the real
    # time the interactions' snowflakes carry, as it would in production.
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    alice = discord.player()
    clock.set(midnight - timedelta(milliseconds=100))
    assert "10 coins" in embed_text(alice.command("daily"))
    clock.set(midnight - timedelta(milliseconds=50))
    assert "Already claimed today" in embed_text(alice.click("hub:daily"))
    clock.set(midnight + timedelta(milliseconds=100))
    text = embed_text(alice.command("daily"))
    assert "Daily reward claimed" in text and "12 coins" in text and "Streak: 2 days" in text
    clock.set(midnight + timedelta(milliseconds=200))
    again = embed_text(alice.click("hub:daily"))
    assert "Already claimed today" in again
    assert f"opens <t:{int((midnight + timedelta(days=1)).timestamp())}:R> (midnight UTC)" in again
    assert get_wallet(discord.economy.id, alice.user_id).available == 10 + 12
    discord.economy.check()


def test_daily_streak_grows_day_by_day_and_earns_a_badge(discord, monkeypatch) -> None:
    alice = discord.player()
    start = date(2023, 12, 26)  # the run crosses a year boundary
    for offset in range(7):
        monkeypatch.setattr(rewards, "today_utc", lambda d=start + timedelta(days=offset): d)
        resp = alice.command("daily")
        assert_ephemeral(resp)
    text = embed_text(resp)
    assert "Streak: 7 days" in text and "New badge: 7-day streak" in text
    assert get_wallet(discord.economy.id, alice.user_id).available == sum(10 + 2 * i for i in range(7))
    # a missed day restarts the streak
    monkeypatch.setattr(rewards, "today_utc", lambda: start + timedelta(days=9))
    assert "Streak: 1 day" in embed_text(alice.command("daily"))
    card = alice.command("coins")
    assert "7-day streak" in embed_text(card)
    discord.economy.check()


def test_my_card_shows_balances_streak_rank_and_last_three_transactions(discord) -> None:
    from chalicelib.operations.leaderboard import compute

    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 500)
    discord.economy.credit(bob.user_id, 900)
    alice.command("daily")
    discord.economy.credit(alice.user_id, 7)
    discord.economy.credit(alice.user_id, 8)
    compute(discord.economy.id)
    for resp in (alice.command("coins"), alice.click("hub:card"), alice.click("lb:me")):
        assert_ephemeral(resp)
        text = embed_text(resp)
        assert "Available: 525 coins" in text and "Streak: 1 day" in text
        assert "Rank: #2 of 2" in text
        assert text.count("`+") == 3 and "`+500`" not in text  # only the last three
        assert "hub:daily" in custom_ids(resp)
    discord.economy.check()


def test_quest_right_answer_pays_once_then_cooldown(discord) -> None:
    alice = discord.player()
    resp = alice.command("quest")
    assert_ephemeral(resp)
    menu = components(resp)[0]
    assert menu["type"] == 3 and menu["custom_id"].startswith("quest:answer:")
    quest = quest_answers(resp, discord.economy.id)
    won = alice.choose(quest["menu"], quest["right"])
    assert_ephemeral(won)
    assert "Correct!" in embed_text(won) and "15 coins" in embed_text(won)
    again = alice.choose(quest["menu"], quest["right"])
    assert_ephemeral(again)
    assert "done" in embed_text(again)
    assert "quest is done" in embed_text(alice.click("hub:quest"))
    assert get_wallet(discord.economy.id, alice.user_id).available == 15
    discord.economy.check()


def test_quest_wrong_answer_pays_nothing_and_blocks_retries_until_tomorrow(discord) -> None:
    alice = discord.player()
    quest = quest_answers(alice.command("quest"), discord.economy.id)
    lost = alice.choose(quest["menu"], quest["wrong"])
    assert_ephemeral(lost)
    assert "Not quite" in embed_text(lost)
    retry = alice.choose(quest["menu"], quest["right"])
    assert "already answered" in embed_text(retry)
    assert find_wallet(discord.economy.id, alice.user_id) is None
    discord.economy.check()


def test_quest_answer_for_another_day_or_question_is_refused(discord) -> None:
    alice = discord.player()
    quest = quest_answers(alice.command("quest"), discord.economy.id)
    stale = "quest:answer:2001-01-01:" + quest["menu"].split(":")[3]
    assert "expired" in embed_text(alice.choose(stale, quest["right"]))
    other = ":".join(quest["menu"].split(":")[:3] + ["q_not_mine"])
    assert "not your question" in embed_text(alice.choose(other, quest["right"]))
    assert "Not quite" in embed_text(alice.choose(quest["menu"], "c0"))  # a made-up value is just wrong
    assert find_wallet(discord.economy.id, alice.user_id) is None


def test_leaderboard_top_ten_and_view_yours(discord) -> None:
    from chalicelib.operations.leaderboard import compute

    players = [discord.player() for _ in range(12)]
    for i, p in enumerate(players):
        discord.economy.credit(p.user_id, 100 + i)
    compute(discord.economy.id)
    for resp in (players[0].command("leaderboard"), players[0].click("hub:leaderboard")):
        assert_ephemeral(resp)
        text = embed_text(resp)
        assert text.startswith("\nLeaderboard") and f"<@{players[11].user_id}> - 111 coins" in text
        assert f"<@{players[0].user_id}>" not in text  # rank 12: not in the top 10
        assert custom_ids(resp) == ["lb:me"]
    mine = players[0].click("lb:me")
    assert_ephemeral(mine)
    assert "Rank: #12 of 12" in embed_text(mine)
    discord.economy.check()


def test_buy_coins_lists_the_packs_as_a_select_menu(discord) -> None:
    alice = discord.player()
    for resp in (alice.command("buy-coins"), alice.click("hub:buy")):
        assert_ephemeral(resp)
        menu = components(resp)[0]
        assert menu["custom_id"] == "buy:pack"
        assert [o["value"] for o in menu["options"]] == ["coins_100", "coins_500", "coins_1000", "coins_5000"]


# --- give -------------------------------------------------------------------------------


def give(p, to: str, amount, note=None, bot: bool = False):
    options = {"user": to, "amount": amount}
    if note:
        options["note"] = note
    return p.command("give", options, users=[{"id": to, "username": "x", "bot": bot}])


def test_give_asks_for_confirmation_then_moves_coins_once(discord) -> None:
    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 100)
    ask = give(alice, bob.user_id, 30, "for lunch")
    assert_ephemeral(ask)
    assert "Send 30 coins" in embed_text(ask) and "for lunch" in embed_text(ask)
    ok, no = custom_ids(ask)
    assert get_wallet(discord.economy.id, alice.user_id).available == 100  # nothing moved yet
    done = alice.click(ok)
    assert_ephemeral(done)
    assert "You sent 30 coins" in embed_text(done)
    again = alice.click(ok)  # a double click replays, it does not send twice
    assert_ephemeral(again)
    assert embed_text(again) == embed_text(done)  # the same receipt, balance 70 included
    assert get_wallet(discord.economy.id, alice.user_id).available == 70
    assert get_wallet(discord.economy.id, bob.user_id).available == 30
    assert "already sent" in embed_text(alice.click(no))
    discord.economy.check()


def test_give_cancel_moves_nothing_and_the_confirm_then_refuses(discord) -> None:
    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 100)
    ok, no = custom_ids(give(alice, bob.user_id, 30))
    assert "cancelled" in embed_text(alice.click(no))
    assert "cancelled" in embed_text(alice.click(ok))
    assert get_wallet(discord.economy.id, alice.user_id).available == 100
    assert find_wallet(discord.economy.id, bob.user_id) is None
    discord.economy.check()


def test_only_the_giver_can_confirm(discord) -> None:
    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 100)
    ok, no = custom_ids(give(alice, bob.user_id, 30))
    for other in (discord.player(bob.user_id), discord.player()):  # the recipient, and a bystander
        for button in (ok, no):
            resp = other.click(button)
            assert_ephemeral(resp)
            (shown,) = resp.body["data"]["embeds"]
            assert (shown["title"], shown["description"]) == ("Not possible", "This is not your confirmation.")
    assert get_wallet(discord.economy.id, alice.user_id).available == 100
    # alice's gift is untouched: still hers to confirm
    assert "You sent 30 coins" in embed_text(alice.click(ok))
    assert get_wallet(discord.economy.id, alice.user_id).available == 70
    assert get_wallet(discord.economy.id, bob.user_id).available == 30
    discord.economy.check()


def test_a_give_confirms_until_exactly_15_minutes_after_it_was_asked_and_not_1_ms_later(discord, clock: Clock) -> None:
    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 100)
    # A moment in the past (the app clock stays behind the snowflakes' real time) on a whole
    # millisecond, so the stored created_at is the moment itself.
    clock.set(at("2025-06-01T12:00:00.000Z"))
    on_time, _ = custom_ids(give(alice, bob.user_id, 30))
    late, _ = custom_ids(give(alice, bob.user_id, 40))
    clock.set(at("2025-06-01T12:15:00.000Z"))  # 15:00 on: the last moment of the window
    assert "You sent 30 coins" in embed_text(alice.click(on_time))
    clock.set(at("2025-06-01T12:15:00.001Z"))
    assert "This confirmation has expired" in embed_text(alice.click(late))
    assert get_wallet(discord.economy.id, alice.user_id).available == 100 - 30
    assert get_wallet(discord.economy.id, bob.user_id).available == 30
    discord.economy.check()


def test_a_give_delivered_again_reopens_nothing(discord, clock: Clock) -> None:
    """Discord may deliver one /give twice (the same interaction id): the same confirmation, the gift as it was."""
    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 100)

    def asked(amount: int):
        data = {"id": snowflake(), "name": "give", "type": 1,
                "options": [{"name": "user", "type": 6, "value": bob.user_id},
                            {"name": "amount", "type": 4, "value": amount}],
                "resolved": {"users": {bob.user_id: {"id": bob.user_id, "username": "bob"}}}}
        payload = alice.payload(2, data)
        return payload, custom_ids(alice.send(payload))

    clock.set(at("2025-06-01T12:00:00.000Z"))
    cancelled, (ok, no) = asked(30)
    assert "Gift cancelled" in embed_text(alice.click(no))
    assert custom_ids(alice.send(cancelled)) == [ok, no]  # the same confirmation shown again...
    assert "This gift was cancelled" in embed_text(alice.click(ok))  # ...and the Cancel still holds
    sent, (ok, no) = asked(20)
    assert "You sent 20 coins" in embed_text(alice.click(ok))
    alice.send(sent)
    assert "already sent" in embed_text(alice.click(no))
    waiting, (ok, _) = asked(10)
    clock.set(at("2025-06-01T12:10:00.000Z"))
    alice.send(waiting)  # delivered again 10 minutes on: its 15 minutes do not start again
    clock.set(at("2025-06-01T12:15:00.001Z"))
    assert "This confirmation has expired" in embed_text(alice.click(ok))
    assert get_wallet(discord.economy.id, alice.user_id).available == 80
    assert get_wallet(discord.economy.id, bob.user_id).available == 20
    discord.economy.check()


@pytest.mark.parametrize("case, expected", [
    ("self", "yourself"),
    ("bot", "Bots cannot hold coins"),
    ("zero", "above zero"),
])
def test_give_refusals_change_nothing(discord, case: str, expected: str) -> None:
    alice = discord.player()
    discord.economy.credit(alice.user_id, 100)
    to = alice.user_id if case == "self" else snowflake()
    resp = give(alice, to, 0 if case == "zero" else 5, bot=case == "bot")
    assert_ephemeral(resp)
    assert expected in embed_text(resp)
    assert get_wallet(discord.economy.id, alice.user_id).available == 100
    discord.economy.check()


def test_give_more_than_you_have_is_refused_at_once_without_a_confirmation(discord) -> None:
    from chalicelib.discord import store

    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 20)
    for short in (alice, discord.player()):  # 20 coins, and a member who never held any
        resp = give(short, bob.user_id, 5000)
        assert_ephemeral(resp)
        (shown,) = resp.body["data"]["embeds"]
        assert (shown["title"], shown["description"]) == ("Not possible", "The wallet does not hold enough coins.")
        assert components(resp) == []  # nothing to confirm
        assert store.find_gift(short.last_id) is None  # nothing pending either
    assert get_wallet(discord.economy.id, alice.user_id).available == 20
    assert find_wallet(discord.economy.id, bob.user_id) is None
    discord.economy.check()


def test_give_short_or_frozen_by_the_time_of_confirm_is_refused_at_confirm(discord) -> None:
    from chalicelib.operations import admin

    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 10)
    first, _ = custom_ids(give(alice, bob.user_id, 8))
    second, _ = custom_ids(give(alice, bob.user_id, 5))  # 10 available when asked
    assert "You sent 8 coins" in embed_text(alice.click(first))
    refused = alice.click(second).body["data"]["embeds"][0]
    assert refused["description"] == "The wallet does not hold enough coins."  # the wording /give uses
    ok, _ = custom_ids(give(alice, bob.user_id, 2))
    admin.freeze(discord.economy.id, alice.user_id, "review", "test")
    assert "frozen" in embed_text(alice.click(ok))
    assert get_wallet(discord.economy.id, alice.user_id).available == 2
    assert get_wallet(discord.economy.id, bob.user_id).available == 8
    discord.economy.check()


# --- admin -----------------------------------------------------------------------------


def test_members_without_an_admin_role_are_not_allowed(discord) -> None:
    member = discord.player(permissions=MANAGE_GUILD)  # Manage Server may set up, not adjust
    target = discord.player()
    for resp in (member.command("coins-admin", {"user": target.user_id, "amount": 5}, sub="adjust"),
                 member.command("coins-admin", {"user": target.user_id}, sub="freeze"),
                 discord.player().command("coins-setup"),
                 member.submit(f"admin:adjust:{snowflake()}:{target.user_id}:5", {"reason": "sneaky"})):
        assert_ephemeral(resp)
        assert "not allowed" in embed_text(resp)
    assert find_wallet(discord.economy.id, target.user_id) is None


def test_admin_adjust_asks_for_a_reason_then_credits_once_and_audits(discord) -> None:
    boss, target = discord.admin(), discord.player()
    modal = boss.command("coins-admin", {"user": target.user_id, "amount": 250}, sub="adjust",
                         users=[{"id": target.user_id}])
    assert modal.status == 200 and modal.body["type"] == 9
    custom_id = modal.body["data"]["custom_id"]
    assert custom_id.startswith("admin:adjust:") and custom_id.endswith(f":{target.user_id}:250")
    done = boss.submit(custom_id, {"reason": "event prize"})
    assert_ephemeral(done)
    assert "+250 coins" in embed_text(done)
    boss.submit(custom_id, {"reason": "event prize"})  # the same form twice credits once
    assert get_wallet(discord.economy.id, target.user_id).available == 250
    rows = list_audit(discord.economy.id, target=f"user:{target.user_id}")
    assert len(rows) == 1 and rows[0]["actor"] == f"discord:{boss.user_id}"
    assert rows[0]["before"]["available"] == 0 and rows[0]["after"]["available"] == 250
    assert rows[0]["reason"] == "event prize"
    discord.economy.check()


def test_discord_unfreeze_lifts_a_lost_disputes_review_only_when_the_operator_names_it(discord) -> None:
    import uuid

    from chalicelib import ledger
    from chalicelib.ledger import WalletChange

    admin, target = discord.admin(), discord.player()
    discord.economy.credit(target.user_id, 40)
    review = "dispute_lost:pur_TEST"
    ledger.post(posting(  # what a lost chargeback leaves (purchases.py), through the same door
        discord.economy.id, f"test:{uuid.uuid4().hex}", ledger.fingerprint("test-lost", target.user_id), "dispute",
        [], respond=lambda p: {}, allow_frozen=True,
        wallet_changes={target.user_id: WalletChange(freeze=frozenset({review}))}))
    modal = admin.command("coins-admin", {"user": target.user_id}, sub="unfreeze")
    inputs = [row["components"][0] for row in modal.body["data"]["components"]]
    assert [(i["custom_id"], i["required"]) for i in inputs] == [("reason", True), ("lift", False)]
    plain = admin.submit(modal.body["data"]["custom_id"], {"reason": "looked at it"})
    assert "still frozen" in embed_text(plain).lower() and review in embed_text(plain)
    assert get_wallet(discord.economy.id, target.user_id).freeze_reasons == (review,)
    bad = admin.command("coins-admin", {"user": target.user_id}, sub="unfreeze")
    refused = admin.submit(bad.body["data"]["custom_id"], {"reason": "x", "lift": "everything"})
    assert_ephemeral(refused)
    assert get_wallet(discord.economy.id, target.user_id).freeze_reasons == (review,)
    named = admin.command("coins-admin", {"user": target.user_id}, sub="unfreeze")
    done = admin.submit(named.body["data"]["custom_id"], {"reason": "chargeback reviewed", "lift": "dispute_lost"})
    assert "unfrozen" in embed_text(done).lower()
    assert get_wallet(discord.economy.id, target.user_id).freeze_reasons == ()
    rows = list_audit(discord.economy.id, target=f"user:{target.user_id}")
    assert rows[0]["action"] == "wallet.unfreeze" and rows[0]["actor"] == f"discord:{admin.user_id}"
    assert (rows[0]["before"], rows[0]["after"]) == ({"frozen": True, "freeze_reasons": [review]},
                                                     {"frozen": False, "freeze_reasons": []})
    discord.economy.check()


def test_mapped_support_may_freeze_but_not_adjust(discord) -> None:
    from chalicelib.tenancy.guilds import set_role

    operator_role = snowflake()
    set_role(discord.guild_id, operator_role, "SUPPORT", "test")
    op, target = discord.player(roles=[operator_role]), discord.player()
    discord.economy.credit(target.user_id, 40)
    assert "not allowed" in embed_text(op.command("coins-admin", {"user": target.user_id, "amount": 5}, sub="adjust"))
    modal = op.command("coins-admin", {"user": target.user_id}, sub="freeze")
    assert modal.body["type"] == 9
    done = op.submit(modal.body["data"]["custom_id"], {"reason": "chargeback review"})
    assert_ephemeral(done)
    assert "frozen" in embed_text(done)
    assert get_wallet(discord.economy.id, target.user_id).frozen
    rows = list_audit(discord.economy.id, target=f"user:{target.user_id}")
    assert rows[0]["action"] == "wallet.freeze" and rows[0]["before"] == {"frozen": False, "freeze_reasons": []}
    assert rows[0]["after"] == {"frozen": True, "freeze_reasons": ["operator"]}
    unfreeze = op.command("coins-admin", {"user": target.user_id}, sub="unfreeze")
    op.submit(unfreeze.body["data"]["custom_id"], {"reason": "cleared"})
    assert not get_wallet(discord.economy.id, target.user_id).frozen
    # the mapping is removed: the same member is refused at once
    set_role(discord.guild_id, operator_role, None, "test")
    assert "not allowed" in embed_text(op.command("coins-admin", {"user": target.user_id}, sub="freeze"))
    discord.economy.check()


def test_superadmin_maps_roles_and_it_is_audited(discord) -> None:
    boss, role = discord.admin(), snowflake()
    resp = boss.command("coins-admin", {"role": role, "app_role": "ADMIN"}, sub="role", roles=[role])
    assert_ephemeral(resp)
    assert "ADMIN" in embed_text(resp)
    newcomer = discord.player(roles=[role])
    assert newcomer.command("coins-admin", {"user": boss.user_id, "amount": 3}, sub="adjust").body["type"] == 9
    rows = [r for r in list_audit(discord.economy.id) if r["action"] == "discord.role_map"]
    assert rows and rows[0]["after"] == {"app_role": "ADMIN"} and rows[0]["actor"] == f"discord:{boss.user_id}"
    admin = discord.player(roles=[role])
    assert "not allowed" in embed_text(admin.command("coins-admin", {"role": role, "app_role": "NONE"}, sub="role"))


def test_admin_reason_is_required(discord) -> None:
    boss, target = discord.admin(), discord.player()
    modal = boss.command("coins-admin", {"user": target.user_id, "amount": 5}, sub="adjust")
    resp = boss.submit(modal.body["data"]["custom_id"], {"reason": "   "})
    assert "reason is required" in embed_text(resp)
    assert find_wallet(discord.economy.id, target.user_id) is None


# --- odd interactions ------------------------------------------------------------------------


def test_unknown_commands_buttons_and_dms_get_a_polite_ephemeral_answer(discord) -> None:
    alice = discord.player()
    for resp in (alice.command("nope"), alice.click("nope:nope"), alice.click("give:ok:not-a-number")):
        assert_ephemeral(resp)
        assert "not known" in embed_text(resp)
    dm = alice.payload(2, {"name": "daily", "type": 1})
    del dm["guild_id"]
    dm["user"] = dm.pop("member")["user"]
    resp = alice.send(dm)
    assert_ephemeral(resp)
    assert "inside a server" in embed_text(resp)


def test_a_new_guild_gets_its_own_economy_on_first_use(discord) -> None:
    from chalicelib.purchases.packs import list_packs
    from chalicelib.tenancy.guilds import find_guild

    stranger = discord.player()
    stranger.guild_id = snowflake()
    assert_ephemeral(stranger.command("daily"))
    guild = find_guild(stranger.guild_id)
    assert guild is not None and guild.economy == f"discord-{stranger.guild_id}"
    assert get_wallet(guild.economy, stranger.user_id).available == 10
    assert len(list_packs(guild.economy)) == 4
    assert find_wallet(discord.economy.id, stranger.user_id) is None  # economies never mix
